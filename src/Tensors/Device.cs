using System.Numerics;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>
/// Where a tensor's elements live and which backend computes on them. The CPU is the only
/// device so far; a GPU device supplies its own storage and backend, and layer code, which
/// only ever calls the backend through ops, does not change.
/// </summary>
public abstract class Device
{
    public static Device Cpu => CpuDevice.Instance;
    public abstract string Name { get; }
    public abstract IBackend Backend { get; }
    /// <summary>Storage for <paramref name="length"/> elements, contents unspecified.</summary>
    public abstract TensorStorage<T> Allocate<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>;
    public override string ToString() => Name;
}

/// <summary>A tensor's elements: owned by one device, returned to its pool when disposed.</summary>
public abstract class TensorStorage<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    public abstract Device Device { get; }
    public abstract int Length { get; }
    /// <summary>The elements in host memory; a device storage throws (copy to the host first).</summary>
    public abstract Span<T> HostSpan { get; }
    public abstract bool IsDisposed { get; }
    public abstract void Dispose();
}

sealed class CpuDevice : Device
{
    public static readonly CpuDevice Instance = new();
    public override string Name => "cpu";
    public override IBackend Backend => CpuBackend.Instance;
    public override TensorStorage<T> Allocate<T>(int length) => new CpuStorage<T>(length);
}

/// <summary>A pinned array drawn from <see cref="TensorPool{T}.Shared"/>, used from its first cache-line boundary.</summary>
public sealed class CpuStorage<T> : TensorStorage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    T[]? _array;
    readonly int _length, _offset;

    public CpuStorage(int length)
    {
        _length = length;
        _array = TensorPool<T>.Shared.Rent(length);
        _offset = CacheLine.AlignedOffset(_array);
    }

    public override Device Device => Device.Cpu;
    public override int Length => _length;
    public override bool IsDisposed => _array == null;
    public override Span<T> HostSpan => (_array ?? throw new ObjectDisposedException("tensor storage", "this tensor's buffer was returned to the pool")).AsSpan(_offset, _length);

    public override void Dispose()
    {
        var a = Interlocked.Exchange(ref _array, null);
        if (a != null) TensorPool<T>.Shared.Return(a);
    }
}
