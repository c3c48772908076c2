using Engine.Kernels.Cuda;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The CUDA context on a real GPU: copies, the self-check kernel on a large odd length, the
/// caching allocator, memset and error reporting. Skipped, with the reason, where there is no GPU.
/// </summary>
[NonParallelizable]
public class CudaDeviceTests
{
    CudaContext _context = null!;

    [SetUp]
    public void GetContext()
    {
        if (!CudaContext.TryGetDefault(out var context, out string reason))
            Assert.Ignore($"no CUDA device: {reason}");
        _context = context;
        // Device tensors dropped by earlier tests free their blocks when finalized: let that
        // happen now, not in the middle of a test that counts the allocator's bytes.
        TestData.SettleDroppedTensors();
    }

    const int Length = 1000003; // not a multiple of any block size

    [Test]
    public void AxpbFloatMatchesHostExactly()
    {
        var x = TestData.Random<float>(Length, 3, -100, 100);
        const float a = 0.7f, b = -3.25f;
        var y = RunAxpb(x, a, b, "axpb_f32");
        for (int i = 0; i < Length; i++)
            if (y[i] != MathF.FusedMultiplyAdd(a, x[i], b))
                Assert.Fail($"y[{i}] = {y[i]}, expected {MathF.FusedMultiplyAdd(a, x[i], b)}");
    }

    [Test]
    public void AxpbDoubleMatchesHostExactly()
    {
        var x = TestData.Random<double>(Length, 4, -100, 100);
        const double a = 0.7, b = -3.25;
        var y = RunAxpb(x, a, b, "axpb_f64");
        for (int i = 0; i < Length; i++)
            if (y[i] != Math.FusedMultiplyAdd(a, x[i], b))
                Assert.Fail($"y[{i}] = {y[i]}, expected {Math.FusedMultiplyAdd(a, x[i], b)}");
    }

    /// <summary>y = a * x + b on the GPU; <paramref name="a"/> and <paramref name="b"/> are T passed by value.</summary>
    T[] RunAxpb<T>(T[] x, KernelArg a, KernelArg b, string kernel) where T : unmanaged
    {
        long bytes = (long)x.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        ulong dx = _context.Allocate(bytes), dy = _context.Allocate(bytes);
        try
        {
            _context.CopyToDevice<T>(x, dx);
            var function = _context.GetFunction("selfcheck.cu", kernel);
            Assert.That(function.Name, Is.EqualTo(kernel));
            Assert.That(_context.GetFunction("selfcheck.cu", kernel), Is.SameAs(function), "functions are cached");
            // Fewer threads than elements: the grid-stride loop must cover the rest.
            _context.Launch(function, new Dim3(1024), new Dim3(256), 0, dx, dy, a, b, x.Length);
            var y = new T[x.Length];
            _context.CopyToHost<T>(dy, y);
            return y;
        }
        finally
        {
            _context.Free(dx);
            _context.Free(dy);
        }
    }

    [Test]
    public void FreedBlockIsReusedForTheSameSize()
    {
        long inUse = _context.BytesInUse;
        ulong first = _context.Allocate(1000);
        Assert.That(_context.BytesInUse, Is.EqualTo(inUse + 1024), "sizes round up to 512 bytes");
        _context.Free(first);
        Assert.That(_context.BytesInUse, Is.EqualTo(inUse));
        long reserved = _context.BytesReserved;
        ulong second = _context.Allocate(1000);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(_context.BytesReserved, Is.EqualTo(reserved), "a reused block takes nothing new from the driver");
        _context.Free(second);
        Assert.That(_context.BytesInUse, Is.EqualTo(inUse));
        Assert.Throws<ArgumentException>(() => _context.Free(second), "a double free is refused");
    }

    [Test]
    public void ReleasedCacheGoesBackToTheDriver()
    {
        ulong block = _context.Allocate(3 << 20);
        _context.Free(block);
        _context.ReleaseCachedMemory();
        Assert.That(_context.BytesReserved, Is.EqualTo(_context.BytesInUse));
    }

    [Test]
    public void Memset32FillsWordsAndCopiesMoveThem()
    {
        const int n = 4099;
        ulong a = _context.Allocate(n * sizeof(float)), b = _context.Allocate(n * sizeof(float));
        try
        {
            _context.Memset32(a, BitConverter.SingleToUInt32Bits(1.5f), n);
            _context.CopyDeviceToDevice(a, b, n * sizeof(float));
            _context.Memset32(a, 0, n - 1);
            var fromA = new float[n];
            var fromB = new float[n];
            _context.CopyToHost<float>(a, fromA);
            _context.CopyToHost<float>(b, fromB);
            Assert.That(fromB, Is.All.EqualTo(1.5f));
            Assert.That(fromA[..^1], Is.All.EqualTo(0f));
            Assert.That(fromA[^1], Is.EqualTo(1.5f));
        }
        finally
        {
            _context.Free(a);
            _context.Free(b);
        }
    }

    [Test]
    public void EventsTimeQueuedWork()
    {
        using var start = _context.RecordEvent();
        ulong block = _context.Allocate(1 << 24);
        _context.Memset32(block, 7, 1 << 22);
        using var end = _context.RecordEvent();
        float ms = CudaEvent.ElapsedMilliseconds(start, end);
        _context.Free(block);
        Assert.That(ms, Is.GreaterThanOrEqualTo(0f));
    }

    [Test]
    public void ErrorsSurfaceAsCudaExceptions()
    {
        var compile = Assert.Throws<CudaException>(() => _context.CompileFunction(
            "extern \"C\" __global__ void broken(float* y) { y[0] = not_declared; }", "broken.cu", "broken"))!;
        Assert.That(compile.Message, Does.Contain("not_declared"));
        var missing = Assert.Throws<CudaException>(() => _context.GetFunction("selfcheck.cu", "no_such_kernel"))!;
        Assert.That(missing.Message, Does.Contain("no_such_kernel"));
        Assert.Throws<ArgumentException>(() => _context.GetFunction("no-such-source.cu", "k"));
    }

    [Test]
    public void DescribesTheDevice()
    {
        Assert.That(_context.DeviceName, Is.Not.Empty);
        Assert.That(_context.ComputeCapability, Is.GreaterThanOrEqualTo(35));
        Assert.That(_context.MultiprocessorCount, Is.GreaterThan(0));
        Assert.That(_context.TotalMemoryBytes, Is.GreaterThan(0));
        _context.GetMemoryInfo(out long free, out long total);
        Assert.That(total, Is.EqualTo(_context.TotalMemoryBytes));
        Assert.That(free, Is.InRange(1, total));
    }

    [Test]
    public void AnyThreadMayUseTheContext()
    {
        var values = new float[] { 1, 2, 3 };
        var back = new float[3];
        Task.Run(() =>
        {
            ulong block = _context.Allocate(12);
            _context.CopyToDevice<float>(values, block);
            _context.CopyToHost<float>(block, back);
            _context.Free(block);
        }).Wait();
        Assert.That(back, Is.EqualTo(values));
    }
}
