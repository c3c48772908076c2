using Engine.Autograd;
using Engine.Kernels;
using Engine.Layers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

public class BatchNormTests
{
    /// <summary>
    /// Float32 sums against float64 references, the error measured against the sum of the
    /// terms' magnitudes (rounding grows with it; the result itself may cancel to near zero).
    /// </summary>
    static void AssertSumsClose(float[] actual, double[] expected, double[] magnitude, string what)
    {
        for (int c = 0; c < actual.Length; c++)
            Assert.That(Math.Abs(actual[c] - expected[c]), Is.LessThanOrEqualTo(1e-6 * magnitude[c] + 1e-30), $"{what}, channel {c}");
    }

    /// <summary>Per channel, the sums of |first| and |second| terms TT makes (see BatchNorm.TwoSums).</summary>
    static (double[] First, double[] Second) Magnitudes<TT>(double[] p, double[] q, double[] center, int channels, double[]? gate = null)
        where TT : BatchNorm.ITwoTerms<double>
    {
        double[] first = new double[channels], second = new double[channels];
        for (int i = 0; i < p.Length; i++)
        {
            int c = i % channels;
            var (a, b) = TT.Terms(gate != null && !(gate[i] > 0) ? 0 : p[i], q[i], center[c]);
            first[c] += Math.Abs(a);
            second[c] += Math.Abs(b);
        }
        return (first, second);
    }

    // 1200 and 7200 rows run on the whole team (per-member partial sums).
    [TestCase(1, 3), TestCase(37, 17), TestCase(96, 33), TestCase(225, 64), TestCase(1200, 19), TestCase(7200, 64)]
    public void TrainingForwardMatchesTheTextbookFormula(int rows, int channels)
    {
        var x = TestData.Random<float>(rows * channels, 1, -2, 3);
        var gamma = TestData.Random<float>(channels, 2, 0.5, 1.5);
        var beta = TestData.Random<float>(channels, 3);
        var expected = new double[x.Length];
        BatchNorm.ForwardTrainingReference<double>(x.Select(v => (double)v).ToArray(), channels,
            gamma.Select(v => (double)v).ToArray(), beta.Select(v => (double)v).ToArray(), 1e-3, expected);
        var y = new float[x.Length];
        float[] mm = new float[channels], mv = Enumerable.Repeat(1f, channels).ToArray(), mean = new float[channels], invStd = new float[channels];
        BatchNorm.ForwardTraining<float>(x, channels, gamma, beta, 0.99f, 1e-3f, mm, mv, mean, invStd, y);
        // rows == 1: every x equals its mean, y = beta exactly.
        for (int i = 0; i < y.Length; i++) Assert.That(y[i], Is.EqualTo(expected[i]).Within(2e-5 * Math.Max(1, Math.Abs(expected[i]))), $"y[{i}]");
    }

    [TestCase(5, 3), TestCase(1200, 19), TestCase(7200, 64)]
    public void TrainingBackwardMatchesTheTextbookFormula(int rows, int channels)
    {
        var x = TestData.Random<double>(rows * channels, 11, -2, 3);
        var dy = TestData.Random<double>(rows * channels, 12);
        var gamma = TestData.Random<double>(channels, 13, 0.5, 1.5);
        var beta = new double[channels];
        double[] expectedDx = new double[x.Length], expectedDGamma = new double[channels], expectedDBeta = new double[channels];
        BatchNorm.BackwardTrainingReference<double>(x, dy, channels, gamma, 1e-3, expectedDx, expectedDGamma, expectedDBeta);

        double[] mm = new double[channels], mv = new double[channels], mean = new double[channels], invStd = new double[channels], y = new double[x.Length];
        BatchNorm.ForwardTraining<double>(x, channels, gamma, beta, 0.99, 1e-3, mm, mv, mean, invStd, y);
        double[] dx = new double[x.Length], dGamma = new double[channels], dBeta = new double[channels];
        BatchNorm.Backward<double>(x, dy, channels, gamma, mean, invStd, training: true, dx, dGamma, dBeta);
        TestData.AssertClose<double>(dx, expectedDx, 1e-9, "dx");
        TestData.AssertClose<double>(dGamma, expectedDGamma, 1e-9, "dGamma");
        TestData.AssertClose<double>(dBeta, expectedDBeta, 1e-9, "dBeta");
    }

