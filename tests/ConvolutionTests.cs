using Engine.Autograd;
using Engine.Kernels;
using Engine.Layers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

public class ConvolutionTests
{
    static IEnumerable<TestCaseData> Cases()
    {
        // batch, H, W, C, kernel, stride, padding, filters: odd sizes, batch 1 and 3,
        // strides 1 and 2, 1x1 (the GEMM-only path), 3x3 and the 7x7 stem shape.
        object[][] cases =
        [
            [1, 7, 9, 5, 3, 1, "valid", 17], [3, 7, 9, 5, 3, 1, "same", 17], [3, 11, 10, 3, 3, 2, "same", 9],
            [1, 11, 10, 3, 3, 2, "valid", 9], [3, 6, 5, 19, 1, 1, "valid", 33], [3, 8, 8, 19, 1, 2, "valid", 7],
            [1, 17, 15, 3, 7, 2, "valid", 10], [3, 9, 9, 2, 7, 2, "same", 5], [1, 5, 5, 4, 2, 2, "same", 3],
        ];
        foreach (var c in cases)
            yield return new TestCaseData(c).SetName($"Conv n{c[0]} {c[1]}x{c[2]}x{c[3]} k{c[4]} s{c[5]} {c[6]} f{c[7]}");
    }

    [TestCaseSource(nameof(Cases))]
    public void Im2ColGemmMatchesDirectConvolution(int batch, int h, int w, int c, int k, int s, string padding, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, s, s, padding);
        var x = TestData.Random<float>(g.InputLength, 1);
        var kernel = TestData.Random<float>(k * k * c * filters, 2);
        var bias = TestData.Random<float>(filters, 3);
        var expected = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, x.Select(v => (double)v).ToArray(), kernel.Select(v => (double)v).ToArray(),
            bias.Select(v => (double)v).ToArray(), filters, expected);

        var xv = new Variable<float>(Tensor<float>.FromArray(x, new Shape(batch, h, w, c)));
        var kv = new Variable<float>(Tensor<float>.FromArray(kernel, new Shape(k, k, c, filters)));
        var bv = new Variable<float>(Tensor<float>.FromArray(bias, new Shape(filters)));
        var y = Ops.Conv2D(xv, kv, bv, s, s, padding);
        Assert.That(y.Shape, Is.EqualTo(new Shape(batch, g.OutHeight, g.OutWidth, filters)));
        // Float GEMM rounding is relative to the size of the terms (window of k*k*c products in [-1,1]).
        double bound = 1e-6 * (k * k * c + 1);
        var actual = y.Value.Span;
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(bound), $"element {i}");
    }

    [TestCase(8, 3, 2, 0, 1)] // even input, stride 2: the odd padding pixel goes to the bottom
    [TestCase(7, 3, 2, 1, 1)]
    [TestCase(15, 1, 2, 0, 0)]
    [TestCase(64, 7, 2, 2, 3)]
    [TestCase(5, 3, 1, 1, 1)]
    public void SamePaddingFollowsTensorFlow(int size, int kernel, int stride, int before, int after)
    {
        var g = ConvGeometry.Create(1, size, size, 1, kernel, kernel, stride, stride, "same");
        Assert.That((g.PadTop, g.PadBottom, g.PadLeft, g.PadRight), Is.EqualTo((before, after, before, after)));
        Assert.That(g.OutHeight, Is.EqualTo((size + stride - 1) / stride));
    }

    [Test]
    public void StemShapesAsKerasPrintsThem()
    {
        // ZeroPadding2D(3) then Conv2D(64, 7, strides 2) on 64x64x3 gives 32x32x64.
        var conv = new Conv2D<float>(64, 7, strides: 2, name: "conv1");
        using var tape = Tape.Inference();
        var y = conv.Call(new Variable<float>(Tensor<float>.Zeros(new Shape(2, 70, 70, 3))));
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 32, 32, 64)));
        Assert.That(conv.Kernel.Shape, Is.EqualTo(new Shape(7, 7, 3, 64)));
        Assert.That(conv.Parameters.Sum(p => p.Value.Length), Is.EqualTo(9472), "Keras counts 7*7*3*64 + 64");
    }

    [TestCase(3, 1, "valid"), TestCase(3, 1, "same"), TestCase(3, 2, "same"), TestCase(3, 2, "valid"), TestCase(1, 1, "valid"), TestCase(1, 2, "valid"), TestCase(2, 2, "same")]
    public void GradientCheck(int k, int s, string padding)
    {
        var x = new Variable<double>(TestData.RandomTensor(1, 2, 5, 6, 3), requiresGrad: true, name: "x");
        var kernel = new Variable<double>(TestData.RandomTensor(2, k, k, 3, 4), requiresGrad: true, name: "kernel");
        var bias = new Variable<double>(TestData.RandomTensor(3, 4), requiresGrad: true, name: "bias");
        var report = Autograd.GradientCheck.Run(() => Ops.Conv2D(x, kernel, bias, s, s, padding), [x, kernel, bias]);
        TestContext.Out.WriteLine(report);
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }

    // Windows that never overlap: strided 1x1 (ResNet's downsampling shortcut, odd 15x15 ->
    // 8x8), 2x2/2 leaving the last row and column unread, 3x3/3 'same' whose windows and
    // padding cover every input position, a stride larger than the kernel.
    [TestCase(3, 15, 15, 5, 1, 2, "valid", true)]
    [TestCase(1, 7, 9, 3, 2, 2, "valid", true)]
    [TestCase(2, 10, 11, 4, 3, 3, "same", false)]
    [TestCase(3, 8, 8, 17, 1, 3, "valid", true)]
    public void Col2ImOfDisjointWindowsMatchesTheScatterAdd(int batch, int h, int w, int c, int k, int s, string padding, bool someUnread)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, s, s, padding);
        var dCols = TestData.Random<double>(g.Rows * g.Patch, 7);
        var start = TestData.Random<double>(g.InputLength, 8);
        var expected = (double[])start.Clone();
        Convolution.Col2ImAccumulate<double>(g, dCols, expected);
        var added = (double[])start.Clone();
        Convolution.Col2ImDisjoint<double>(g, dCols, added, accumulate: true);
        Assert.That(added, Is.EqualTo(expected), "dx += scattered windows");

        var fromZero = new double[g.InputLength];
        Convolution.Col2ImAccumulate<double>(g, dCols, fromZero);
        // Overwriting: nothing of what dx held (NaN) may survive, including where no window reads.
        var written = Enumerable.Repeat(double.NaN, g.InputLength).ToArray();
        Convolution.Col2ImDisjoint<double>(g, dCols, written, accumulate: false);
        Assert.That(written, Is.EqualTo(fromZero), "dx = scattered windows, zeros elsewhere");
        Assert.That(fromZero.Count(v => v == 0) > 0, Is.EqualTo(someUnread), "input positions read by no window");
    }
}

