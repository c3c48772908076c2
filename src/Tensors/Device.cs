using System.Numerics;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>
/// Where a tensor's elements live and which backend computes on them: the CPU, or an NVIDIA
/// GPU (<c>CudaDevice</c>), which supplies its own storage and backend; layer code, which
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
    /// <summary>Copies host values into the first <c>source.Length</c> elements (waits until they are taken).</summary>
    public abstract void CopyFromHost(ReadOnlySpan<T> source);
    /// <summary>Copies the first <c>destination.Length</c> elements to host memory, after the work queued on them.</summary>
    public abstract void CopyToHost(Span<T> destination);
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

/// <summary>
/// A block of <see cref="TensorPool{T}.Shared"/>'s pinned memory, starting on a cache line.
/// Disposing it returns the block; a storage dropped without disposing returns it when
/// collected, as a pooled array's memory would have been reclaimed.
/// </summary>
public sealed class CpuStorage<T> : TensorStorage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly TensorPool<T>.Block _block;
    readonly int _length;
    int _disposed;

    public CpuStorage(int length)
    {
        _length = length;
        _block = TensorPool<T>.Shared.Rent(length);
    }

    public override Device Device => Device.Cpu;
    public override int Length => _length;
    public override bool IsDisposed => Volatile.Read(ref _disposed) != 0;
    public override Span<T> HostSpan => IsDisposed
        ? throw new ObjectDisposedException("tensor storage", "this tensor's buffer was returned to the pool")
        : _block.Span(_length);

    public override void CopyFromHost(ReadOnlySpan<T> source) => source.CopyTo(HostSpan);
    public override void CopyToHost(Span<T> destination) => HostSpan[..destination.Length].CopyTo(destination);

    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        TensorPool<T>.Shared.Return(_block);
        GC.SuppressFinalize(this);
    }

    ~CpuStorage()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) TensorPool<T>.Shared.Return(_block);
    }
}