    // 37 channels: vector tails only; 83 = 64 + 16 + 3 at 16 wide (a four-vector block, a single
    // vector and a tail) over 203 rows, more than one row chunk of the sums.
    [TestCase(7, 37)]
    [TestCase(203, 83)]
    public void SimdRowKernelsMatchScalarReferencesAtBothWidths(int rows, int channels)
    {
        var p = TestData.Random<float>(rows * channels, 4);
        var q = TestData.Random<float>(rows * channels, 5);
        var m = TestData.Random<float>(channels, 6);
        var a = TestData.Random<float>(channels, 7);
        var b = TestData.Random<float>(channels, 8);
        var e = TestData.Random<float>(channels, 9);
        var expectedOut = new double[rows * channels];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < channels; c++)
            {
                int i = r * channels + c;
                expectedOut[i] = (double)a[c] * p[i] + (double)b[c] * q[i] + e[c];
            }
        // The sums' references run in float64: over hundreds of rows a float32 scalar sum is
        // itself off by more than the tolerance.
        double[] pd = [.. p.Select(v => (double)v)], qd = [.. q.Select(v => (double)v)], md = [.. m.Select(v => (double)v)];
        double[] m1 = new double[channels], m2 = new double[channels], g1 = new double[channels], g2 = new double[channels];
        BatchNorm.TwoSumsReference<double, BatchNorm.MomentsTerms<double>>(pd, pd, md, channels, m1, m2);
        BatchNorm.TwoSumsReference<double, BatchNorm.GradientTerms<double>>(pd, qd, md, channels, g1, g2);
        var momentsSize = Magnitudes<BatchNorm.MomentsTerms<double>>(pd, pd, md, channels);
        var gradientSize = Magnitudes<BatchNorm.GradientTerms<double>>(pd, qd, md, channels);
        var gatedSize = Magnitudes<BatchNorm.GradientTerms<double>>(pd, qd, md, channels, gate: qd);
        foreach (bool wide in new[] { true, false })
        {
            float[] f1 = new float[channels], f2 = new float[channels], h1 = new float[channels], h2 = new float[channels];
            var output = new float[rows * channels];
            if (wide)
            {
                BatchNorm.TwoSums<float, V512<float>, BatchNorm.MomentsTerms<float>>(p, p, m, channels, f1, f2);
                BatchNorm.TwoSums<float, V512<float>, BatchNorm.GradientTerms<float>>(p, q, m, channels, h1, h2);
                BatchNorm.Affine<float, V512<float>>(p, q, channels, a, b, e, output);
            }
            else
            {
                BatchNorm.TwoSums<float, V256<float>, BatchNorm.MomentsTerms<float>>(p, p, m, channels, f1, f2);
                BatchNorm.TwoSums<float, V256<float>, BatchNorm.GradientTerms<float>>(p, q, m, channels, h1, h2);
                BatchNorm.Affine<float, V256<float>>(p, q, channels, a, b, e, output);
            }
            AssertSumsClose(f1, m1, momentsSize.First, $"shifted sums wide={wide}");
            AssertSumsClose(f2, m2, momentsSize.Second, $"shifted squares wide={wide}");
            AssertSumsClose(h1, g1, gradientSize.First, $"gradient sums wide={wide}");
            AssertSumsClose(h2, g2, gradientSize.Second, $"gradient products wide={wide}");
            for (int i = 0; i < output.Length; i++) Assert.That(output[i], Is.EqualTo(expectedOut[i]).Within(1e-5), $"affine wide={wide}");

            // Overwriting (the forward's y = x * scale + shift): whatever was in the output is
            // ignored, and with no b the q term is gone.
            var overwritten = Enumerable.Repeat(float.NaN, rows * channels).ToArray();
            if (wide) BatchNorm.Affine<float, V512<float>>(p, default, channels, a, default, e, overwritten, accumulate: false);
            else BatchNorm.Affine<float, V256<float>>(p, default, channels, a, default, e, overwritten, accumulate: false);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < channels; c++)
                    Assert.That(overwritten[r * channels + c], Is.EqualTo((double)a[c] * p[r * channels + c] + e[c]).Within(1e-5), $"overwriting affine wide={wide}");

