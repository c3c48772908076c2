using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// 64-byte alignment: one cache line, one AVX-512 vector. A vector that straddles two cache
/// lines costs two accesses, and GC arrays promise only 8 or 16 bytes, so buffers that are
/// read or written a vector at a time carry a line of slack and start at its boundary.
/// </summary>
public static unsafe class CacheLine
{
    public const int Bytes = 64;

    /// <summary>The first 64-byte boundary at or after p.</summary>
    public static T* Align<T>(T* p) where T : unmanaged => (T*)(((nint)p + (Bytes - 1)) & ~(nint)(Bytes - 1));

    /// <summary>
    /// The index of a pinned array's first element on a 64-byte boundary (fixed for the
    /// array's life, as a pinned array never moves).
    /// </summary>
    public static int AlignedOffset<T>(T[] pinned) where T : unmanaged
    {
        T* first = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)(Align(first) - first);
    }
}
