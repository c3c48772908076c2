using System.Diagnostics;
using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>
/// Reverse-mode tape. While a tape is current (<c>using var tape = new Tape();</c>), every op
/// records a node; <see cref="Backward{T}(Variable{T}, Action{Variable{T}})"/> replays them in reverse and leaves
/// dLoss/dX in each leaf's Grad. The tape also owns the op outputs made under it: disposing
/// it returns their buffers to the pool, so a training step built as
/// <c>using (new Tape()) { forward; backward; }</c> reuses the same memory every step.
/// <see cref="Inference"/> makes a tape that records nothing but still owns outputs; with no
/// tape at all, outputs belong to the caller.
/// </summary>
public sealed class Tape : IDisposable
{
    [ThreadStatic] static Tape? _current;

    readonly Tape? _previous;
    readonly List<Node> _nodes = new();
    readonly List<IDisposable> _owned = new();
    readonly HashSet<object> _kept = new(ReferenceEqualityComparer.Instance);
    bool _disposed, _backwardDone;

    /// <summary>Starts a recording tape and makes it current on this thread.</summary>
    public Tape() : this(record: true) { }

    Tape(bool record)
    {
        IsRecording = record;
        _previous = _current;
        _current = this;
    }

    /// <summary>A tape that records no gradients (evaluation, prediction) but owns outputs.</summary>
    public static Tape Inference() => new(record: false);

    /// <summary>The innermost tape of this thread, or null.</summary>
    public static Tape? Current => _current;

    public bool IsRecording { get; }

    /// <summary>Number of recorded nodes.</summary>
    public int NodeCount => _nodes.Count;

    /// <summary>True when an op on these inputs must record a node.</summary>
    public static bool ShouldRecord<T>(params ReadOnlySpan<Variable<T>> inputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (_current is not { IsRecording: true }) return false;
        foreach (var v in inputs) if (v.RequiresGrad) return true;
        return false;
    }

