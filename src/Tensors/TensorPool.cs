using System.Numerics;
using System.Runtime.CompilerServices;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>
/// Reuses tensor buffers, each with room to start on a cache line: one of the length asked
/// for when free, else the shortest free one up to twice as long. A training
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
    /// <summary>Bytes of the arrays currently rented.</summary>
    public long BytesOutstanding { get; private set; }
    /// <summary>
    /// The most bytes rented at once since the last <see cref="ResetPeak"/>: what the tensors
    /// needed, against <see cref="BytesAllocated"/>, what exact-length reuse kept to serve it.
    /// </summary>
    public long PeakBytesOutstanding { get; private set; }

    /// <summary>Starts <see cref="PeakBytesOutstanding"/> again from what is rented now.</summary>
    public void ResetPeak()
    {
        lock (_gate) PeakBytesOutstanding = BytesOutstanding;
    }

    /// <summary>
    /// Elements each array holds beyond the length asked for, so that that many can start on a
    /// cache-line boundary (<see cref="CacheLine.AlignedOffset{T}"/>): an array's own elements
    /// begin 16 bytes into the object, so every vector load and store of a tensor would
    /// straddle two cache lines.
    /// </summary>
    /// <summary>
    /// How much longer than asked a free array may be and still be lent. Exact lengths alone
    /// kept 253 MB for a ResNet-50 training step (batch 32) whose buffers peaked at 198 MB
    /// rented at once: a length freed late in backward could serve no other. Up to twice the
    /// length kept 226 MB; any length, 266 (small requests then hold large arrays).
    /// </summary>
    const int MaxOversize = 2;

    static int Slack => CacheLine.Bytes / Unsafe.SizeOf<T>();

    /// <summary>
    /// An array with room for <paramref name="length"/> elements from its first cache-line
    /// boundary on (<see cref="CacheLine.AlignedOffset{T}"/>), contents unspecified; it may be
    /// longer than asked (see <see cref="MaxOversize"/>).
    /// </summary>
    public T[] Rent(int length)
    {
        lock (_gate)
        {
            Rents++;
            Outstanding++;
            BytesOutstanding += (long)(length + Slack) * Unsafe.SizeOf<T>();
            PeakBytesOutstanding = Math.Max(PeakBytesOutstanding, BytesOutstanding);
            if (_free.TryGetValue(length, out var stack) && stack.Count > 0) return stack.Pop();
            // No free array of this length: the shortest free one up to MaxOversize times longer.
            int fit = -1;
            foreach (var (free, arrays) in _free)
                if (arrays.Count > 0 && free > length && free <= (long)length * MaxOversize && (fit < 0 || free < fit)) fit = free;
            if (fit >= 0)
            {
                BytesOutstanding += (long)(fit - length) * Unsafe.SizeOf<T>();
                PeakBytesOutstanding = Math.Max(PeakBytesOutstanding, BytesOutstanding);
                return _free[fit].Pop();
            }
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
            BytesOutstanding -= (long)array.Length * Unsafe.SizeOf<T>();
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
