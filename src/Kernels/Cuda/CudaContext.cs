using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Engine.Kernels.Cuda;

/// <summary>
/// One GPU as the engine drives it: device 0's primary context, one stream (the legacy NULL
/// stream, so everything runs in the order it was queued), kernels compiled from the embedded
/// sources on first use, and a caching allocator. Launches, device-to-device copies and memsets
/// only queue work; copies to the host wait for it. Every public method first makes the
/// context current on the calling thread, so any thread may call.
/// </summary>
public sealed unsafe class CudaContext : IDisposable
{
    static readonly Lock DefaultGate = new();
    static CudaContext? s_default;
    static string? s_defaultFailure;

    /// <summary>The context each thread last made current, to skip repeating cuCtxSetCurrent.</summary>
    [ThreadStatic] static CudaContext? t_current;

    readonly int _device;
    readonly nint _context;
    readonly CudaMemoryCache _memory = new();
    readonly Lock _moduleGate = new();
    readonly Dictionary<string, nint> _modules = new(StringComparer.Ordinal);      // source name -> CUmodule
    readonly Dictionary<string, nint> _textModules = new(StringComparer.Ordinal);  // source text -> CUmodule
    readonly ConcurrentDictionary<(string Source, string Kernel), CudaFunction> _functions = new();
    volatile bool _disposed;

    CudaContext(int device, nint context, string name, int computeCapability, int multiprocessors, long totalMemory, int maxSharedPerBlock,
        int driverVersion)
    {
        _device = device;
        _context = context;
        DeviceName = name;
        DriverVersion = $"{driverVersion / 1000}.{driverVersion % 1000 / 10}";
        ComputeCapability = computeCapability;
        MultiprocessorCount = multiprocessors;
        TotalMemoryBytes = totalMemory;
        MaxSharedBytesPerBlock = maxSharedPerBlock;
    }

    /// <summary>
    /// Device 0's primary context, created on first success and shared after. False, with the
    /// reason, when there is no NVIDIA driver, no device, no usable NVRTC, or the device fails
    /// a first compile-and-run check.
    /// </summary>
    public static bool TryGetDefault([NotNullWhen(true)] out CudaContext? context, out string reason)
    {
        lock (DefaultGate)
        {
            if (s_default == null && s_defaultFailure == null)
            {
                try
                {
                    s_defaultFailure = Create(out s_default);
                }
                catch (Exception e) when (e is CudaException or DllNotFoundException or EntryPointNotFoundException)
                {
                    s_default = null;
                    s_defaultFailure = e.Message;
                }
            }
            context = s_default;
            reason = s_defaultFailure ?? "";
            return context != null;
        }
    }

    /// <summary>The default context; throws <see cref="InvalidOperationException"/> with the reason where there is none.</summary>
    public static CudaContext Default =>
        TryGetDefault(out var context, out string reason) ? context : throw new InvalidOperationException(reason);

    /// <summary>The GPU's name, e.g. "NVIDIA H100 80GB HBM3".</summary>
    public string DeviceName { get; }

    /// <summary>The CUDA version the driver supports, e.g. "12.8": PTX from an NVRTC newer than this does not load.</summary>
    public string DriverVersion { get; }

    /// <summary>Major * 10 + minor, e.g. 90 for an H100.</summary>
    public int ComputeCapability { get; }

    public int MultiprocessorCount { get; }

    public long TotalMemoryBytes { get; }

    /// <summary>The most shared memory one block may have when the kernel opts in (227 KB on an H100).</summary>
    public int MaxSharedBytesPerBlock { get; }

    /// <summary>Bytes of device memory in allocated blocks (sizes rounded up to 512).</summary>
    public long BytesInUse => _memory.BytesInUse;

    /// <summary>Bytes taken from the driver: in use plus cached for reuse.</summary>
    public long BytesReserved => _memory.BytesReserved;

    internal bool IsDisposed => _disposed;

