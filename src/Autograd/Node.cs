using System.Numerics;

namespace Engine.Autograd;

/// <summary>
/// One recorded op: it knows its inputs and output and how to send the output's gradient
/// back to the inputs. Subclass it (and call <see cref="Tape.Record{T}"/>) to add an op of
/// your own; <see cref="GradientCheck"/> will tell you whether its backward is right.
/// </summary>
public abstract class Node
{
    /// <summary>
    /// Adds this op's contribution to the gradient of every input that requires one, reading
    /// the output's gradient. Called once, after every consumer of the output has run.
    /// </summary>
    public abstract void Backward();

    internal abstract bool OutputHasGrad { get; }
    internal abstract void ReleaseOutputGrad();
}

/// <summary>A node whose inputs and output are variables of T.</summary>
public abstract class Node<T> : Node where T : unmanaged, IFloatingPointIeee754<T>
{
    public Variable<T> Output { get; internal set; } = null!;
    public Variable<T>[] Inputs { get; internal set; } = [];

    /// <summary>dLoss/dOutput.</summary>
    protected Tensors.Tensor<T> OutputGrad => Output.Grad!;

    internal override bool OutputHasGrad => Output.Grad != null;

    internal override void ReleaseOutputGrad()
    {
        if (Output.IsIntermediate && !Output.RetainsGrad) Output.ReleaseGrad();
    }
}
