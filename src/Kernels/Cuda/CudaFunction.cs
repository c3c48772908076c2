namespace Engine.Kernels.Cuda;

/// <summary>
/// A kernel loaded in a <see cref="CudaContext"/> (a CUfunction), ready for
/// <see cref="CudaContext.Launch"/>. Valid while its context lives.
/// </summary>
public sealed class CudaFunction
{
    /// <summary>The dynamic shared memory CUDA allows a kernel without asking (48 KB).</summary>
    const int DefaultSharedLimit = 48 * 1024;

    int _sharedLimit = DefaultSharedLimit;

    internal CudaFunction(nint handle, string name, string sourceName)
    {
        Handle = handle;
        Name = name;
        SourceName = sourceName;
    }

    internal nint Handle { get; }

    /// <summary>The kernel's extern "C" name, e.g. "axpb_f32".</summary>
    public string Name { get; }

    /// <summary>The source it was compiled from, e.g. "selfcheck.cu".</summary>
    public string SourceName { get; }

    /// <summary>
    /// Raises the kernel's dynamic shared memory limit when a launch asks for more than the
    /// default 48 KB (GPUs since Volta have more, but each kernel must opt in).
    /// </summary>
    internal void AllowSharedBytes(int bytes)
    {
        if (bytes <= Volatile.Read(ref _sharedLimit)) return;
        CudaDriver.Check(CudaDriver.cuFuncSetAttribute(Handle, CudaDriver.FunctionMaxDynamicShared, bytes),
            $"cuFuncSetAttribute(max dynamic shared memory {bytes} bytes) for {Name}");
        Volatile.Write(ref _sharedLimit, bytes);
    }

    public override string ToString() => $"{SourceName}:{Name}";
}
