using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>
/// A tensor as the tape sees it: a value, and a gradient filled in by <see cref="Tape.Backward{T}(Variable{T}, Action{Variable{T}})"/>.
/// Leaves are made by the user (inputs, parameters); every op returns a new variable.
/// </summary>
public sealed class Variable<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    public Variable(Tensor<T> value, bool requiresGrad = false, string? name = null)
    {
        Value = value;
        RequiresGrad = requiresGrad;
        Name = name;
    }

    public Tensor<T> Value { get; }
    /// <summary>dLoss/dValue after a backward pass; null until one reaches this variable.</summary>
    public Tensor<T>? Grad { get; private set; }
    public bool RequiresGrad { get; internal set; }
    public string? Name { get; set; }
    public Shape Shape => Value.Shape;
    /// <summary>True for variables made by an op on a tape (not by the user).</summary>
    public bool IsIntermediate { get; internal set; }
    /// <summary>The variable whose storage this one's value shares (a reshape view), if any.</summary>
    public Variable<T>? ViewOf { get; internal set; }
    /// <summary>Keep this intermediate's gradient after backward (leaves always keep theirs).</summary>
    public bool RetainsGrad { get; set; }

    /// <summary>The tape that owns this intermediate's buffer (null for leaves and outputs made with no tape).</summary>
    internal Tape? Owner { get; set; }
    /// <summary>True once a reshape view shares this value's storage: then it is never released early.</summary>
    internal bool HasViews { get; set; }
    /// <summary>Recorded nodes whose backward has yet to read this value.</summary>
    internal int PendingReaders { get; set; }
    /// <summary>The forward pass has said it will not read this value again (<see cref="Tape.ReleaseWhenUnneeded{T}"/>).</summary>
    internal bool ForwardDone { get; set; }
    /// <summary>For a leaf during a backward pass: recorded nodes that have yet to add to its gradient.</summary>
    internal int PendingContributions { get; set; }

    /// <summary>The gradient buffer, created as zeros on first use: backward rules add into it.</summary>
    public Tensor<T> EnsureGrad() => Grad ??= Tensor<T>.Zeros(Value.Shape, Value.Device);

    /// <summary>
    /// Where a backward rule puts its contribution to this gradient. The first rule to reach it
    /// gets a fresh, uninitialised buffer that it must overwrite entirely
    /// (<paramref name="accumulate"/> false); later ones add into it. Most activations in a
    /// network feed one op only, so their gradients are written once instead of being zeroed,
    /// then read back and added to.
    /// </summary>
    public Tensor<T> GradForWrite(out bool accumulate)
    {
        accumulate = Grad != null;
        return Grad ??= Tensor<T>.Empty(Value.Shape, Value.Device);
    }

    /// <summary>
    /// Uses the caller's tensor as this intermediate's gradient without copying it (a backward
    /// pass seeded from a large output reads the seed and never writes it). Released by
    /// forgetting it, not by returning it to the pool: it stays the caller's.
    /// </summary>
    internal void BorrowGrad(Tensor<T> seed)
    {
        if (Grad != null) throw new InvalidOperationException("this variable already has a gradient");
        Grad = seed;
        _gradBorrowed = true;
    }

    bool _gradBorrowed;

    internal bool GradIsBorrowed => _gradBorrowed;

    /// <summary>Replaces a borrowed gradient by a copy in a buffer of this variable's own.</summary>
    internal void OwnGrad()
    {
        var borrowed = Grad!;
        Grad = Tensor<T>.Empty(Value.Shape, Value.Device);
        Grad.Backend.Copy(borrowed, Grad);
        _gradBorrowed = false;
    }

    /// <summary>Sets the gradient to zero, keeping its buffer.</summary>
    public void ZeroGrad()
    {
        if (Grad != null) Grad.Backend.Fill(Grad, T.Zero);
    }

    /// <summary>Returns the gradient's buffer to the pool.</summary>
    public void ReleaseGrad()
    {
        if (!_gradBorrowed) Grad?.Dispose();
        Grad = null;
        _gradBorrowed = false;
    }

    public void Dispose()
    {
        ReleaseGrad();
        Value.Dispose();
    }

    public static Variable<T> operator +(Variable<T> a, Variable<T> b) => Ops.Add(a, b);
    public static Variable<T> operator -(Variable<T> a, Variable<T> b) => Ops.Subtract(a, b);
    public static Variable<T> operator *(Variable<T> a, Variable<T> b) => Ops.Multiply(a, b);

    public override string ToString() => $"Variable {Name ?? ""}{(RequiresGrad ? " (requires grad)" : "")}: {Value}";
}
