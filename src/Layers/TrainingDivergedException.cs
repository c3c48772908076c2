namespace Engine.Layers;

/// <summary>
/// Training met a loss or weight that is NaN or infinite and stopped: <see cref="Model{T}.Fit"/>
/// throws it before that step's update and before the epoch's end is reported, so no callback
/// (a checkpoint) ever sees broken weights. The message names the epoch, the step within it and,
/// where weights went bad, the first layer that holds them (the one whose gradient blew up at an
/// earlier step, or whose weights were broken before training).
/// </summary>
public sealed class TrainingDivergedException(string message, int epoch, int step, string? layer) : Exception(message)
{
    /// <summary>The epoch (from 1) the bad value appeared in.</summary>
    public int Epoch { get; } = epoch;
    /// <summary>The step (batch, from 1) within the epoch.</summary>
    public int Step { get; } = step;
    /// <summary>The first layer, in the model's order, with a weight that is not finite; null when every weight is finite.</summary>
    public string? Layer { get; } = layer;
}
