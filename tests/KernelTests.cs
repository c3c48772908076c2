using System.Numerics;
using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Every SIMD kernel against its scalar reference, at both vector widths, on lengths that are
/// not multiples of the vector width (so the scalar tails run too).
/// </summary>
public class KernelTests
{
    static readonly int[] Lengths = [1, 3, 15, 16, 17, 33, 100, 1001];
    const double FloatTolerance = 1e-5;

    static void BothWidths(Action<bool> check)
    {
        check(true);
        check(false);
    }

    [Test]
    public void UnaryMapsMatchReference()
    {
        foreach (int n in Lengths)
        {
            var x = TestData.Random<float>(n, 1, -30, 30); // wide range: sigmoid saturates both ways
            MapCase<ReluOp<float>>(x, "relu");
            MapCase<SigmoidOp<float>>(x, "sigmoid");
        }
    }

    static void MapCase<TOp>(float[] x, string name) where TOp : IUnaryOp<float>
    {
        var expected = new float[x.Length];
        Elementwise.MapReference<float, TOp>(x, expected);
        var y512 = new float[x.Length];
        var y256 = new float[x.Length];
        Elementwise.Map<float, V512<float>, TOp>(x, y512);
        Elementwise.Map<float, V256<float>, TOp>(x, y256);
        TestData.AssertClose<float>(y512, expected, FloatTolerance, $"{name} 512 n={x.Length}");
        TestData.AssertClose<float>(y256, expected, FloatTolerance, $"{name} 256 n={x.Length}");
    }

    [TestCase(1), TestCase(7), TestCase(33)]
    public void BinaryOpsBroadcastTheRepeatingOperand(int repeatLength)
    {
        foreach (int rows in new[] { 1, 3, 13 })
        {
            var a = TestData.Random<float>(rows * repeatLength, 2);
            var b = TestData.Random<float>(repeatLength, 3);
            BinaryCase<AddOp<float>>(a, b);
            BinaryCase<SubtractOp<float>>(a, b);
            BinaryCase<ReverseSubtractOp<float>>(a, b);
            BinaryCase<MultiplyOp<float>>(a, b);
            AccumulateCase<MultiplyOp<float>>(a, b);
        }
    }

    [Test]
    public void ActivationBackwardsMatchReference()
    {
        foreach (int n in Lengths)
        {
            var dy = TestData.Random<float>(n, 4);
            var y = TestData.Random<float>(n, 5, -1, 1);
            AccumulateCase<ReluBackwardOp<float>>(dy, y);
            AccumulateCase<SigmoidBackwardOp<float>>(dy, y);
        }
    }

    static void BinaryCase<TOp>(float[] a, float[] b) where TOp : IBinaryOp<float>
    {
        var expected = new float[a.Length];
        Elementwise.BinaryReference<float, TOp>(a, b, expected);
        var y = new float[a.Length];
        Elementwise.Binary<float, V512<float>, TOp>(a, b, y);
        TestData.AssertClose<float>(y, expected, FloatTolerance, typeof(TOp).Name + " 512");
        Elementwise.Binary<float, V256<float>, TOp>(a, b, y);
        TestData.AssertClose<float>(y, expected, FloatTolerance, typeof(TOp).Name + " 256");
    }

    static void AccumulateCase<TOp>(float[] a, float[] b) where TOp : IBinaryOp<float>
    {
        var start = TestData.Random<float>(a.Length, 6);
        var expected = (float[])start.Clone();
        Elementwise.BinaryAccumulateReference<float, TOp>(a, b, expected);
        var acc = (float[])start.Clone();
        Elementwise.BinaryAccumulate<float, V512<float>, TOp>(a, b, acc);
        TestData.AssertClose<float>(acc, expected, FloatTolerance, typeof(TOp).Name + " accumulate 512");
        acc = (float[])start.Clone();
        Elementwise.BinaryAccumulate<float, V256<float>, TOp>(a, b, acc);
        TestData.AssertClose<float>(acc, expected, FloatTolerance, typeof(TOp).Name + " accumulate 256");
    }

