namespace Engine.Tensors;

/// <summary>
/// Immutable tensor shape, outermost dimension first. Images are NHWC (Keras
/// channels_last): [batch, height, width, channels]; conv kernels are HWIO.
/// </summary>
public readonly struct Shape : IEquatable<Shape>
{
    readonly int[]? _dims;

    public Shape(params int[] dims)
    {
        foreach (int d in dims)
            if (d < 0) throw new ArgumentException($"negative dimension in {Format(dims)}");
        _dims = (int[])dims.Clone();
        long size = 1;
        foreach (int d in dims) size *= d;
        if (size > int.MaxValue) throw new ArgumentException($"shape {Format(dims)} has more than 2^31 elements");
    }

    public static Shape Scalar => new(Array.Empty<int>());

    public int Rank => _dims?.Length ?? 0;
    public int this[int axis] => Dims[axis < 0 ? axis + Rank : axis];
    public ReadOnlySpan<int> Dims => _dims ?? Array.Empty<int>();

    /// <summary>Number of elements (1 for a scalar).</summary>
    public int Size
    {
        get
        {
            int size = 1;
            foreach (int d in Dims) size *= d;
            return size;
        }
    }

    /// <summary>Product of the dimensions in [start, end).</summary>
    public int SizeOf(int start, int end)
    {
        int size = 1;
        for (int i = start; i < end; i++) size *= Dims[i];
        return size;
    }

    /// <summary>True when <paramref name="other"/> equals this shape's trailing dimensions.</summary>
    public bool EndsWith(Shape other)
    {
        if (other.Rank > Rank) return false;
        return Dims[(Rank - other.Rank)..].SequenceEqual(other.Dims);
    }

    public int[] ToArray() => Dims.ToArray();
    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in Dims) h.Add(d);
        return h.ToHashCode();
    }
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);
    public static implicit operator Shape(int[] dims) => new(dims);

    /// <summary>Python tuple notation, as Keras prints shapes: (32, 64, 64, 3).</summary>
    public override string ToString() => Format(Dims);

    static string Format(ReadOnlySpan<int> dims) =>
        dims.Length == 1 ? $"({dims[0]},)" : "(" + string.Join(", ", dims.ToArray()) + ")";
}
