using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// Per-thread working buffers that grow on demand and are kept, so a warm training step
/// allocates none. Each kernel holds its own [ThreadStatic] slots and asks here for a buffer
/// of at least the length it needs: small ones as pinned arrays, packing buffers (megabytes)
/// as <see cref="NativeBuffer{T}"/>.
/// </summary>
static class ThreadScratch
{
    public static T[] Get<T>(ref T[]? slot, int length) where T : unmanaged =>
        slot is { } a && a.Length >= length ? a : slot = GC.AllocateUninitializedArray<T>(length, pinned: true);

    public static unsafe T* Get<T>(ref NativeBuffer<T>? slot, long length) where T : unmanaged => (slot ??= new NativeBuffer<T>()).Get(length);
}

/// <summary>
/// A working buffer in native memory, aligned to a cache line, that grows on demand and is
/// kept. Native so that growing frees the old block at once: a managed array replaced as it
/// grew stayed resident as garbage until a full collection, and the first ResNet-50 training
/// step grows its packing buffers through several sizes (17 MB of such garbage at batch 32,
/// all of it in the peak resident set).
/// </summary>
sealed unsafe class NativeBuffer<T> where T : unmanaged
{
    T* _data;
    long _length;

    /// <summary>The buffer, with room for at least <paramref name="length"/> elements; contents unspecified after it grows.</summary>
    public T* Get(long length)
    {
        if (length <= _length) return _data;
        NativeMemory.AlignedFree(_data);
        _data = null;
        _length = 0;
        _data = (T*)NativeMemory.AlignedAlloc((nuint)(length * sizeof(T)), (nuint)CacheLine.Bytes);
        _length = length;
        return _data;
    }

    /// <summary>The first <paramref name="length"/> elements as a span.</summary>
    public Span<T> Span(int length) => new(Get(length), length);

    ~NativeBuffer() => NativeMemory.AlignedFree(_data);
}
