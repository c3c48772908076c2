using System.Numerics;
using System.Runtime.CompilerServices;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>
/// Reuses tensor buffers by exact length, each with room to start on a cache line. A training
/// step asks for the same sizes every time, so once warm it draws every activation and
/// gradient from here and touches no fresh page (a first touch costs ~10 us per 4 KiB on the
/// machines this was tuned on). Arrays are pinned (the pinned object heap) so kernels and,
/// later, device copies can address them without fixing them.
/// </summary>
public sealed class TensorPool<T> where T : unmanaged, INumber<T>
{
    public static TensorPool<T> Shared { get; } = new();

    readonly Dictionary<int, Stack<T[]>> _free = new();
    readonly object _gate = new();

    /// <summary>Arrays created because none of the length was free.</summary>
    public long Allocations { get; private set; }
    /// <summary>Bytes of every array created (free ones still count until <see cref="Trim"/>): the memory tensors hold.</summary>
    public long BytesAllocated { get; private set; }
    /// <summary>Total calls to <see cref="Rent"/>.</summary>
    public long Rents { get; private set; }
    /// <summary>Arrays currently rented and not yet returned.</summary>
    public long Outstanding { get; private set; }

    /// <summary>
    /// Elements each array holds beyond the length asked for, so that that many can start on a
    /// cache-line boundary (<see cref="CacheLine.AlignedOffset{T}"/>): an array's own elements
    /// begin 16 bytes into the object, so every vector load and store of a tensor would
    /// straddle two cache lines.
    /// </summary>
    static int Slack => CacheLine.Bytes / Unsafe.SizeOf<T>();

    /// <summary>
    /// An array with room for <paramref name="length"/> elements from its first cache-line
    /// boundary on (<see cref="CacheLine.AlignedOffset{T}"/>), contents unspecified.
    /// </summary>
    public T[] Rent(int length)
    {
        lock (_gate)
        {
            Rents++;
            Outstanding++;
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0) return stack.Pop();
            Allocations++;
            BytesAllocated += (long)(length + Slack) * Unsafe.SizeOf<T>();
        }
        return GC.AllocateUninitializedArray<T>(length + Slack, pinned: true);
    }

    public void Return(T[] array)
    {
        int length = array.Length - Slack;
        lock (_gate)
        {
            Outstanding--;
            if (!_free.TryGetValue(length, out var stack)) _free[length] = stack = new Stack<T[]>();
            stack.Push(array);
        }
    }

    /// <summary>
    /// Fills every free buffer with <paramref name="value"/> (NaN, say): code that reads a pooled
    /// buffer before writing all of it then shows the value in its results instead of passing
    /// by luck on zeros left over from an earlier use.
    /// </summary>
    public void FillFree(T value)
    {
        lock (_gate)
            foreach (var stack in _free.Values)
                foreach (var array in stack) array.AsSpan().Fill(value);
    }

    /// <summary>Drops every free buffer (lets the GC reclaim them).</summary>
    public void Trim()
    {
        lock (_gate)
        {
            foreach (var (length, stack) in _free) BytesAllocated -= (long)stack.Count * (length + Slack) * Unsafe.SizeOf<T>();
            _free.Clear();
        }
    }
}
