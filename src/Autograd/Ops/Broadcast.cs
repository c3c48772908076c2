using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>
/// The broadcasting two-operand ops support: equal shapes, or one operand's shape equal to the
/// other's trailing dimensions (a bias [C] against [N,H,W,C], a scalar against anything).
/// The smaller operand then repeats along the larger one.
/// </summary>
readonly record struct Broadcast(bool LeftIsLarge, int Repeats, int SmallLength)
{
    public static Broadcast Resolve(Shape a, Shape b, string op)
    {
        if (a == b) return new(true, 1, a.Size);
        if (a.EndsWith(b) || b.Size == 1) return new(true, a.Size / Math.Max(1, b.Size), b.Size);
        if (b.EndsWith(a) || a.Size == 1) return new(false, b.Size / Math.Max(1, a.Size), a.Size);
        throw new ArgumentException($"{op}: shapes {a} and {b} do not broadcast (one must equal the other's trailing dimensions)");
    }

    public bool SameShape => Repeats == 1;
}

public static partial class Ops
{
    /// <summary>
    /// The forward pass shared by the broadcasting ops: y = f(large, small repeated), with
    /// <paramref name="whenLeftRepeats"/> used when the left operand is the repeating one.
    /// </summary>
    static Variable<T> BroadcastBinary<T>(Variable<T> a, Variable<T> b, string op, BinaryFunction f, BinaryFunction whenLeftRepeats,
        Func<Broadcast, Node<T>> node) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bc = Broadcast.Resolve(a.Shape, b.Shape, op);
        var (large, small) = bc.LeftIsLarge ? (a, b) : (b, a);
        var y = Tape.Output(Tensor<T>.Empty(large.Shape, large.Value.Device));
        large.Value.Backend.Binary(bc.LeftIsLarge ? f : whenLeftRepeats, large.Value, small.Value, y.Value);
        if (Tape.ShouldRecord(a, b)) Tape.Record(node(bc), y, a, b);
        return y;
    }
}
