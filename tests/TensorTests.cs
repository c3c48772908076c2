using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

public class TensorTests
{
    [Test]
    public void ShapeReportsSizeAndPrintsLikeKeras()
    {
        var s = new Shape(32, 64, 64, 3);
        Assert.That(s.Size, Is.EqualTo(32 * 64 * 64 * 3));
        Assert.That(s[-1], Is.EqualTo(3));
        Assert.That(s.ToString(), Is.EqualTo("(32, 64, 64, 3)"));
        Assert.That(new Shape(6).ToString(), Is.EqualTo("(6,)"));
        Assert.That(s.EndsWith(new Shape(64, 3)), Is.True);
        Assert.That(s.EndsWith(new Shape(3, 64)), Is.False);
        Assert.Throws<ArgumentException>(() => new Shape(2, -1));
    }

    [Test]
    public void ElementAccessIsRowMajor()
    {
        var t = Tensor<float>.Zeros(new Shape(2, 3, 4));
        t[1, 2, 3] = 7;
        Assert.That(t.Span[1 * 12 + 2 * 4 + 3], Is.EqualTo(7f));
        Assert.That(t[1, 2, 3], Is.EqualTo(7f));
        Assert.Throws<IndexOutOfRangeException>(() => _ = t[2, 0, 0]);
        Assert.Throws<ArgumentException>(() => _ = t[0, 0]);
    }

    [Test]
    public void ReshapeSharesStorage()
    {
        var t = Tensor<float>.FromArray([1, 2, 3, 4, 5, 6], new Shape(2, 3));
        var r = t.Reshape(new Shape(3, 2));
        r[2, 1] = 60;
        Assert.That(t[1, 2], Is.EqualTo(60f));
        Assert.Throws<ArgumentException>(() => t.Reshape(new Shape(4, 2)));
    }

    [Test]
    public void ToStringShowsShapeAndValues()
    {
        var t = Tensor<double>.FromArray([1, 2.5, -3, 4, 5, 6], new Shape(2, 3));
        Assert.That(t.ToString(), Is.EqualTo("Tensor<Double> (2, 3) \n[[1, 2.5, -3],\n [4, 5, 6]]"));
        var big = Tensor<float>.Zeros(new Shape(10));
        Assert.That(big.ToString(), Does.Contain("[0, 0, 0, ..., 0, 0, 0]"));
    }

    [Test]
    public void ConvertChangesElementTypeKeepingShapeAndValues()
    {
        var f = Tensor<float>.FromArray([0.1f, -2f, 3.5f], new Shape(3, 1));
        var d = f.Convert<double>();
        Assert.That(d.Shape, Is.EqualTo(new Shape(3, 1)));
        Assert.That(d.ToArray(), Is.EqualTo(new[] { (double)0.1f, -2.0, 3.5 }));
    }

    [Test]
    public void FactoriesFill()
    {
        Assert.That(Tensor<float>.Ones(new Shape(3)).ToArray(), Is.EqualTo(new[] { 1f, 1f, 1f }));
        Assert.That(Tensor<float>.Zeros(new Shape(2)).ToArray(), Is.EqualTo(new[] { 0f, 0f }));
        Assert.That(Tensor<double>.Full(new Shape(2), 2.5).ToArray(), Is.EqualTo(new[] { 2.5, 2.5 }));
    }

