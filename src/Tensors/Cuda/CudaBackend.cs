using System.Collections.Concurrent;
using System.Numerics;
using Engine.Kernels.Cuda;

namespace Engine.Tensors;

/// <summary>
/// The backend on an NVIDIA GPU: every method queues kernels of src/Kernels/Cuda/Kernels on the
/// device's stream and returns; nothing is copied to the host or waited for. The methods live in
/// partial files by area (element-wise, reductions, convolution, batch norm, pooling, optimizers)
/// with the semantics of <see cref="CpuBackend"/>.
/// </summary>
public sealed partial class CudaBackend : IBackend
{
    const int ThreadsPerBlock = 256;
    readonly ConcurrentDictionary<(string Source, string Kernel, Type Element), CudaFunction> _functions = new();
    readonly uint _maxElementBlocks;

    internal CudaBackend(CudaDevice device)
    {
        Device = device;
        // Grid-stride loops cover any length; more blocks than the SMs can hold at once only add scheduling.
        _maxElementBlocks = (uint)Math.Max(1, device.Context.MultiprocessorCount * 16);
    }

    internal CudaDevice Device { get; }
    internal CudaContext Context => Device.Context;

    /// <summary>Launches <paramref name="kernel"/>_f32 or _f64 (by T) from the embedded source <paramref name="source"/>.</summary>
    void Launch<T>(string source, string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0) return;
        var function = _functions.GetOrAdd((source, kernel, typeof(T)),
            static (key, context) => context.GetFunction(key.Source, $"{key.Kernel}_{Suffix(key.Element)}"), Context);
        Context.Launch(function, grid, block, sharedBytes, args);
    }

    /// <summary>One thread per element, <see cref="ThreadsPerBlock"/> to a block; the kernel loops over the grid's stride.</summary>
    void LaunchElements<T>(string source, string kernel, int elements, params ReadOnlySpan<KernelArg> args)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (elements <= 0) return;
        uint blocks = (uint)Math.Min((elements + (long)ThreadsPerBlock - 1) / ThreadsPerBlock, _maxElementBlocks);
        Launch<T>(source, kernel, new Dim3(blocks), new Dim3(ThreadsPerBlock), 0, args);
    }

    static string Suffix(Type element) =>
        element == typeof(float) ? "f32" : element == typeof(double) ? "f64"
        : throw new NotSupportedException($"the CUDA kernels are compiled for float and double, not {element.Name}");

    /// <summary>The device address of the tensor's first element.</summary>
    static ulong Ptr<T>(Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t.Storage is not CudaStorage<T> s)
            throw new ArgumentException($"a tensor on {t.Device.Name} was passed to the CUDA backend: move it first (Tensor.To / Model.To)");
        // A disposed block may already belong to another tensor: using it would corrupt that one silently.
        if (s.IsDisposed) throw new ObjectDisposedException("tensor storage", "this tensor's device memory was given back");
        return s.Address;
    }

    /// <summary>0 for an absent tensor: kernels test the pointer.</summary>
    static ulong PtrOrZero<T>(Tensor<T>? t) where T : unmanaged, IFloatingPointIeee754<T> => t == null ? 0UL : Ptr(t);

    /// <summary>A T passed by value.</summary>
    static KernelArg Scalar<T>(T value) where T : unmanaged, IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) ? (KernelArg)float.CreateTruncating(value) : (KernelArg)double.CreateTruncating(value);

    /// <summary>
    /// Temporary device memory for one method's kernels. Dispose it once they are queued: the
    /// allocator may hand the block to a later kernel, which the stream runs after these.
    /// </summary>
    Tensor<T> Scratch<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
        => Tensor<T>.Empty(new Shape(Math.Max(length, 1)), Device);
}