    static string? Create(out CudaContext? context)
    {
        context = null;
        if (!CudaDriver.TryLoad()) return $"no NVIDIA driver: {CudaDriver.Library} not found";
        int result = CudaDriver.cuInit(0);
        if (result == CudaDriver.ErrorNoDevice) return "no CUDA device";
        if (result != CudaDriver.Success) return $"cuInit failed: {CudaDriver.Describe(result)}";
        int count;
        CudaDriver.Check(CudaDriver.cuDeviceGetCount(&count), "cuDeviceGetCount");
        if (count == 0) return "no CUDA device";
        int driverVersion;
        CudaDriver.Check(CudaDriver.cuDriverGetVersion(&driverVersion), "cuDriverGetVersion");
        // The newest NVRTC whose PTX this driver can load, where several are installed.
        if (!Nvrtc.TryLoad(driverVersion, out string nvrtcFailure)) return nvrtcFailure;

        int device;
        CudaDriver.Check(CudaDriver.cuDeviceGet(&device, 0), "cuDeviceGet");
        byte* name = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, 256, device), "cuDeviceGetName");
        int major = Attribute(device, CudaDriver.AttributeComputeMajor);
        int minor = Attribute(device, CudaDriver.AttributeComputeMinor);
        int multiprocessors = Attribute(device, CudaDriver.AttributeMultiprocessorCount);
        int maxShared = Attribute(device, CudaDriver.AttributeMaxSharedPerBlockOptin);
        nuint total;
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem_v2(&total, device), "cuDeviceTotalMem");
        nint handle;
        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(&handle, device), "cuDevicePrimaryCtxRetain");

        var created = new CudaContext(device, handle, Marshal.PtrToStringUTF8((nint)name) ?? "", major * 10 + minor,
            multiprocessors, (long)total, maxShared, driverVersion);
        try
        {
            created.SelfCheck();
        }
        catch (Exception e) when (e is CudaException or InvalidOperationException)
        {
            created.Dispose();
            return $"the CUDA self-check failed on {created.DeviceName}: {e.Message}";
        }
        context = created;
        return null;
    }

    static int Attribute(int device, int attribute)
    {
        int value;
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&value, attribute, device), $"cuDeviceGetAttribute({attribute})");
        return value;
    }

    /// <summary>
    /// Compiles, loads and runs the smallest real kernel, so that a driver too old for this
    /// NVRTC's PTX, or a broken installation, shows up here as a reason rather than in the
    /// middle of a computation.
    /// </summary>
    void SelfCheck()
    {
        const int n = 1000;
        const float a = 1.5f, b = -0.25f;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i * 0.125f - 7;
        ulong dx = Allocate(n * sizeof(float)), dy = Allocate(n * sizeof(float));
        try
        {
            CopyToDevice<float>(x, dx);
            Launch(GetFunction("selfcheck.cu", "axpb_f32"), new Dim3(4), new Dim3(128), 0, dx, dy, a, b, n);
            var y = new float[n];
            CopyToHost<float>(dy, y);
            for (int i = 0; i < n; i++)
                if (y[i] != MathF.FusedMultiplyAdd(a, x[i], b))
                    throw new CudaException($"axpb_f32 gave {y[i]} at {i}, not {MathF.FusedMultiplyAdd(a, x[i], b)}");
        }
        finally
        {
            Free(dx);
            Free(dy);
        }
    }

    /// <summary>
    /// The kernel <paramref name="kernelName"/> of the embedded source <paramref name="sourceName"/>
    /// ("gemm.cu"). The source is compiled with NVRTC on first use, for the newest architecture
    /// NVRTC supports at or below <see cref="ComputeCapability"/>, with the embedded headers
    /// (<see cref="CudaKernelSources.Headers"/>) to include, and its module stays loaded.
    /// Throws <see cref="CudaException"/> when it does not compile or has no such kernel.
    /// </summary>
    public CudaFunction GetFunction(string sourceName, string kernelName)
    {
        if (_functions.TryGetValue((sourceName, kernelName), out var function)) return function;
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(kernelName);
        MakeCurrent();
        lock (_moduleGate)
        {
            if (_functions.TryGetValue((sourceName, kernelName), out function)) return function;
            string name = CudaKernelSources.Normalize(sourceName);
            if (!_modules.TryGetValue(name, out nint module))
            {
                module = LoadModule(CudaKernelSources.Get(name), name);
                _modules.Add(name, module);
            }
            function = FindFunction(module, kernelName, name);
            _functions[(sourceName, kernelName)] = function;
            return function;
        }
    }

    /// <summary>
    /// The kernel <paramref name="kernelName"/> of CUDA C++ <paramref name="source"/> that is not
    /// one of the embedded sources (experiments, tests). Compiled once per distinct text, with
    /// the embedded headers (it may #include "common.cuh"); <paramref name="programName"/> names
    /// it in compiler messages.
    /// </summary>
    public CudaFunction CompileFunction(string source, string programName, string kernelName)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(programName);
        ArgumentNullException.ThrowIfNull(kernelName);
        MakeCurrent();
        lock (_moduleGate)
        {
            if (!_textModules.TryGetValue(source, out nint module))
            {
                module = LoadModule(source, programName);
                _textModules.Add(source, module);
            }
            return FindFunction(module, kernelName, programName);
        }
    }

    nint LoadModule(string source, string programName)
    {
        string ptx = Nvrtc.CompileToPtx(source, programName, ComputeCapability, CudaKernelSources.Headers);
        byte[] image = Encoding.UTF8.GetBytes(ptx + "\0");
        // The driver compiles PTX for the GPU here; its error log says why when it cannot
        // (most often PTX from an NVRTC newer than the driver).
        const int logSize = 16 * 1024;
        byte* errorLog = stackalloc byte[logSize];
        errorLog[0] = 0;
        int* options = stackalloc int[] { CudaDriver.JitErrorLogBuffer, CudaDriver.JitErrorLogBufferSize };
        void** values = stackalloc void*[] { errorLog, (void*)logSize };
        nint module;
        int result;
        fixed (byte* p = image) result = CudaDriver.cuModuleLoadDataEx(&module, p, 2, options, values);
        if (result != CudaDriver.Success)
        {
            string log = Marshal.PtrToStringUTF8((nint)errorLog)?.Trim() ?? "";
            throw new CudaException(
                $"loading the PTX of {programName} (compute_{Nvrtc.ArchitectureFor(ComputeCapability)}, NVRTC {Nvrtc.Version}) " +
                $"on {DeviceName} (driver for CUDA {DriverVersion}) failed: {CudaDriver.Describe(result)}" + (log.Length > 0 ? $"\n{log}" : ""),
                CudaDriver.ErrorName(result), result);
        }
        return module;
    }

    static CudaFunction FindFunction(nint module, string kernelName, string programName)
    {
        nint handle;
        int result;
        fixed (byte* name = Encoding.UTF8.GetBytes(kernelName + "\0"))
            result = CudaDriver.cuModuleGetFunction(&handle, module, name);
        if (result == CudaDriver.ErrorNotFound)
            throw new CudaException($"{programName} has no kernel named {kernelName} (an extern \"C\" __global__ function)",
                CudaDriver.ErrorName(result), result);
        CudaDriver.Check(result, $"cuModuleGetFunction({kernelName}) in {programName}");
        return new CudaFunction(handle, kernelName, programName);
    }

    /// <summary>
    /// Queues <paramref name="function"/> on the context's stream and returns without waiting.
    /// Each argument is one kernel parameter, in order. Errors the kernel hits while running
    /// surface at the next call that waits (a copy to the host, <see cref="Synchronize"/>).
    /// </summary>
    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args)
    {
        ArgumentNullException.ThrowIfNull(function);
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        MakeCurrent();
        if (sharedBytes > 0) function.AllowSharedBytes(sharedBytes);
        void** parameters = stackalloc void*[Math.Max(1, args.Length)];
        fixed (KernelArg* values = args)
        {
            for (int i = 0; i < args.Length; i++) parameters[i] = values + i;
            int result = CudaDriver.cuLaunchKernel(function.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
                (uint)sharedBytes, CudaDriver.NullStream, parameters, null);
            if (result != CudaDriver.Success)
                throw CudaDriver.Failure(result,
                    $"launching {function} (grid {grid.X}x{grid.Y}x{grid.Z}, block {block.X}x{block.Y}x{block.Z}, {sharedBytes} bytes shared, {args.Length} arguments)");
        }
    }

    /// <summary>
    /// A device block of at least <paramref name="bytes"/> (rounded up to 512, so 512-byte
    /// aligned), from the cache when one of that size is free. Its content is undefined.
    /// </summary>
    public ulong Allocate(long bytes)
    {
        MakeCurrent();
        return _memory.Allocate(bytes);
    }

    /// <summary>
    /// Gives a block from <see cref="Allocate"/> back to the cache. Work already queued may still
    /// use it; the next owner's work is queued after. Ignored once the context is disposed
    /// (its memory is gone already), so finalizers may call it. Address 0 is ignored.
    /// </summary>
    public void Free(ulong address)
    {
        if (_disposed || address == 0) return;
        _memory.Free(address);
    }

    /// <summary>Returns the cached free blocks to the driver (waits for queued work first).</summary>
    public void ReleaseCachedMemory()
    {
        MakeCurrent();
        _memory.ReleaseCached();
    }

    /// <summary>The driver's view of device memory: free and total bytes (other processes count too).</summary>
    public void GetMemoryInfo(out long freeBytes, out long totalBytes)
    {
        MakeCurrent();
        nuint free, total;
        CudaDriver.Check(CudaDriver.cuMemGetInfo_v2(&free, &total), "cuMemGetInfo");
        freeBytes = (long)free;
        totalBytes = (long)total;
    }

    /// <summary>Copies <paramref name="source"/> to device memory at <paramref name="destination"/>, after the work queued before.</summary>
    public void CopyToDevice<T>(ReadOnlySpan<T> source, ulong destination) where T : unmanaged
    {
        MakeCurrent();
        if (source.IsEmpty) return;
        fixed (T* p = source)
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD_v2(destination, p, (nuint)((long)source.Length * sizeof(T))),
                $"cuMemcpyHtoD of {(long)source.Length * sizeof(T)} bytes");
    }

    /// <summary>Waits for the queued work, then copies device memory at <paramref name="source"/> into <paramref name="destination"/>.</summary>
    public void CopyToHost<T>(ulong source, Span<T> destination) where T : unmanaged
    {
        MakeCurrent();
        if (destination.IsEmpty) return;
        fixed (T* p = destination)
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH_v2(p, source, (nuint)((long)destination.Length * sizeof(T))),
                $"cuMemcpyDtoH of {(long)destination.Length * sizeof(T)} bytes");
    }

    /// <summary>Queues a copy of <paramref name="bytes"/> bytes between device addresses.</summary>
    public void CopyDeviceToDevice(ulong source, ulong destination, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        MakeCurrent();
        if (bytes == 0) return;
        CudaDriver.Check(CudaDriver.cuMemcpyDtoDAsync_v2(destination, source, (nuint)bytes, CudaDriver.NullStream),
            $"cuMemcpyDtoDAsync of {bytes} bytes");
    }

    /// <summary>
    /// Queues setting <paramref name="count"/> 4-byte words at <paramref name="destination"/> to
    /// <paramref name="value"/> (0 is 0.0f; for a float, pass its bits).
    /// </summary>
    public void Memset32(ulong destination, uint value, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        MakeCurrent();
        if (count == 0) return;
        CudaDriver.Check(CudaDriver.cuMemsetD32Async(destination, value, (nuint)count, CudaDriver.NullStream),
            $"cuMemsetD32Async of {count} words");
    }

    /// <summary>Waits until all queued work is done; throws if any of it failed.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /// <summary>Queues an event after the work queued so far (for timing: <see cref="CudaEvent.ElapsedMilliseconds"/>).</summary>
    public CudaEvent RecordEvent()
    {
        MakeCurrent();
        nint handle;
        CudaDriver.Check(CudaDriver.cuEventCreate(&handle, 0), "cuEventCreate");
        int result = CudaDriver.cuEventRecord(handle, CudaDriver.NullStream);
        if (result != CudaDriver.Success)
        {
            CudaDriver.cuEventDestroy_v2(handle);
            throw CudaDriver.Failure(result, "cuEventRecord");
        }
        return new CudaEvent(this, handle);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (t_current == this) return;
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
        t_current = this;
    }

    /// <summary>
    /// Waits for queued work, frees all device memory (blocks still in use included), unloads
    /// the modules and releases the primary context. If this was the default context, the next
    /// <see cref="TryGetDefault"/> creates a fresh one.
    /// </summary>
    public void Dispose()
    {
        lock (DefaultGate)
        {
            if (_disposed) return;
            MakeCurrent();
            _disposed = true;
            if (s_default == this) s_default = null;
        }
        // Best effort throughout: after a kernel fault every call fails with the same sticky
        // error, and the context must still be released.
        try { _memory.ReleaseAll(); } catch (CudaException) { }
        lock (_moduleGate)
        {
            foreach (nint module in _modules.Values.Concat(_textModules.Values)) CudaDriver.cuModuleUnload(module);
            _modules.Clear();
            _textModules.Clear();
            _functions.Clear();
        }
        CudaDriver.cuDevicePrimaryCtxRelease_v2(_device);
        t_current = null;
    }
}
