namespace Engine.Kernels.Cuda;

/// <summary>
/// A failed CUDA driver or NVRTC call. The message names the call and the result; a failed
/// compilation's message also holds the compiler's full log.
/// </summary>
public sealed class CudaException : Exception
{
    /// <summary>A failure no API result names (a kernel missing from a module, a bad argument).</summary>
    public CudaException(string message) : base(message) { }

    /// <summary>A driver or NVRTC call that returned <paramref name="errorCode"/> (<paramref name="errorName"/>).</summary>
    public CudaException(string message, string errorName, int errorCode) : base(message)
    {
        ErrorName = errorName;
        ErrorCode = errorCode;
    }

    /// <summary>The CUresult or nvrtcResult name ("CUDA_ERROR_OUT_OF_MEMORY", "NVRTC_ERROR_COMPILATION"); null when no API call failed.</summary>
    public string? ErrorName { get; }

    /// <summary>The numeric CUresult or nvrtcResult; 0 when no API call failed.</summary>
    public int ErrorCode { get; }
}
