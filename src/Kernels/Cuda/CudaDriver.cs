using System.Runtime.InteropServices;

namespace Engine.Kernels.Cuda;

/// <summary>
/// The slice of the CUDA driver API (libcuda.so.1, installed with the NVIDIA driver) the engine
/// uses. Where cuda.h maps a name to a versioned entry point (cuMemAlloc to cuMemAlloc_v2, ...)
/// the versioned one is bound, because that is the ABI the header promises. Types as in cuda.h
/// on 64-bit Linux: CUresult and CUdevice are int, CUdeviceptr is 64-bit, handles are pointers,
/// size_t is nuint. The runtime binds each import on its first call, so nothing here fails while
/// the driver is absent until something is called; <see cref="TryLoad"/> checks first.
/// </summary>
internal static unsafe partial class CudaDriver
{
    internal const string Library = "libcuda.so.1";

    internal const int Success = 0;                 // CUDA_SUCCESS
    internal const int ErrorOutOfMemory = 2;        // CUDA_ERROR_OUT_OF_MEMORY
    internal const int ErrorNoDevice = 100;         // CUDA_ERROR_NO_DEVICE
    internal const int ErrorNotFound = 500;         // CUDA_ERROR_NOT_FOUND

    internal const int AttributeMaxSharedPerBlockOptin = 97; // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    internal const int AttributeMultiprocessorCount = 16;    // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    internal const int AttributeComputeMajor = 75;           // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
    internal const int AttributeComputeMinor = 76;           // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR

    internal const int FunctionMaxDynamicShared = 8;         // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES

    internal const int JitErrorLogBuffer = 5;                // CU_JIT_ERROR_LOG_BUFFER
    internal const int JitErrorLogBufferSize = 6;            // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES

    /// <summary>The legacy default stream: work on it runs in issue order, after all other work.</summary>
    internal const nint NullStream = 0;

    /// <summary>Whether the driver library can be loaded at all (false on machines without an NVIDIA driver).</summary>
    internal static bool TryLoad() => NativeLibrary.TryLoad(Library, typeof(CudaDriver).Assembly, null, out _);

    [LibraryImport(Library)] internal static partial int cuInit(uint flags);
    /// <summary>The CUDA version the driver supports, major * 1000 + minor * 10 (12080 for 12.8); callable before cuInit.</summary>
    [LibraryImport(Library)] internal static partial int cuDriverGetVersion(int* version);
    [LibraryImport(Library)] internal static partial int cuGetErrorName(int error, byte** name);
    [LibraryImport(Library)] internal static partial int cuGetErrorString(int error, byte** text);

    [LibraryImport(Library)] internal static partial int cuDeviceGetCount(int* count);
    [LibraryImport(Library)] internal static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Library)] internal static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Library)] internal static partial int cuDeviceGetAttribute(int* value, int attribute, int device);
    [LibraryImport(Library)] internal static partial int cuDeviceTotalMem_v2(nuint* bytes, int device);

    [LibraryImport(Library)] internal static partial int cuDevicePrimaryCtxRetain(nint* context, int device);
    [LibraryImport(Library)] internal static partial int cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(Library)] internal static partial int cuCtxSetCurrent(nint context);
    [LibraryImport(Library)] internal static partial int cuCtxSynchronize();

    [LibraryImport(Library)] internal static partial int cuModuleLoadDataEx(nint* module, void* image, uint optionCount, int* options, void** optionValues);
    [LibraryImport(Library)] internal static partial int cuModuleUnload(nint module);
    [LibraryImport(Library)] internal static partial int cuModuleGetFunction(nint* function, nint module, byte* name);
    [LibraryImport(Library)] internal static partial int cuFuncSetAttribute(nint function, int attribute, int value);
    [LibraryImport(Library)] internal static partial int cuLaunchKernel(nint function,
        uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, nint stream, void** parameters, void** extra);

    [LibraryImport(Library)] internal static partial int cuMemAlloc_v2(ulong* address, nuint bytes);
    [LibraryImport(Library)] internal static partial int cuMemFree_v2(ulong address);
    [LibraryImport(Library)] internal static partial int cuMemGetInfo_v2(nuint* free, nuint* total);
    [LibraryImport(Library)] internal static partial int cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);
    [LibraryImport(Library)] internal static partial int cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);
    [LibraryImport(Library)] internal static partial int cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(Library)] internal static partial int cuMemsetD32Async(ulong destination, uint value, nuint count, nint stream);

    [LibraryImport(Library)] internal static partial int cuEventCreate(nint* ev, uint flags);
    [LibraryImport(Library)] internal static partial int cuEventRecord(nint ev, nint stream);
    [LibraryImport(Library)] internal static partial int cuEventSynchronize(nint ev);
    [LibraryImport(Library)] internal static partial int cuEventElapsedTime(float* milliseconds, nint start, nint end);
    [LibraryImport(Library)] internal static partial int cuEventDestroy_v2(nint ev);

    /// <summary>The CUresult's enum name, e.g. "CUDA_ERROR_OUT_OF_MEMORY".</summary>
    internal static string ErrorName(int result)
    {
        byte* name = null;
        return cuGetErrorName(result, &name) == Success && name != null
            ? Marshal.PtrToStringUTF8((nint)name)!
            : $"CUresult {result}";
    }

    /// <summary>The name and the driver's description: "CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)".</summary>
    internal static string Describe(int result)
    {
        byte* text = null;
        string name = ErrorName(result);
        return cuGetErrorString(result, &text) == Success && text != null
            ? $"{name} ({Marshal.PtrToStringUTF8((nint)text)})"
            : name;
    }

    /// <summary>Throws a <see cref="CudaException"/> naming the call when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    internal static void Check(int result, string call)
    {
        if (result != Success) throw Failure(result, call);
    }

    internal static CudaException Failure(int result, string call) =>
        new($"{call} failed: {Describe(result)}", ErrorName(result), result);
}