    [Test]
    public void AxpyScaleAndSumMatchReference()
    {
        foreach (int n in Lengths)
        {
            var x = TestData.Random<float>(n, 7);
            var y0 = TestData.Random<float>(n, 8);
            var expected = (float[])y0.Clone();
            Elementwise.AxpyReference(0.37f, x, expected);
            var y = (float[])y0.Clone();
            Elementwise.Axpy<float, V512<float>>(0.37f, x, y);
            TestData.AssertClose<float>(y, expected, FloatTolerance, $"axpy 512 n={n}");
            y = (float[])y0.Clone();
            Elementwise.Axpy<float, V256<float>>(0.37f, x, y);
            TestData.AssertClose<float>(y, expected, FloatTolerance, $"axpy 256 n={n}");

            var expectedScaled = (float[])y0.Clone();
            Elementwise.ScaleReference(-1.7f, expectedScaled);
            foreach (bool wide in new[] { true, false })
            {
                var scaled = (float[])y0.Clone();
                if (wide) Elementwise.Scale<float, V512<float>>(-1.7f, scaled); else Elementwise.Scale<float, V256<float>>(-1.7f, scaled);
                TestData.AssertClose<float>(scaled, expectedScaled, FloatTolerance, $"scale wide={wide} n={n}");
            }

            double reference = Reductions.SumReference<double>(x.Select(v => (double)v).ToArray());
            foreach (float s in new[] { Reductions.Sum<float, V512<float>>(x), Reductions.Sum<float, V256<float>>(x) })
                Assert.That(s, Is.EqualTo(reference).Within(1e-5 * Math.Max(1, Math.Abs(reference))), $"sum n={n}");
        }
    }

    [Test]
    public void TeamFillAndAxpyCoverEveryElement()
    {
        // Long enough to be split over the team, with a length that does not divide evenly.
        int n = 200_003;
        var x = TestData.Random<float>(n, 30);
        var y0 = TestData.Random<float>(n, 31);
        var expected = (float[])y0.Clone();
        Elementwise.AxpyReference(-0.5f, x, expected);
        var y = (float[])y0.Clone();
        Elementwise.AxpyOnTeam(-0.5f, x, y);
        Assert.That(y, Is.EqualTo(expected));
        Elementwise.FillOnTeam<float>(y, 2.5f);
        Assert.That(y, Is.All.EqualTo(2.5f));
    }

    [TestCase(1, 7, 5), TestCase(3, 13, 17), TestCase(2, 1, 33)]
    public void SumOverAnAxisMatchesReference(int outer, int axis, int inner)
    {
        var x = TestData.Random<float>(outer * axis * inner, 9);
        var start = TestData.Random<float>(outer * inner, 10);
        var expected = (float[])start.Clone();
        Reductions.SumAxisAccumulateReference<float>(x, outer, axis, inner, 0.5f, expected);
        var y = (float[])start.Clone();
        Reductions.SumAxisAccumulate<float>(x, outer, axis, inner, 0.5f, y);
        TestData.AssertClose<float>(y, expected, FloatTolerance, "sum axis");
    }

    // Column sums of [rows, columns] (the bias gradient) on the team: 83 = 64 + 16 + 3 columns
    // (a four-vector block, a single vector and a tail at 16 wide), rows over several chunks.
    [TestCase(4099, 83), TestCase(300, 8), TestCase(2, 4)]
    public void ColumnSumsMatchAFloat64Reference(int rows, int columns)
    {
        var x = TestData.Random<float>(rows * columns, 12);
        var start = TestData.Random<float>(columns, 13);
        var y = (float[])start.Clone();
        Reductions.SumAxisAccumulate<float>(x, 1, rows, columns, 0.5f, y);
        for (int c = 0; c < columns; c++)
        {
            double sum = 0, magnitude = 0;
            for (int r = 0; r < rows; r++) { sum += x[r * columns + c]; magnitude += Math.Abs(x[r * columns + c]); }
            double expected = start[c] + 0.5 * sum;
            // Rounding grows with the terms' magnitudes, not with the (possibly cancelling) sum.
            Assert.That(Math.Abs(y[c] - expected), Is.LessThanOrEqualTo(1e-6 * (0.5 * magnitude + Math.Abs(start[c]))), $"column {c}");
        }
    }

