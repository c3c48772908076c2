namespace Engine.Kernels.Cuda;

/// <summary>
/// A marker queued on a context's stream (<see cref="CudaContext.RecordEvent"/>); the GPU stamps
/// it when the work queued before it is done. Two of them time the work between them.
/// </summary>
public sealed class CudaEvent : IDisposable
{
    readonly CudaContext _context;
    nint _handle;

    internal CudaEvent(CudaContext context, nint handle)
    {
        _context = context;
        _handle = handle;
    }

    /// <summary>Waits until the GPU has reached this event.</summary>
    public void Synchronize()
    {
        _context.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuEventSynchronize(Live), "cuEventSynchronize");
    }

    /// <summary>
    /// GPU time from <paramref name="start"/> to <paramref name="end"/> in milliseconds (resolution
    /// about half a microsecond); waits for <paramref name="end"/> first.
    /// </summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        end.Synchronize();
        float milliseconds;
        unsafe
        {
            CudaDriver.Check(CudaDriver.cuEventElapsedTime(&milliseconds, start.Live, end.Live), "cuEventElapsedTime");
        }
        return milliseconds;
    }

    nint Live => _handle != 0 ? _handle : throw new ObjectDisposedException(nameof(CudaEvent));

    /// <summary>Destroys the event (nothing to do once its context is gone).</summary>
    public void Dispose()
    {
        nint handle = Interlocked.Exchange(ref _handle, 0);
        if (handle == 0 || _context.IsDisposed) return;
        _context.MakeCurrent();
        CudaDriver.Check(CudaDriver.cuEventDestroy_v2(handle), "cuEventDestroy");
    }
}
