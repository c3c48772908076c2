using System.Numerics;
using System.Runtime.CompilerServices;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>
/// Where tensor buffers come from: large pinned arrays (chunks) carved into cache-line-aligned
/// blocks, address-ordered first fit, with returned blocks merged with free neighbours. A
/// training step asks for the same sizes in the same order every time, so once warm it reuses
/// the same blocks and touches no fresh page (a first touch costs ~10 us per 4 KiB on the
/// machines this was tuned on), and a block freed early in the step can hold several smaller
/// ones later: pooling whole arrays by length, a ResNet-50 step at batch 32 kept 226-240 MB of
/// arrays for at most 198 MB in use at once, as large freed activations could not serve the
/// small late-stage ones. A chunk's pages become resident only as blocks reach them: memory
/// is what the high-water marks say (<see cref="BytesAllocated"/>, to the next 2 MB where
/// the chunk got huge pages, see <see cref="HugePages"/>), not what was reserved. Chunks are
/// pinned (the pinned object heap), so kernels and device copies can address them without
/// fixing them.
/// </summary>
public sealed class TensorPool<T> where T : unmanaged, INumber<T>
{
    /// <summary>Elements a chunk reserves (256 MB of float32) unless one request needs more.</summary>
    public const int DefaultChunkLength = 64 << 20;

    public static TensorPool<T> Shared { get; } = new();

    /// <summary>Elements per cache line: every block starts on one and is a whole number of them.</summary>
    static int Granule => CacheLine.Bytes / Unsafe.SizeOf<T>();

    readonly int _chunkLength;
    readonly List<Chunk> _chunks = new();
    readonly object _gate = new();

    /// <param name="chunkLength">Elements each chunk reserves (tests use small ones).</param>
    public TensorPool(int chunkLength = DefaultChunkLength)
    {
        if (chunkLength < Granule) throw new ArgumentOutOfRangeException(nameof(chunkLength), $"a chunk needs at least {Granule} elements");
        _chunkLength = chunkLength;
    }

    /// <summary>Rents that reached memory no earlier block had used (a chunk's high-water mark moved, or a new chunk).</summary>
    public long Allocations { get; private set; }
    /// <summary>Bytes below the chunks' high-water marks: the memory tensors have touched and hold.</summary>
    public long BytesAllocated { get; private set; }
    /// <summary>Total calls to <see cref="Rent"/>.</summary>
    public long Rents { get; private set; }
    /// <summary>Blocks currently rented and not yet returned.</summary>
    public long Outstanding { get; private set; }
    /// <summary>Bytes of the blocks currently rented.</summary>
    public long BytesOutstanding { get; private set; }
    /// <summary>The most bytes rented at once since the last <see cref="ResetPeak"/>.</summary>
    public long PeakBytesOutstanding { get; private set; }

    /// <summary>Starts <see cref="PeakBytesOutstanding"/> again from what is rented now.</summary>
    public void ResetPeak()
    {
        lock (_gate) PeakBytesOutstanding = BytesOutstanding;
    }

    /// <summary>A lent block: elements [Offset, Offset + Length) of Array, Offset on a cache line, Length whole cache lines.</summary>
    public readonly record struct Block(T[] Array, int Offset, int Length)
    {
        public Span<T> Span(int length) => Array.AsSpan(Offset, length);
    }

