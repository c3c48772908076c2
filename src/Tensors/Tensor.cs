using System.Globalization;
using System.Numerics;
using System.Text;

namespace Engine.Tensors;

/// <summary>
/// A dense, contiguous, row-major array of T with a shape: float for training, double for
/// reference runs and gradient checks (the same code serves both). Storage comes from the
/// device's pool; <see cref="Dispose"/> gives it back. A <see cref="Reshape"/> view shares
/// its owner's storage and must not outlive it.
/// </summary>
public sealed class Tensor<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly bool _ownsStorage;

    public Shape Shape { get; }
    public TensorStorage<T> Storage { get; private set; }
    public Device Device => Storage.Device;
    public IBackend Backend => Storage.Device.Backend;
    /// <summary>Number of elements.</summary>
    public int Length { get; }
    public int Rank => Shape.Rank;

    Tensor(Shape shape, TensorStorage<T> storage, bool ownsStorage)
    {
        if (storage.Length < shape.Size) throw new ArgumentException($"storage of {storage.Length} elements cannot hold shape {shape}");
        Shape = shape;
        Length = shape.Size;
        Storage = storage;
        _ownsStorage = ownsStorage;
    }

    /// <summary>A tensor with unspecified contents (fast: no clearing).</summary>
    public static Tensor<T> Empty(Shape shape, Device? device = null)
        => new(shape, (device ?? Device.Cpu).Allocate<T>(shape.Size), ownsStorage: true);

    public static Tensor<T> Zeros(Shape shape, Device? device = null) => Full(shape, T.Zero, device);
    public static Tensor<T> Ones(Shape shape, Device? device = null) => Full(shape, T.One, device);

    public static Tensor<T> Full(Shape shape, T value, Device? device = null)
    {
        var t = Empty(shape, device);
        t.Backend.Fill(t, value);
        return t;
    }

    public static Tensor<T> Scalar(T value, Device? device = null) => Full(Shape.Scalar, value, device);

    /// <summary>Copies <paramref name="data"/> (row-major) into a new tensor of the given shape.</summary>
    public static Tensor<T> FromArray(ReadOnlySpan<T> data, Shape shape, Device? device = null)
    {
        if (data.Length != shape.Size) throw new ArgumentException($"{data.Length} values do not fill shape {shape}");
        var t = Empty(shape, device);
        t.Storage.CopyFromHost(data);
        return t;
    }

    /// <summary>The elements in host memory, row-major (CPU tensors only: see <see cref="ToArray"/>).</summary>
    public Span<T> Span => Storage.HostSpan[..Length];

    /// <summary>
    /// The elements for reading on the host: a CPU tensor's own storage (no copy), or a copy
    /// from any other device (after the work queued on them).
    /// </summary>
    public ReadOnlySpan<T> HostValues => Device == Device.Cpu ? Span : ToArray();

    /// <summary>
    /// Rows <paramref name="rows"/> of axis 0 (samples), in that order, as a new host tensor
    /// [rows.Length, ...]: a mini-batch. Reads this tensor on the host.
    /// </summary>
    public Tensor<T> GatherRows(ReadOnlySpan<int> rows)
    {
        if (Rank == 0) throw new InvalidOperationException("a scalar has no rows to gather");
        int count = Shape[0], width = count == 0 ? 0 : Length / count;
        var dims = Shape.ToArray();
        dims[0] = rows.Length;
        var t = Empty(new Shape(dims));
        var source = HostValues;
        var destination = t.Span;
        for (int i = 0; i < rows.Length; i++)
        {
            if ((uint)rows[i] >= (uint)count) throw new IndexOutOfRangeException($"row {rows[i]} of a tensor of {count} rows");
            source.Slice(rows[i] * width, width).CopyTo(destination.Slice(i * width, width));
        }
        return t;
    }

    /// <summary>A copy of this tensor on <paramref name="device"/> (a plain copy when it is already there).</summary>
    public Tensor<T> To(Device device)
    {
        if (device == Device) return Clone();
        var t = Empty(Shape, device);
        if (Device == Device.Cpu) t.Storage.CopyFromHost(Span);
        else if (device == Device.Cpu) Storage.CopyToHost(t.Span);
        else t.Storage.CopyFromHost(ToArray());
        return t;
    }

    /// <summary>
    /// Moves the elements to <paramref name="device"/> in place: the tensor object stays (layers,
    /// variables and optimizers keep their references) and its old storage is released. Only a
    /// tensor that owns its storage can move; views of it must not exist.
    /// </summary>
    public void MoveTo(Device device)
    {
        if (device == Device) return;
        if (!_ownsStorage) throw new InvalidOperationException("a reshape view cannot move: move the tensor that owns the storage");
        using var moved = To(device);
        var old = Storage;
        Storage = moved.Storage;
        moved.Storage = old;
    }

    public bool IsDisposed => Storage.IsDisposed;

    /// <summary>The same elements under another shape of equal size; shares storage, no copy.</summary>
    public Tensor<T> Reshape(Shape shape)
    {
        if (shape.Size != Length) throw new ArgumentException($"cannot reshape {Shape} ({Length} elements) to {shape} ({shape.Size})");
        return new Tensor<T>(shape, Storage, ownsStorage: false);
    }

    /// <summary>Element access by full index (for tests and inspection, not for kernels).</summary>
    public T this[params int[] index]
    {
        get => Span[Offset(index)];
        set => Span[Offset(index)] = value;
    }

    int Offset(int[] index)
    {
        if (index.Length != Rank) throw new ArgumentException($"index of rank {index.Length} for a tensor of shape {Shape}");
        int offset = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"index {index[i]} on axis {i} of shape {Shape}");
            offset = offset * Shape[i] + index[i];
        }
        return offset;
    }

    /// <summary>The elements copied to a new host array (from any device, after the work queued on them).</summary>
    public T[] ToArray()
    {
        var a = new T[Length];
        Storage.CopyToHost(a);
        return a;
    }

    /// <summary>A new tensor with the same shape and elements.</summary>
    public Tensor<T> Clone()
    {
        var t = Empty(Shape, Device);
        Backend.Copy(this, t);
        return t;
    }

    /// <summary>The same values in another element type, on the host (float to double for reference runs).</summary>
    public Tensor<TOut> Convert<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var t = Tensor<TOut>.Empty(Shape);
        var src = HostValues;
        var dst = t.Span;
        for (int i = 0; i < src.Length; i++) dst[i] = TOut.CreateChecked(src[i]);
        return t;
    }

    public void Dispose()
    {
        if (_ownsStorage) Storage.Dispose();
    }

    /// <summary>
    /// NumPy-style text: nested brackets, at most 6 entries per axis (first and last 3 around
    /// "..."), preceded by shape and type: <c>Tensor&lt;Single&gt; (2, 3)</c>.
    /// </summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor<").Append(typeof(T).Name).Append("> ").Append(Shape).Append(' ');
        if (IsDisposed) return sb.Append("<disposed>").ToString();
        if (Device != Device.Cpu) sb.Append("on ").Append(Device.Name).Append(' ');
        var values = HostValues;
        if (Rank == 0) return sb.Append(Format(values[0])).ToString();
        sb.Append('\n');
        Append(sb, values, 0, 0, 0);
        return sb.ToString();
    }

    void Append(StringBuilder sb, ReadOnlySpan<T> values, int axis, int offset, int indent)
    {
        int n = Shape[axis];
        int stride = Shape.SizeOf(axis + 1, Rank);
        sb.Append('[');
        for (int i = 0; i < n; i++)
        {
            if (n > 6 && i == 3)
            {
                sb.Append(axis == Rank - 1 ? "..., " : "...,\n" + new string(' ', indent + 1));
                i = n - 3;
            }
            if (axis == Rank - 1) sb.Append(Format(values[offset + i]));
            else Append(sb, values, axis + 1, offset + i * stride, indent + 1);
            if (i < n - 1) sb.Append(axis == Rank - 1 ? ", " : ",\n" + new string(' ', indent + 1));
        }
        sb.Append(']');
    }

    static string Format(T v) => double.CreateChecked(v).ToString("G6", CultureInfo.InvariantCulture);
}
