using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using Engine.Kernels.Cuda;

namespace Engine.Tensors;

/// <summary>
/// An NVIDIA GPU, driven through the CUDA driver API with kernels compiled at run time by
/// NVRTC. Tensors on it stay in device memory between ops; work is queued in order on one
/// stream and only copies to the host wait for it.
/// </summary>
public sealed class CudaDevice : Device
{
    static readonly Lazy<(CudaDevice? Device, string Reason)> s_default = new(() =>
        CudaContext.TryGetDefault(out var context, out var reason) ? (new CudaDevice(context), "") : (null, reason));

    readonly CudaBackend _backend;

    CudaDevice(CudaContext context)
    {
        Context = context;
        _backend = new CudaBackend(this);
    }

    /// <summary>The first GPU, or false with the reason there is none (no driver, no device, no NVRTC).</summary>
    public static bool TryGetDefault([NotNullWhen(true)] out CudaDevice? device, out string reason)
    {
        (device, reason) = s_default.Value;
        return device != null;
    }

    /// <summary>The first GPU; throws, saying why, where there is none.</summary>
    public static CudaDevice Default => TryGetDefault(out var d, out var reason) ? d : throw new InvalidOperationException($"no CUDA device: {reason}");

    /// <summary>The driver context: the GPU's name and size, kernels, memory, copies.</summary>
    public CudaContext Context { get; }
    /// <inheritdoc/>
    public override string Name => "cuda";
    /// <inheritdoc/>
    public override IBackend Backend => _backend;
    /// <inheritdoc/>
    public override TensorStorage<T> Allocate<T>(int length) => new CudaStorage<T>(this, length);

    /// <summary>Waits for all queued work (for timing: launches return before the GPU is done).</summary>
    public void Synchronize() => Context.Synchronize();
}

/// <summary>
/// A block of device memory from the context's caching allocator. Disposing it gives the block
/// back for reuse; later kernels that reuse it are queued after the ones that used it, so no
/// waiting is needed.
/// </summary>
public sealed class CudaStorage<T> : TensorStorage<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly CudaDevice _device;
    readonly int _length;
    int _disposed;

    internal CudaStorage(CudaDevice device, int length)
    {
        _device = device;
        _length = length;
        // One element at least, so every tensor has a distinct, valid address.
        Address = device.Context.Allocate((long)Math.Max(length, 1) * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
    }

    /// <summary>The device address of element 0.</summary>
    public ulong Address { get; }
    /// <inheritdoc/>
    public override Device Device => _device;
    /// <inheritdoc/>
    public override int Length => _length;
    /// <inheritdoc/>
    public override bool IsDisposed => Volatile.Read(ref _disposed) != 0;
    /// <summary>Throws: the elements are in device memory (see <see cref="CopyToHost"/>).</summary>
    public override Span<T> HostSpan => throw new InvalidOperationException(
        "this tensor lives on the GPU: copy it to the host first (ToArray, or To(Device.Cpu))");

    /// <inheritdoc/>
    public override void CopyFromHost(ReadOnlySpan<T> source)
    {
        if (source.Length > _length) throw new ArgumentException($"{source.Length} values do not fit a storage of {_length}");
        ThrowIfDisposed();
        _device.Context.CopyToDevice(source, Address);
    }

    /// <inheritdoc/>
    public override void CopyToHost(Span<T> destination)
    {
        if (destination.Length > _length) throw new ArgumentException($"a storage of {_length} cannot fill {destination.Length} values");
        ThrowIfDisposed();
        _device.Context.CopyToHost(Address, destination);
    }

    void ThrowIfDisposed()
    {
        if (IsDisposed) throw new ObjectDisposedException("tensor storage", "this tensor's device memory was given back");
    }

    /// <summary>Gives the block back to the allocator's cache.</summary>
    public override void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _device.Context.Free(Address);
        GC.SuppressFinalize(this);
    }

    ~CudaStorage()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _device.Context.Free(Address);
    }
}
