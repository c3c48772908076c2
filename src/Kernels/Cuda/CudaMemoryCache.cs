namespace Engine.Kernels.Cuda;

/// <summary>
/// A caching allocator over cuMemAlloc, in the manner of PyTorch's: a freed block goes onto a
/// free list for its size and the next request of that size takes it back, because
/// cuMemAlloc and cuMemFree are slow (cuMemFree waits for the whole device). Sizes are rounded
/// up to 512 bytes so that nearby sizes share lists and every block is aligned for any vector
/// load. Reuse needs no waiting: all work goes to one stream, so a kernel given a reused block
/// runs after every kernel queued while it had its previous owner.
/// </summary>
internal sealed class CudaMemoryCache
{
    internal const long Granularity = 512;

    readonly Lock _lock = new();
    readonly Dictionary<ulong, long> _inUse = [];             // address -> rounded size
    readonly Dictionary<long, Stack<ulong>> _cached = [];     // rounded size -> free blocks
    long _bytesInUse, _bytesReserved;
    bool _closed;

    internal long BytesInUse { get { lock (_lock) return _bytesInUse; } }
    internal long BytesReserved { get { lock (_lock) return _bytesReserved; } }

    internal static long RoundUp(long bytes) => Math.Max(Granularity, (bytes + Granularity - 1) / Granularity * Granularity);

    /// <summary>A block of at least <paramref name="bytes"/>; the context must be current.</summary>
    internal ulong Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long size = RoundUp(bytes);
        lock (_lock)
        {
            ulong address = _cached.TryGetValue(size, out var blocks) && blocks.Count > 0 ? blocks.Pop() : AllocateFresh(size);
            _inUse.Add(address, size);
            _bytesInUse += size;
            return address;
        }
    }

    /// <summary>
    /// Gives a block back to its free list. Makes no driver call, so it is safe from a finalizer;
    /// once everything has been released (the context is going away) it does nothing, so a
    /// finalizer that races the context's disposal cannot fail.
    /// </summary>
    internal void Free(ulong address)
    {
        lock (_lock)
        {
            if (_closed) return;
            if (!_inUse.Remove(address, out long size))
                throw new ArgumentException($"0x{address:x} is not a block of this context's allocator in use (freed twice?)", nameof(address));
            _bytesInUse -= size;
            if (!_cached.TryGetValue(size, out var blocks)) _cached[size] = blocks = new Stack<ulong>();
            blocks.Push(address);
        }
    }

    /// <summary>Returns every cached (free) block to the driver; the context must be current.</summary>
    internal void ReleaseCached()
    {
        lock (_lock)
        {
            if (_cached.Count == 0) return;
            // Kernels queued before a block was freed may still be using it.
            CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
            foreach (var (size, blocks) in _cached)
            {
                while (blocks.Count > 0)
                {
                    CudaDriver.Check(CudaDriver.cuMemFree_v2(blocks.Pop()), "cuMemFree");
                    _bytesReserved -= size;
                }
            }
            _cached.Clear();
        }
    }

    /// <summary>Returns every block, in use or not, to the driver (the context is going away).</summary>
    internal void ReleaseAll()
    {
        lock (_lock)
        {
            _closed = true;
            foreach (var (address, size) in _inUse)
            {
                _cached.TryGetValue(size, out var blocks);
                if (blocks == null) _cached[size] = blocks = new Stack<ulong>();
                blocks.Push(address);
            }
            _inUse.Clear();
            _bytesInUse = 0;
            ReleaseCached();
        }
    }

    unsafe ulong AllocateFresh(long size)
    {
        ulong address;
        int result = CudaDriver.cuMemAlloc_v2(&address, (nuint)size);
        if (result == CudaDriver.ErrorOutOfMemory && _cached.Count > 0)
        {
            // Blocks cached for other sizes may add up to what is asked: give them back and try once more.
            ReleaseCached();
            result = CudaDriver.cuMemAlloc_v2(&address, (nuint)size);
        }
        if (result != CudaDriver.Success)
            throw CudaDriver.Failure(result,
                $"cuMemAlloc of {size} bytes ({_bytesInUse} in use, {_bytesReserved} reserved)");
        _bytesReserved += size;
        return address;
    }
}