    [Test]
    public void DisposedTensorsRefuseAccessAndTheirBuffersAreReused()
    {
        var pool = TensorPool<float>.Shared;
        var t = Tensor<float>.Empty(new Shape(12345));
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _ = t.Span[0]);
        long allocations = pool.Allocations;
        using var again = Tensor<float>.Empty(new Shape(12345));
        Assert.That(pool.Allocations, Is.EqualTo(allocations), "a buffer of a free length was allocated anew");
    }

    [Test]
    public void FreedBlocksAreSplitAndMergedBeforeFreshMemoryIsUsed()
    {
        // A pool of its own (room for 1000 floats per chunk): other tests rent from the shared one meanwhile.
        var pool = new TensorPool<float>(chunkLength: 1000);
        var a = pool.Rent(300);
        var b = pool.Rent(100);
        Assert.That((a.Length, b.Length), Is.EqualTo((304, 112)), "whole cache lines of 16 floats");
        Assert.That(b.Offset, Is.EqualTo(a.Offset + a.Length), "address order");
        Assert.That(pool.BytesAllocated, Is.EqualTo((304 + 112) * 4));
        pool.Return(a);
        // Two smaller blocks from the freed one, no fresh memory.
        var c = pool.Rent(100);
        var d = pool.Rent(150);
        Assert.That((c.Offset, d.Offset), Is.EqualTo((a.Offset, a.Offset + 112)));
        Assert.That(pool.Allocations, Is.EqualTo(2));
        pool.Return(c);
        pool.Return(d);
        pool.Return(b);
        // All three merged back into one run, which ends at the high-water mark: a block one
        // cache line longer starts where the run does and moves the mark by that line.
        var e = pool.Rent(420);
        Assert.That(e.Offset, Is.EqualTo(a.Offset));
        Assert.That(pool.BytesAllocated, Is.EqualTo(432 * 4));
        Assert.That(pool.Allocations, Is.EqualTo(3));
        // More than the chunk has left: a second chunk.
        var f = pool.Rent(700);
        Assert.That(f.Array, Is.Not.SameAs(e.Array));
        Assert.That(pool.Allocations, Is.EqualTo(4));
        Assert.That((pool.Outstanding, pool.BytesOutstanding, pool.PeakBytesOutstanding), Is.EqualTo((2L, (432 + 704) * 4L, (432 + 704) * 4L)));
        pool.Return(e);
        pool.Return(f);
        Assert.Throws<InvalidOperationException>(() => pool.Return(f), "a block returned twice");
        pool.Trim();
        Assert.That(pool.BytesAllocated, Is.Zero);
    }

    [Test]
    public void PoolChunksAreBackedByHugePagesWhereLinuxOffersThem()
    {
        const string mode = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!File.Exists(mode) || File.ReadAllText(mode).Contains("[never]"))
            Assert.Ignore("this system offers no transparent huge pages");
        static long HugeKilobytes() => File.ReadLines("/proc/self/smaps_rollup")
            .Where(l => l.StartsWith("AnonHugePages:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).Single();
        long before = HugeKilobytes();
        // A 64 MB chunk of its own, 32 MB of it touched.
        var pool = new TensorPool<float>(chunkLength: 16 << 20);
        var block = pool.Rent(8 << 20);
        block.Span(block.Length).Fill(1f);
        long gained = HugeKilobytes() - before;
        pool.Return(block);
        Assert.That(gained, Is.GreaterThanOrEqualTo(16 << 10), "touching 32 MB of a chunk should map at least half of it in 2 MB pages");
    }

    [Test]
    public unsafe void TensorElementsStartOnACacheLineAndKeepTheirLength()
    {
        // Several lengths, so that arrays land at different offsets from a 64-byte boundary.
        foreach (int length in new[] { 1, 15, 16, 17, 1000, 12347 })
        {
            using var f = Tensor<float>.Empty(new Shape(length));
            using var d = Tensor<double>.Empty(new Shape(length));
            fixed (float* pf = f.Span) fixed (double* pd = d.Span)
            {
                Assert.That((long)pf % 64, Is.EqualTo(0L), $"float tensor of {length}");
                Assert.That((long)pd % 64, Is.EqualTo(0L), $"double tensor of {length}");
            }
            Assert.That(f.Span.Length, Is.EqualTo(length));
            Assert.That(d.Span.Length, Is.EqualTo(length));
            // The whole span is usable: writing its last element must not reach past the buffer.
            f.Span[^1] = 1f;
            d.Span[^1] = 1.0;
        }
    }

    [Test]
    public void GlorotUniformUsesKerasFansAndIsSeeded()
    {
        // Dense [in, out] and conv HWIO: limit = sqrt(6 / (fan_in + fan_out)).
        Assert.That(Initializers.Fans(new Shape(300, 100)), Is.EqualTo((300, 100)));
        Assert.That(Initializers.Fans(new Shape(3, 3, 64, 128)), Is.EqualTo((9 * 64, 9 * 128)));
        var w = Initializers.GlorotUniform<float>(new Shape(300, 100), new Rng(42));
        double limit = Math.Sqrt(6.0 / 400);
        var values = w.ToArray();
        Assert.That(values.Max(), Is.LessThanOrEqualTo(limit));
        Assert.That(values.Min(), Is.GreaterThanOrEqualTo(-limit));
        Assert.That(values.Max(), Is.GreaterThan(0.98 * limit), "samples should reach near the limit");
        Assert.That(values.Average(v => v), Is.EqualTo(0).Within(0.01));
        Assert.That(Initializers.GlorotUniform<float>(new Shape(300, 100), new Rng(42)).ToArray(), Is.EqualTo(values));
        Assert.That(Initializers.GlorotUniform<float>(new Shape(300, 100), new Rng(43)).ToArray(), Is.Not.EqualTo(values));
    }

    [Test]
    public void RngIsDeterministicAndNormalHasUnitVariance()
    {
        var a = new Rng(7);
        var b = new Rng(7);
        for (int i = 0; i < 10; i++) Assert.That(a.NextUInt64(), Is.EqualTo(b.NextUInt64()));
        var rng = new Rng(1);
        var samples = Enumerable.Range(0, 100_000).Select(_ => rng.Normal()).ToArray();
        double mean = samples.Average(), variance = samples.Select(v => (v - mean) * (v - mean)).Average();
        Assert.That(mean, Is.EqualTo(0).Within(0.02));
        Assert.That(variance, Is.EqualTo(1).Within(0.02));
    }
}