    /// <summary>A block of at least <paramref name="length"/> elements starting on a cache line, contents unspecified.</summary>
    public Block Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int need = RoundUp(Math.Max(length, 1), Granule);
        lock (_gate)
        {
            Rents++;
            Outstanding++;
            BytesOutstanding += (long)need * Unsafe.SizeOf<T>();
            PeakBytesOutstanding = Math.Max(PeakBytesOutstanding, BytesOutstanding);
            foreach (var chunk in _chunks)
                if (chunk.TakeFree(need) is int start) return chunk.Lend(start, need);
            foreach (var chunk in _chunks)
                if (chunk.TakeAtEnd(need) is (int start, int growth))
                {
                    Grew(growth);
                    return chunk.Lend(start, need);
                }
            var fresh = new Chunk(Math.Max(_chunkLength, need));
            _chunks.Add(fresh);
            Grew(fresh.TakeAtEnd(need)!.Value.Growth);
            return fresh.Lend(0, need);
        }
    }

    void Grew(int elements)
    {
        Allocations++;
        BytesAllocated += (long)elements * Unsafe.SizeOf<T>();
    }

    /// <summary>Takes back a block <see cref="Rent"/> lent (once).</summary>
    public void Return(Block block)
    {
        lock (_gate)
        {
            var chunk = _chunks.Find(c => ReferenceEquals(c.Array, block.Array)) ?? throw new ArgumentException("the block is not from this pool");
            chunk.Release(block.Offset - chunk.Base, block.Length);
            Outstanding--;
            BytesOutstanding -= (long)block.Length * Unsafe.SizeOf<T>();
        }
    }

    /// <summary>
    /// Fills every free block with <paramref name="value"/> (NaN, say): code that reads a pooled
    /// buffer before writing all of it then shows the value in its results instead of passing
    /// by luck on zeros left over from an earlier use.
    /// </summary>
    public void FillFree(T value)
    {
        lock (_gate)
            foreach (var chunk in _chunks)
                foreach (var (start, length) in chunk.Free) chunk.Array.AsSpan(chunk.Base + start, length).Fill(value);
    }

    /// <summary>Drops every chunk with nothing lent from it (lets the GC reclaim them).</summary>
    public void Trim()
    {
        lock (_gate)
            _chunks.RemoveAll(c =>
            {
                if (c.Lent > 0) return false;
                BytesAllocated -= (long)c.HighWater * Unsafe.SizeOf<T>();
                return true;
            });
    }

    static int RoundUp(int x, int multiple) => (int)Math.Min(int.MaxValue / multiple * multiple, ((long)x + multiple - 1) / multiple * multiple);

    /// <summary>One pinned array, used from its first cache line; offsets below are from there.</summary>
    sealed class Chunk
    {
        public readonly T[] Array;
        public readonly int Base, Capacity;
        /// <summary>Elements below this have been lent at some time (and touched).</summary>
        public int HighWater;
        public int Lent;
        /// <summary>Free runs below the high-water mark, by start, none adjacent to another.</summary>
        public readonly List<(int Start, int Length)> Free = new();

        public unsafe Chunk(int capacity)
        {
            Array = GC.AllocateUninitializedArray<T>(capacity + Granule, pinned: true);
            Base = CacheLine.AlignedOffset(Array);
            Capacity = capacity;
            fixed (T* start = Array) HugePages.Advise(start, (long)Array.Length * Unsafe.SizeOf<T>());
        }

        public Block Lend(int start, int length)
        {
            Lent++;
            return new Block(Array, Base + start, length);
        }

        /// <summary>The first free run that fits, address order: its start, with the rest left free.</summary>
        public int? TakeFree(int length)
        {
            for (int i = 0; i < Free.Count; i++)
            {
                var (start, free) = Free[i];
                if (free < length) continue;
                if (free == length) Free.RemoveAt(i);
                else Free[i] = (start + length, free - length);
                return start;
            }
            return null;
        }

        /// <summary>Room at the high-water mark (joined to a free run that ends there): its start and how far the mark moved.</summary>
        public (int Start, int Growth)? TakeAtEnd(int length)
        {
            int start = HighWater;
            bool joinsFree = Free.Count > 0 && Free[^1].Start + Free[^1].Length == HighWater;
            if (joinsFree) start = Free[^1].Start;
            if ((long)start + length > Capacity) return null;
            if (joinsFree) Free.RemoveAt(Free.Count - 1);
            int growth = start + length - HighWater;
            HighWater = start + length;
            return (start, growth);
        }

        static readonly Comparer<(int Start, int Length)> ByStart = Comparer<(int Start, int Length)>.Create((a, b) => a.Start.CompareTo(b.Start));

        public void Release(int start, int length)
        {
            Lent--;
            int i = Free.BinarySearch((start, 0), ByStart);
            if (i >= 0) throw new InvalidOperationException("a block was returned twice");
            i = ~i;
            // Merge with the run before and the run after when they touch.
            if (i > 0 && Free[i - 1].Start + Free[i - 1].Length == start)
            {
                start = Free[i - 1].Start;
                length += Free[i - 1].Length;
                Free.RemoveAt(--i);
            }
            if (i < Free.Count && start + length == Free[i].Start)
            {
                length += Free[i].Length;
                Free.RemoveAt(i);
            }
            Free.Insert(i, (start, length));
        }
    }
}