/// <summary>The convolution op through the backend, large enough to use the whole team, against the references.</summary>
public class ConvolutionOpTests
{
    // Large enough that both team members take part: the op (implicit-GEMM forward, weight
    // gradient and input gradient through the backend) against the window-matrix definitions.
    [TestCase(5, 10, 10, 40, 3, 1, "same", 8)]
    [TestCase(5, 11, 9, 40, 3, 2, "valid", 7)]
    [TestCase(6, 12, 12, 3, 7, 2, "same", 5)]
    [TestCase(4, 9, 9, 24, 1, 2, "valid", 40)]
    [TestCase(4, 9, 9, 24, 1, 1, "valid", 40)]
    public void ForwardAndBackwardMatchTheReferences(int batch, int h, int w, int c, int k, int s, string padding, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, s, s, padding);
        var x = TestData.Random<double>(g.InputLength, 1);
        var kernel = TestData.Random<double>(g.Patch * filters, 2);
        var bias = TestData.Random<double>(filters, 3);
        var dy = TestData.Random<double>(g.Rows * filters, 4);

        var expectedY = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, x, kernel, bias, filters, expectedY);
        // Reference backward: whole window matrix, triple-loop GEMMs, col2im.
        var cols = new double[g.Rows * g.Patch];
        Convolution.Im2Col<double>(g, x, cols);
        var expectedDw = new double[g.Patch * filters];
        var expectedDb = new double[filters];
        var expectedDx = new double[g.InputLength];
        Gemm.MultiplyReference(true, false, g.Patch, filters, g.Rows, 1.0, cols, g.Patch, dy, filters, 0.0, expectedDw, filters);
        Reductions.SumAxisAccumulateReference<double>(dy, 1, g.Rows, filters, 1.0, expectedDb);
        var dCols = new double[g.Rows * g.Patch];
        Gemm.MultiplyReference(false, true, g.Rows, g.Patch, filters, 1.0, dy, filters, kernel, filters, 0.0, dCols, g.Patch);
        Convolution.Col2ImAccumulate<double>(g, dCols, expectedDx);

        var xv = new Variable<double>(Tensor<double>.FromArray(x, new Shape(batch, h, w, c)), requiresGrad: true);
        var kv = new Variable<double>(Tensor<double>.FromArray(kernel, new Shape(k, k, c, filters)), requiresGrad: true);
        var bv = new Variable<double>(Tensor<double>.FromArray(bias, new Shape(filters)), requiresGrad: true);
        using var tape = new Tape();
        var y = Ops.Conv2D(xv, kv, bv, s, s, padding);
        TestData.AssertClose<double>(y.Value.Span, expectedY, 1e-12, "y");
        tape.Backward(y, Tensor<double>.FromArray(dy, y.Shape));
        TestData.AssertClose<double>(kv.Grad!.Span, expectedDw, 1e-12, "dW");
        TestData.AssertClose<double>(bv.Grad!.Span, expectedDb, 1e-12, "db");
        TestData.AssertClose<double>(xv.Grad!.Span, expectedDx, 1e-12, "dx");
    }
}

