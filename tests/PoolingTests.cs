using Engine.Autograd;
using Engine.Kernels;
using Engine.Layers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

public class PoolingTests
{
    static IEnumerable<TestCaseData> Cases()
    {
        // batch, H, W, C, pool, stride: channels not multiples of 16, batch 1 and 3, strides 1 and 2.
        int[][] cases = [[1, 7, 9, 3, 3, 2], [3, 8, 8, 17, 2, 2], [3, 9, 7, 33, 3, 1], [1, 5, 5, 1, 2, 1], [3, 32, 32, 20, 3, 2]];
        foreach (var c in cases) yield return new TestCaseData(c[0], c[1], c[2], c[3], c[4], c[5]).SetName($"Pool n{c[0]} {c[1]}x{c[2]}x{c[3]} p{c[4]} s{c[5]}");
    }

    [TestCaseSource(nameof(Cases))]
    public void SimdForwardsMatchReferences(int batch, int h, int w, int c, int pool, int stride)
    {
        var g = ConvGeometry.Create(batch, h, w, c, pool, pool, stride, stride, "valid");
        var x = TestData.Random<float>(g.InputLength, 4);
        int outLength = g.Rows * c;
        var expectedMax = new float[outLength];
        var expectedAvg = new float[outLength];
        Pooling.MaxForwardReference<float>(g, x, expectedMax);
        Pooling.AverageForwardReference<float>(g, x, expectedAvg);
        var y = new float[outLength];
        Pooling.MaxForward<float, V512<float>>(g, x, y);
        Assert.That(y, Is.EqualTo(expectedMax), "max 512");
        Pooling.MaxForward<float, V256<float>>(g, x, y);
        Assert.That(y, Is.EqualTo(expectedMax), "max 256");
        Pooling.MaxForward<float>(g, x, y);
        Assert.That(y, Is.EqualTo(expectedMax), "max on the team");
        Pooling.AverageForward<float>(g, x, y);
        TestData.AssertClose<float>(y, expectedAvg, 1e-5, "average on the team");
        Pooling.AverageForward<float, V512<float>>(g, x, y);
        TestData.AssertClose<float>(y, expectedAvg, 1e-5, "average 512");
        Pooling.AverageForward<float, V256<float>>(g, x, y);
        TestData.AssertClose<float>(y, expectedAvg, 1e-5, "average 256");

        // Backward, with ties: a third of the inputs zeroed (as after a ReLU) so windows hold
        // several equal maxima and the gradient must still land on exactly one of them.
        for (int i = 0; i < x.Length; i += 3) x[i] = 0;
        for (int i = 1; i < x.Length; i += 3) x[i] = Math.Min(x[i], 0);
        Pooling.MaxForwardReference<float>(g, x, expectedMax);
        var dy = TestData.Random<float>(outLength, 5);
        var dxStart = TestData.Random<float>(x.Length, 6);
        var expectedDx = (float[])dxStart.Clone();
        Pooling.MaxBackwardAccumulateReference<float>(g, x, expectedMax, dy, expectedDx);
        foreach (string path in new[] { "512", "256", "team" })
        {
            var dx = (float[])dxStart.Clone();
            if (path == "512") Pooling.MaxBackwardAccumulate<float, V512<float>>(g, x, expectedMax, dy, dx);
            else if (path == "256") Pooling.MaxBackwardAccumulate<float, V256<float>>(g, x, expectedMax, dy, dx);
            else Pooling.MaxBackwardAccumulate<float>(g, x, expectedMax, dy, dx);
            Assert.That(dx, Is.EqualTo(expectedDx), $"max backward ({path})");
        }
        Assert.That(expectedDx.Sum() - dxStart.Sum(), Is.EqualTo(dy.Sum()).Within(1e-3), "each gradient lands exactly once");
    }