    [TestCase(6), TestCase(17), TestCase(40)]
    public void SoftmaxAndCrossEntropyMatchReference(int classes)
    {
        int rows = 5;
        var logits = TestData.Random<float>(rows * classes, 11, -20, 20);
        var targets = new float[rows * classes];
        for (int r = 0; r < rows; r++) targets[r * classes + (r * 7) % classes] = 1;

        var expected = new float[logits.Length];
        Softmax.ForwardReference<float>(logits, classes, expected);
        foreach (bool wide in new[] { true, false })
        {
            var p = new float[logits.Length];
            if (wide) Softmax.Forward<float, V512<float>>(logits, classes, p); else Softmax.Forward<float, V256<float>>(logits, classes, p);
            TestData.AssertClose<float>(p, expected, FloatTolerance, $"softmax wide={wide}");

            var p2 = new float[logits.Length];
            float loss = wide
                ? Softmax.CrossEntropyForward<float, V512<float>>(logits, targets, classes, p2)
                : Softmax.CrossEntropyForward<float, V256<float>>(logits, targets, classes, p2);
            var pRef = new float[logits.Length];
            float lossRef = Softmax.CrossEntropyForwardReference<float>(logits, targets, classes, pRef);
            Assert.That(loss, Is.EqualTo(lossRef).Within(1e-5 * Math.Abs(lossRef)), "cross-entropy");
            TestData.AssertClose<float>(p2, pRef, FloatTolerance, "cross-entropy probabilities");
        }
    }

    [Test]
    public void CrossEntropyStaysFiniteForHugeLogits()
    {
        float[] logits = [1000f, -1000f, 0f];
        float[] targets = [0f, 1f, 0f];
        var p = new float[3];
        float loss = Softmax.CrossEntropyForward<float>(logits, targets, 3, p);
        Assert.That(loss, Is.EqualTo(2000f).Within(1e-3f));
        Assert.That(p, Is.EqualTo(new[] { 1f, 0f, 0f }));
    }

    [Test]
    public void OptimizerKernelsMatchReference()
    {
        foreach (int n in Lengths)
        {
            var g = TestData.Random<float>(n, 12);
            var w0 = TestData.Random<float>(n, 13);
            var m0 = TestData.Random<float>(n, 14, -0.1, 0.1);
            var v0 = TestData.Random<float>(n, 15, 0, 0.1);
            foreach (bool wide in new[] { true, false })
            {
                float[] w = (float[])w0.Clone(), m = (float[])m0.Clone(), v = (float[])v0.Clone();
                float[] we = (float[])w0.Clone(), me = (float[])m0.Clone(), ve = (float[])v0.Clone();
                if (wide) OptimizerKernels.Adam<float, V512<float>>(w, g, m, v, 0.01f, 0.9f, 0.999f, 1e-7f);
                else OptimizerKernels.Adam<float, V256<float>>(w, g, m, v, 0.01f, 0.9f, 0.999f, 1e-7f);
                OptimizerKernels.AdamReference<float>(we, g, me, ve, 0.01f, 0.9f, 0.999f, 1e-7f);
                TestData.AssertClose<float>(w, we, FloatTolerance, $"adam w n={n}");
                TestData.AssertClose<float>(m, me, FloatTolerance, "adam m");
                TestData.AssertClose<float>(v, ve, FloatTolerance, "adam v");

                foreach (bool nesterov in new[] { false, true })
                {
                    float[] ws = (float[])w0.Clone(), us = (float[])m0.Clone();
                    float[] wr = (float[])w0.Clone(), ur = (float[])m0.Clone();
                    if (wide) OptimizerKernels.Sgd<float, V512<float>>(ws, g, us, 0.1f, 0.9f, nesterov);
                    else OptimizerKernels.Sgd<float, V256<float>>(ws, g, us, 0.1f, 0.9f, nesterov);
                    OptimizerKernels.SgdReference<float>(wr, g, ur, 0.1f, 0.9f, nesterov);
                    TestData.AssertClose<float>(ws, wr, FloatTolerance, $"sgd nesterov={nesterov}");
                    TestData.AssertClose<float>(us, ur, FloatTolerance, "sgd velocity");
                }
            }
        }
    }

    [Test]
    public void ThreadTeamRunsEveryMemberAndMeetsAtBarriers()
    {
        var team = new ThreadTeam(3);
        var job = new CountingJob();
        for (int round = 0; round < 50; round++) team.Run(job);
        Assert.That(job.Calls, Is.EqualTo(150));
        Assert.That(job.BarrierViolations, Is.Zero);
    }

    sealed class CountingJob : TeamJob
    {
        int _calls, _phaseA;
        public int Calls => _calls;
        public int BarrierViolations;

        public override void Execute(int threadIndex, int threadCount, ThreadTeam team)
        {
            Interlocked.Increment(ref _calls);
            Interlocked.Increment(ref _phaseA);
            team.Barrier();
            // Past the barrier every member of this round has incremented phase A.
            if (Volatile.Read(ref _phaseA) % threadCount != 0) Interlocked.Increment(ref BarrierViolations);
            team.Barrier();
        }
    }
}