public class FusionTests
{
    [TestCase(2, 9, 3, 1, "same")]   // small: on one thread
    [TestCase(6, 16, 3, 1, "same")]  // large enough for the whole team
    [TestCase(6, 17, 3, 2, "valid")]
    public void FoldedConvBatchNormReluMatchesTheLayers(int batch, int size, int k, int stride, string padding)
    {
        var conv = new Conv2D<double>(16, k, stride, padding, seed: 3, name: "res2a_branch2a");
        var bn = new BatchNormalization<double>(name: "bn2a_branch2a");
        var x = new Variable<double>(TestData.RandomTensor(1, batch, size, size, 8));
        using var tape = Tape.Inference();
        bn.Call(conv.Call(x)); // builds both
        // Trained-looking statistics and affine terms, so the fold has something to fold.
        var rng = new Rng(7);
        foreach (var (t, low, high) in new[] { (bn.MovingMean, -0.5, 0.5), (bn.MovingVariance, 0.2, 3.0), (bn.Gamma.Value, 0.5, 1.5), (bn.Beta.Value, -0.3, 0.3), (conv.Bias!.Value, -0.2, 0.2) })
            for (int i = 0; i < t.Length; i++) t.Span[i] = rng.Uniform(low, high);

        var expected = Ops.Relu(bn.Call(conv.Call(x))).Value.ToArray();
        var (kernel, bias) = Fusion.FoldBatchNorm(conv, bn);
        var fused = Ops.Conv2DRelu(x, new Variable<double>(kernel), new Variable<double>(bias), stride, stride, padding).Value.ToArray();
        Assert.That(expected.Count(v => v == 0), Is.GreaterThan(expected.Length / 10), "the ReLU should close somewhere");
        TestData.AssertClose<double>(fused, expected, 1e-10, "folded conv + BN + ReLU");
    }

    [Test]
    public void FusedConvReluGradientCheck()
    {
        var x = new Variable<double>(TestData.RandomTensor(1, 2, 5, 5, 3), requiresGrad: true, name: "x");
        var kernel = new Variable<double>(TestData.RandomTensor(2, 3, 3, 3, 4), requiresGrad: true, name: "kernel");
        var bias = new Variable<double>(TestData.RandomTensor(3, 4), requiresGrad: true, name: "bias");
        var report = Autograd.GradientCheck.Run(() => Ops.Conv2DRelu(x, kernel, bias, 1, 1, "same"), [x, kernel, bias]);
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }
}