    /// <summary>Distinct values 0.01 apart, shuffled: no ties, and far more than 4h apart.</summary>
    static Tensor<double> WithoutTies(ulong seed, params int[] shape)
    {
        var s = new Shape(shape);
        var order = Enumerable.Range(0, s.Size).ToArray();
        new Rng(seed).Shuffle(order);
        return Tensor<double>.FromArray(order.Select(i => (i - s.Size / 2) * 0.01).ToArray(), s);
    }

    [TestCase(2, 2), TestCase(3, 2), TestCase(3, 1)]
    public void MaxPoolGradientCheck(int pool, int stride)
    {
        var report = Autograd.GradientCheck.Run(v => Ops.MaxPool2D(v[0], (pool, pool), (stride, stride)), WithoutTies(1, 2, 7, 6, 3));
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }

    [TestCase(2, 2), TestCase(3, 2), TestCase(2, 1)]
    public void AveragePoolGradientCheck(int pool, int stride)
    {
        var report = Autograd.GradientCheck.Run(v => Ops.AveragePool2D(v[0], (pool, pool), (stride, stride)), TestData.RandomTensor(1, 2, 6, 5, 3));
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }

    [Test]
    public void ZeroPaddingGradientCheckAndValues()
    {
        var report = Autograd.GradientCheck.Run(v => Ops.ZeroPad2D(v[0], (1, 2), (3, 0)), TestData.RandomTensor(1, 2, 3, 4, 2));
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());

        var x = new Variable<float>(Tensor<float>.Ones(new Shape(1, 2, 2, 1)));
        var y = Ops.ZeroPad2D(x, (1, 0), (0, 1));
        Assert.That(y.Shape, Is.EqualTo(new Shape(1, 3, 3, 1)));
        Assert.That(y.Value.ToArray(), Is.EqualTo(new float[] { 0, 0, 0, 1, 1, 0, 1, 1, 0 }));
    }

    [Test]
    public void MaxPoolRoutesTheGradientToTheMaximum()
    {
        var x = new Variable<float>(Tensor<float>.FromArray([1, 5, 3, 2], new Shape(1, 2, 2, 1)), requiresGrad: true);
        using (var tape = new Tape())
        {
            var y = Ops.MaxPool2D(x, (2, 2), (2, 2));
            Assert.That(y.Value.ToArray(), Is.EqualTo(new[] { 5f }));
            tape.Backward(Ops.Sum(y));
        }
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 1f, 0f, 0f }));
    }

    [Test]
    public void StemShapesAsTheAssignmentPrintsThem()
    {
        // 64x64x3 -> ZeroPadding2D(3) -> 70x70x3 -> conv1 7x7/2 -> 32x32x64 -> MaxPooling2D(3, 2) -> 15x15x64;
        // the last stage's 2x2x2048 -> AveragePooling2D(2) -> 1x1x2048 -> Flatten -> 2048.
        using var tape = Tape.Inference();
        var x = new Variable<float>(Tensor<float>.Zeros(new Shape(2, 64, 64, 3)));
        var padded = new ZeroPadding2D<float>((3, 3)).Call(x);
        Assert.That(padded.Shape, Is.EqualTo(new Shape(2, 70, 70, 3)));
        var conv = new Conv2D<float>(64, 7, strides: 2, name: "conv1").Call(padded);
        Assert.That(conv.Shape, Is.EqualTo(new Shape(2, 32, 32, 64)));
        var pooled = new MaxPooling2D<float>(3, strides: 2).Call(conv);
        Assert.That(pooled.Shape, Is.EqualTo(new Shape(2, 15, 15, 64)));

        var last = new Variable<float>(Tensor<float>.Zeros(new Shape(2, 2, 2, 2048)));
        var avg = new AveragePooling2D<float>(2, name: "avg_pool").Call(last);
        Assert.That(avg.Shape, Is.EqualTo(new Shape(2, 1, 1, 2048)));
        Assert.That(new Flatten<float>().Call(avg).Shape, Is.EqualTo(new Shape(2, 2048)));
    }
}
