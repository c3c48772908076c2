using System.Numerics;

namespace Engine.Autograd.Optimizers;

/// <summary>
/// Updates a fixed list of parameters from their gradients. State is allocated once, when
/// the optimizer is made, and updated in place every step.
/// </summary>
public abstract class Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    protected Optimizer(IEnumerable<Variable<T>> parameters)
    {
        Parameters = parameters.ToArray();
        foreach (var p in Parameters)
            if (!p.RequiresGrad) throw new ArgumentException($"parameter {p.Name ?? "?"} does not require a gradient");
    }

    public IReadOnlyList<Variable<T>> Parameters { get; }

    /// <summary>Number of updates applied so far (Keras' `iterations`).</summary>
    public long Iterations { get; protected set; }

    /// <summary>Applies one update from the current gradients (parameters without one are left alone).</summary>
    public abstract void Step();

    /// <summary>Zeroes every parameter's gradient, keeping the buffers for the next step.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }
}
