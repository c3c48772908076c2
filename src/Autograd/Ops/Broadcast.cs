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