            // Gated by q (the fused ReLU's mask), and with the output clamped at zero.
            float[] k1 = new float[channels], k2 = new float[channels];
            double[] r1 = new double[channels], r2 = new double[channels];
            BatchNorm.TwoSumsReference<double, BatchNorm.GradientTerms<double>>(pd, qd, md, channels, r1, r2, gate: qd);
            var gatedOut = new float[rows * channels];
            if (wide)
            {
                BatchNorm.TwoSums<float, V512<float>, BatchNorm.GradientTerms<float>>(p, q, m, channels, k1, k2, gate: q);
                BatchNorm.Affine<float, V512<float>>(p, q, channels, a, b, e, gatedOut, gate: q, relu: true);
            }
            else
            {
                BatchNorm.TwoSums<float, V256<float>, BatchNorm.GradientTerms<float>>(p, q, m, channels, k1, k2, gate: q);
                BatchNorm.Affine<float, V256<float>>(p, q, channels, a, b, e, gatedOut, gate: q, relu: true);
            }
            AssertSumsClose(k1, r1, gatedSize.First, $"gated sums wide={wide}");
            AssertSumsClose(k2, r2, gatedSize.Second, $"gated products wide={wide}");
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < channels; c++)
                {
                    int i = r * channels + c;
                    double expected = Math.Max(0, (q[i] > 0 ? (double)a[c] * p[i] : 0) + (double)b[c] * q[i] + e[c]);
                    Assert.That(gatedOut[i], Is.EqualTo(expected).Within(1e-5), $"gated relu affine wide={wide}");
                }
        }
    }

    /// <summary>batch 40 of 4x4x6: 640 rows, enough for the team's split paths.</summary>
    static IEnumerable<TestCaseData> FusedCases() =>
        from residual in new[] { false, true }
        from training in new[] { true, false }
        from batch in new[] { 2, 40 }
        select new TestCaseData(training, batch, residual).SetName($"Fused BN{(residual ? " + Add" : "")} + ReLU training={training} batch={batch}");

    [TestCaseSource(nameof(FusedCases))]
    public void FusedBatchNormOpsMatchTheSeparateOps(bool training, int batch, bool residual)
    {
        var shape = new Shape(batch, 4, 4, 6);
        var x0 = TestData.RandomTensor(1, shape.ToArray());
        var r0 = TestData.RandomTensor(7, shape.ToArray());
        var upstream = TestData.RandomTensor(2, shape.ToArray());
        var results = new List<double[][]>();
        foreach (bool fused in new[] { false, true })
        {
            var x = new Variable<double>(x0.Clone(), requiresGrad: true);
            var r = new Variable<double>(r0.Clone(), requiresGrad: true);
            var gamma = new Variable<double>(TestData.RandomTensor(3, 6), requiresGrad: true);
            var beta = new Variable<double>(TestData.RandomTensor(4, 6), requiresGrad: true);
            var mm = TestData.RandomTensor(5, 6);
            var mv = Tensor<double>.FromArray(TestData.Random<double>(6, 6, 0.5, 2), new Shape(6));
            double[] y;
            using (var tape = new Tape())
            {
                var output = (fused, residual) switch
                {
                    (true, false) => Ops.BatchNormRelu(x, gamma, beta, mm, mv, training),
                    (true, true) => Ops.BatchNormAddRelu(x, gamma, beta, mm, mv, training, r),
                    (false, false) => Ops.Relu(Ops.BatchNorm(x, gamma, beta, mm, mv, training)),
                    (false, true) => Ops.Relu(Ops.Add(Ops.BatchNorm(x, gamma, beta, mm, mv, training), r)),
                };
                y = output.Value.ToArray();
                tape.Backward(output, upstream);
            }
            results.Add([y, x.Grad!.ToArray(), gamma.Grad!.ToArray(), beta.Grad!.ToArray(), residual ? r.Grad!.ToArray() : [], mm.ToArray(), mv.ToArray()]);
        }
        Assert.That(results[1][0].Count(v => v == 0), Is.GreaterThan(results[1][0].Length / 5), "the ReLU should close on a good share of outputs");
        string[] names = ["y", "dx", "dGamma", "dBeta", "dResidual", "moving mean", "moving variance"];
        for (int i = 0; i < names.Length; i++) TestData.AssertClose<double>(results[1][i], results[0][i], i == 0 ? 1e-12 : 1e-10, names[i]);
    }

    [TestCase(true, false), TestCase(false, false), TestCase(true, true), TestCase(false, true)]
    public void FusedBatchNormOpsGradientCheck(bool training, bool residual)
    {
        var x = new Variable<double>(TestData.RandomTensor(11, 2, 3, 4, 5), requiresGrad: true, name: "x");
        var r = new Variable<double>(TestData.RandomTensor(16, 2, 3, 4, 5), requiresGrad: true, name: "residual");
        var gamma = new Variable<double>(TestData.RandomTensor(12, 5), requiresGrad: true, name: "gamma");
        var beta = new Variable<double>(TestData.RandomTensor(13, 5), requiresGrad: true, name: "beta");
        var movingMean = TestData.RandomTensor(14, 5);
        var movingVariance = Tensor<double>.FromArray(TestData.Random<double>(5, 15, 0.5, 2), new Shape(5));
        var report = residual
            ? Autograd.GradientCheck.Run(() => Ops.BatchNormAddRelu(x, gamma, beta, movingMean, movingVariance, training, r), [x, gamma, beta, r])
            : Autograd.GradientCheck.Run(() => Ops.BatchNormRelu(x, gamma, beta, movingMean, movingVariance, training), [x, gamma, beta]);
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }

    [Test]
    public void OnePassVarianceKeepsItsDigitsForAFarOffMean()
    {
        // Mean 1000, standard deviation 0.01: sum(x^2) - sum(x)^2 would lose every digit in float.
        int rows = 4096, channels = 3;
        var x = TestData.Random<float>(rows * channels, 21, -0.01 * Math.Sqrt(3), 0.01 * Math.Sqrt(3)).Select(v => v + 1000f).ToArray();
        double[] xd = x.Select(v => (double)v).ToArray();
        float[] mm = new float[channels], mv = new float[channels], mean = new float[channels], invStd = new float[channels], y = new float[x.Length];
        float[] gamma = [1, 1, 1], beta = [0, 0, 0];
        BatchNorm.ForwardTraining<float>(x, channels, gamma, beta, 0f, 1e-6f, mm, mv, mean, invStd, y);
        for (int c = 0; c < channels; c++)
        {
            double mu = 0, variance = 0;
            for (int r = 0; r < rows; r++) mu += xd[r * channels + c];
            mu /= rows;
            for (int r = 0; r < rows; r++) variance += (xd[r * channels + c] - mu) * (xd[r * channels + c] - mu);
            variance /= rows;
            Assert.That(mv[c], Is.EqualTo(variance).Within(0.01 * variance), $"variance of channel {c}");
        }
    }

    [Test]
    public void MovingStatisticsFollowKeras()
    {
        var bn = new BatchNormalization<double>(name: "bn") { Training = true };
        var x = Tensor<double>.FromArray([1, 10, 3, 20, 5, 30, 7, 40], new Shape(2, 2, 1, 2));
        using (Tape.Inference()) bn.Call(new Variable<double>(x));
        // Channel 0: mean 4, biased variance 5; channel 1: mean 25, variance 125.
        Assert.That(bn.MovingMean.ToArray(), Is.EqualTo(new[] { 0.01 * 4, 0.01 * 25 }).Within(1e-12));
        Assert.That(bn.MovingVariance.ToArray(), Is.EqualTo(new[] { 0.99 + 0.01 * 5, 0.99 + 0.01 * 125 }).Within(1e-12));
        Assert.That(bn.State.Select(s => s.Name), Is.EqualTo(new[] { "bn/moving_mean", "bn/moving_variance" }));
        Assert.That(bn.Parameters.Select(p => p.Name), Is.EqualTo(new[] { "bn/gamma", "bn/beta" }));

        // Inference uses the moving statistics and leaves them alone.
        bn.Training = false;
        Variable<double> y;
        using (var tape = Tape.Inference())
        {
            y = bn.Call(new Variable<double>(x));
            tape.Keep(y);
        }
        Assert.That(y.Value[0, 0, 0, 0], Is.EqualTo((1 - 0.04) / Math.Sqrt(1.04 + 1e-3)).Within(1e-12));
        Assert.That(bn.MovingMean.ToArray(), Is.EqualTo(new[] { 0.04, 0.25 }).Within(1e-12));
    }

    [TestCase(true), TestCase(false)]
    public void GradientCheck(bool training)
    {
        var x = new Variable<double>(TestData.RandomTensor(1, 2, 3, 4, 5), requiresGrad: true, name: "x");
        var gamma = new Variable<double>(TestData.RandomTensor(2, 5), requiresGrad: true, name: "gamma");
        var beta = new Variable<double>(TestData.RandomTensor(3, 5), requiresGrad: true, name: "beta");
        var movingMean = TestData.RandomTensor(4, 5);
        var movingVariance = Tensor<double>.FromArray(TestData.Random<double>(5, 5, 0.5, 2), new Shape(5));
        // Training-mode passes update the moving statistics, but the training output never reads
        // them, so the checker's repeated forward passes all see the same function.
        var report = Autograd.GradientCheck.Run(() => Ops.BatchNorm(x, gamma, beta, movingMean, movingVariance, training), [x, gamma, beta]);
        TestContext.Out.WriteLine(report);
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }
}
