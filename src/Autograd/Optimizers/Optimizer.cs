using System.Numerics;
using Engine.Tensors;

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
        _index = new Dictionary<Variable<T>, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < Parameters.Count; i++) _index.TryAdd(Parameters[i], i);
        _updateAndRelease = UpdateAndRelease;
    }

    readonly Dictionary<Variable<T>, int> _index;
    readonly Action<Variable<T>> _updateAndRelease;

    public IReadOnlyList<Variable<T>> Parameters { get; }

    /// <summary>Number of updates applied so far (Keras' `iterations`); set when training resumes from a checkpoint.</summary>
    public long Iterations { get; set; }

    /// <summary>Applies one update from the current gradients (parameters without one are left alone).</summary>
    public void Step()
    {
        BeginStep();
        for (int i = 0; i < Parameters.Count; i++)
            if (Parameters[i].Grad != null) Update(i);
    }

    /// <summary>
    /// Back-propagates <paramref name="loss"/> on <paramref name="tape"/> and applies this
    /// step's update to each parameter the moment its gradient is final, then releases that
    /// gradient. The result is <see cref="Step"/> after <see cref="Tape.Backward{T}(Variable{T}, Action{Variable{T}})"/>
    /// exactly (a parameter is updated only once no backward left reads it), but the gradients
    /// are never all alive together: a network's weight gradients, as large as its weights,
    /// stop counting towards its peak memory. Parameters the loss does not reach are left
    /// alone, and no parameter keeps a gradient afterwards.
    /// </summary>
    public void Minimize(Tape tape, Variable<T> loss)
    {
        BeginStep();
        tape.Backward(loss, _updateAndRelease);
    }

    void UpdateAndRelease(Variable<T> parameter)
    {
        if (!_index.TryGetValue(parameter, out int i)) return;
        Update(i);
        parameter.ReleaseGrad();
    }

    /// <summary>Starts an update: counts the iteration and sets what every parameter's update shares.</summary>
    protected abstract void BeginStep();

    /// <summary>Updates parameter <paramref name="index"/> from its gradient (not null).</summary>
    protected abstract void Update(int index);

    /// <summary>The tensors the optimizer keeps between steps (moments, velocities).</summary>
    protected virtual IEnumerable<Tensor<T>> State => [];

    /// <summary>
    /// The state tensors in a fixed order (Adam: every parameter's first moment, then every
    /// second moment; SGD with momentum: the velocities), for saving and restoring a checkpoint.
    /// With <see cref="Iterations"/> they are everything the next update depends on.
    /// </summary>
    public IReadOnlyList<Tensor<T>> StateTensors => State.ToArray();

    /// <summary>Moves the optimizer's state to <paramref name="device"/> in place (where the parameters went).</summary>
    public void MoveTo(Device device)
    {
        foreach (var t in State) t.MoveTo(device);
    }

    /// <summary>Zeroes every parameter's gradient, keeping the buffers for the next step.</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters) p.ZeroGrad();
    }
}