    /// <summary>Wraps an op's result; the current tape (if any) takes ownership of its buffer.</summary>
    public static Variable<T> Output<T>(Tensor<T> value) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var v = new Variable<T>(value);
        if (_current != null)
        {
            v.IsIntermediate = true;
            v.Owner = _current;
            _current._owned.Add(v);
        }
        return v;
    }

    /// <summary>
    /// Records <paramref name="node"/> as the op that made <paramref name="output"/> from
    /// <paramref name="inputs"/>, when the current tape records and an input needs a gradient.
    /// </summary>
    public static void Record<T>(Node<T> node, Variable<T> output, params Variable<T>[] inputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!ShouldRecord<T>(inputs)) return;
        node.Output = output;
        node.Inputs = inputs;
        output.RequiresGrad = true;
        node.HoldValues();
        node.Scope = Profiler.Current?.Scope;
        _current!._nodes.Add(node);
    }

    /// <summary>
    /// Says the caller's forward pass will not read <paramref name="v"/> again: its buffer goes
    /// back to the pool as soon as no recorded backward needs it (at once if none does, else
    /// after the last such node's backward), so later ops of the same step reuse it. A model
    /// calls this for each layer output after its last consumer, which keeps a training step's
    /// memory to what backward reads, and an inference pass's to a few live activations.
    /// Variables this tape does not own, kept ones, and reshape views (and what they view)
    /// are left alone.
    /// </summary>
    public void ReleaseWhenUnneeded<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        v.ForwardDone = true;
        ReleaseIfUnneeded(v);
    }

    internal void ReleaseIfUnneeded<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (v.ForwardDone && v.PendingReaders == 0 && v.Owner == this && v.ViewOf == null && !v.HasViews && !_kept.Contains(v))
            v.Value.Dispose();
    }

    Delegate? _gradientComplete;

    internal void GradientComplete<T>(Variable<T> leaf) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (_gradientComplete is Action<Variable<T>> complete && leaf.Grad != null) complete(leaf);
    }

    /// <summary>
    /// Keeps an output's buffers alive when the tape is disposed (the caller then owns it). A
    /// reshape view keeps the variable whose storage it shares as well.
    /// </summary>
    public void Keep<T>(Variable<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (Variable<T>? u = v; u != null; u = u.ViewOf) _kept.Add(u);
    }

    /// <summary>
    /// Hands a buffer an op keeps for its backward pass (saved statistics, probabilities) to the
    /// current tape, so it returns to the pool with the step even if backward never runs.
    /// Returns false when there is no tape: the caller must dispose it.
    /// </summary>
    public static bool Adopt(IDisposable buffer)
    {
        if (_current == null) return false;
        _current._owned.Add(buffer);
        return true;
    }

    /// <summary>
    /// Back-propagates from a scalar loss (dLoss/dLoss = 1). <paramref name="gradientComplete"/>,
    /// when given, is called on each leaf (a parameter) as soon as its gradient is final: every
    /// recorded node that reads it has run its backward, so no later node reads its value
    /// either. An optimizer can update the parameter and release its gradient there (see
    /// Optimizer.Minimize), so the step never holds every parameter's gradient at once.
    /// </summary>
    public void Backward<T>(Variable<T> loss, Action<Variable<T>>? gradientComplete = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (loss.Value.Length != 1) throw new ArgumentException($"Backward(loss) needs a scalar; got shape {loss.Shape}. Pass a seed gradient for other outputs.");
        using var seed = Tensor<T>.Ones(loss.Shape, loss.Value.Device);
        Backward(loss, seed, gradientComplete);
    }

    /// <summary>
    /// Back-propagates from any output, given dLoss/dOutput (<paramref name="seed"/>, same
    /// shape). Gradients of intermediates are released as soon as they are spent, and values
    /// the forward pass gave up (<see cref="ReleaseWhenUnneeded{T}"/>) once the last backward
    /// that reads them has run. <paramref name="gradientComplete"/>: as in <see cref="Backward{T}(Variable{T}, Action{Variable{T}})"/>.
    /// </summary>
    public void Backward<T>(Variable<T> output, Tensor<T> seed, Action<Variable<T>>? gradientComplete = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsRecording) throw new InvalidOperationException("this tape is in inference mode and recorded nothing");
        if (_backwardDone) throw new InvalidOperationException("Backward already ran on this tape; record the forward pass again");
        if (seed.Shape != output.Shape) throw new ArgumentException($"seed shape {seed.Shape} differs from output shape {output.Shape}");
        if (!output.RequiresGrad) throw new InvalidOperationException("the output does not depend on anything that requires a gradient");
        _backwardDone = true;
        // An intermediate whose gradient is released after its node's backward can read the
        // seed in place; anything else keeps a gradient of its own, so it gets a copy.
        if (output.Grad == null && output.IsIntermediate && !output.RetainsGrad && seed.Device == output.Value.Device) output.BorrowGrad(seed);
        else
        {
            var grad = output.GradForWrite(out bool accumulate);
            if (accumulate) grad.Backend.Axpy(T.One, seed, grad);
            else grad.Backend.Copy(seed, grad);
        }
        foreach (var node in _nodes) node.CountLeafUses(reset: true);
        foreach (var node in _nodes) node.CountLeafUses(reset: false);
        _gradientComplete = gradientComplete;
        var profiler = Profiler.Current;
        try
        {
            for (int i = _nodes.Count - 1; i >= 0; i--)
            {
                var node = _nodes[i];
                long start = profiler == null ? 0 : Stopwatch.GetTimestamp();
                if (node.OutputHasGrad)
                {
                    node.Backward();
                    node.ReleaseOutputGrad();
                }
                long backwardDone = profiler == null ? 0 : Stopwatch.GetTimestamp();
                profiler?.AddBackward(node.Scope, backwardDone - start);
                // Parameters this node completed are updated here (Optimizer.Minimize).
                node.DoneWithValues(this);
                profiler?.AddUpdate(Stopwatch.GetTimestamp() - backwardDone);
            }
        }
        finally { _gradientComplete = null; }
        // Not made on this tape, so no node here released it: the variable keeps a copy.
        if (output.GradIsBorrowed) output.OwnGrad();
    }

    /// <summary>Returns the buffers of every output made under this tape (except kept ones) to the pool.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var o in _owned) if (!_kept.Contains(o)) o.Dispose();
        _owned.Clear();
        _nodes.Clear();
        // Tapes disposed out of order: never leave a disposed tape current.
        if (_current == this)
        {
            _current = _previous;
            while (_current is { _disposed: true }) _current = _current._previous;
        }
    }
}
