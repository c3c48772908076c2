using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Winograd F(2x2, 3x3) against the direct convolution: the forward pass, the input and the
/// weight gradient, float and float64, both vector widths, odd image sizes (the last row and column
/// of tiles half off the image), batch 1 and 3, and both ways a team splits the work (whole
/// images when each member gets at least 96 tiles, filter panels otherwise).
/// </summary>
public class WinogradConvolutionTests
{
    static IEnumerable<TestCaseData> Cases()
    {
        // batch, H, W, C, filters
        object[][] cases =
        [
            [1, 5, 7, 16, 32],   // odd both ways, one image: run by the caller alone
            [3, 4, 4, 32, 64],   // the 4x4 stage's shape, few tiles: members split the filters
            [3, 9, 6, 48, 96],   // partial last tile row, three vector chunks of channels
            [4, 15, 15, 64, 64], // ResNet-50's second stage: 64 tiles an image, members split the images
            [3, 15, 13, 32, 160], // five panels of filters, odd across
        ];
        foreach (var c in cases)
            yield return new TestCaseData(c).SetName($"{{m}} n{c[0]} {c[1]}x{c[2]}x{c[3]} f{c[4]}");
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardMatchesTheDirectReference(int batch, int h, int w, int c, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, 3, 3, 1, 1, "same");
        // The implicit GEMM's bound: a float sum of Patch products in [-1, 1] is good to about
        // 1e-6 * Patch absolute. The transforms add at most 9 products' worth of rounding.
        ConvolutionForwardCheck.MatchesTheDirectReference(g, filters, Forward, 1e-6 * (g.Patch + 2));
    }

    /// <summary>In float64 the algebra alone shows: Winograd equals the direct sum to rounding.</summary>
    [TestCaseSource(nameof(Cases))]
    public void Float64ForwardEqualsTheDirectSum(int batch, int h, int w, int c, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, 3, 3, 1, 1, "same");
        var x = TestData.Random<double>(g.InputLength, 6);
        var kernel = TestData.Random<double>(g.Patch * filters, 7);
        var bias = TestData.Random<double>(filters, 8);
        var expected = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, x, kernel, bias, filters, expected);
        var y = TestData.Random<double>(g.Rows * filters, 9); // overwritten, not added to
        WinogradConvolution.Forward<double>(g, x, kernel, bias, filters, y);
        TestData.AssertClose<double>(y, expected, 1e-12, "y");
    }

    /// <summary>
    /// The input gradient from the transformed forward weights with their points reordered
    /// (the rotation) equals the implicit GEMM's convolution with the rotated kernel, in
    /// float64 to rounding, both accumulating and overwriting.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void InputGradientEqualsTheImplicitConvolutions(int batch, int h, int w, int c, int filters)
    {
        // The input gradient's output channels are the forward's inputs: swap so that c, which
        // must fill whole panels there, is the larger.
        (c, filters) = (filters, c);
        var g = ConvGeometry.Create(batch, h, w, c, 3, 3, 1, 1, "same");
        var kernel = TestData.Random<double>(g.Patch * filters, 10);
        var dy = TestData.Random<double>(g.Rows * filters, 11);
        var start = TestData.Random<double>(g.InputLength, 12);
        var expected = (double[])start.Clone();
        ImplicitConvolution.BackwardInput<double>(g, dy, kernel, filters, expected);
        var dx = (double[])start.Clone();
        WinogradConvolution.BackwardInput<double>(g, dy, kernel, filters, dx);
        TestData.AssertClose<double>(dx, expected, 1e-12, "dx += ...");

        var alone = new double[g.InputLength];
        ImplicitConvolution.BackwardInput<double>(g, dy, kernel, filters, alone, accumulate: false);
        var overwritten = TestData.Random<double>(g.InputLength, 13);
        WinogradConvolution.BackwardInput<double>(g, dy, kernel, filters, overwritten, accumulate: false);
        TestData.AssertClose<double>(overwritten, alone, 1e-12, "dx = ...");

        // Float, both widths, against the float64 result.
        var dyFloat = Array.ConvertAll(dy, v => (float)v);
        var kernelFloat = Array.ConvertAll(kernel, v => (float)v);
        var wideReference = new double[g.InputLength];
        ImplicitConvolution.BackwardInput<double>(g, Array.ConvertAll(dyFloat, v => (double)v), Array.ConvertAll(kernelFloat, v => (double)v), filters, wideReference, accumulate: false);
        foreach (bool wide in new[] { true, false })
        {
            var dxFloat = new float[g.InputLength];
            if (wide && V512<float>.IsHardwareAccelerated) WinogradConvolution.BackwardInput<float, V512<float>>(g, dyFloat, kernelFloat, filters, dxFloat, accumulate: false);
            else WinogradConvolution.BackwardInput<float, V256<float>>(g, dyFloat, kernelFloat, filters, dxFloat, accumulate: false);
            TestData.AssertWithin(dxFloat, wideReference, 1e-6 * (9 * filters + 2), $"float dx wide={wide}");
        }
    }

    /// <summary>
    /// The weight gradient (Gᵀ (V ⊙ A dY Aᵀ) G summed over tiles) equals the window-matrix
    /// product Im2Col(x)ᵀ dy, in float64 to rounding: accumulating, overwriting NaN, and the
    /// bias gradient taken as dy is transformed. Float, both widths, within a float sum's error.
    /// </summary>
    [TestCaseSource(nameof(Cases))]
    public void WeightGradientEqualsTheWindowMatrixProduct(int batch, int h, int w, int c, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, 3, 3, 1, 1, "same");
        var x = TestData.Random<double>(g.InputLength, 14);
        var dy = TestData.Random<double>(g.Rows * filters, 15);
        var cols = new double[g.Rows * g.Patch];
        Convolution.Im2Col<double>(g, x, cols);
        var product = new double[g.Patch * filters];
        Gemm.MultiplyReference(true, false, g.Patch, filters, g.Rows, 1.0, cols, g.Patch, dy, filters, 0.0, product, filters);
        var start = TestData.Random<double>(g.Patch * filters, 16);
        var dW = (double[])start.Clone();
        WinogradConvolution.WeightGradient<double>(g, x, dy, filters, dW);
        TestData.AssertClose<double>(dW, product.Select((v, i) => v + start[i]).ToArray(), 1e-12, "dW += windows^T dy");

        var fresh = Enumerable.Repeat(double.NaN, g.Patch * filters).ToArray();
        var biasStart = TestData.Random<double>(filters, 17);
        var dBias = (double[])biasStart.Clone();
        var expectedBias = biasStart.Select((v, j) => v + Enumerable.Range(0, g.Rows).Sum(r => dy[r * filters + j])).ToArray();
        WinogradConvolution.WeightGradient<double>(g, x, dy, filters, fresh, accumulate: false, dBias: dBias);
        TestData.AssertClose<double>(fresh, product, 1e-12, "dW = windows^T dy");
        TestData.AssertClose<double>(dBias, expectedBias, 1e-10, "dBias += column sums of dy");

        var xf = Array.ConvertAll(x, v => (float)v);
        var dyf = Array.ConvertAll(dy, v => (float)v);
        foreach (bool wide in new[] { true, false })
        {
            var dWf = Enumerable.Repeat(float.NaN, g.Patch * filters).ToArray();
            var dBiasf = new float[filters];
            if (wide && V512<float>.IsHardwareAccelerated) WinogradConvolution.WeightGradient<float, V512<float>>(g, xf, dyf, filters, dWf, accumulate: false, dBias: dBiasf);
            else WinogradConvolution.WeightGradient<float, V256<float>>(g, xf, dyf, filters, dWf, accumulate: false, dBias: dBiasf);
            // Sums of Rows products in [-1, 1]: good to about 1e-6 per term, absolute.
            TestData.AssertWithin(dWf, product, 1e-6 * (g.Rows + 2), $"float dW wide={wide}");
            TestData.AssertWithin(dBiasf, expectedBias.Select((v, j) => v - biasStart[j]).ToArray(), 1e-6 * (g.Rows + 2), $"float dBias wide={wide}");
        }
    }

    /// <summary>Both convolutions check their buffers against the geometry the same way, naming the one that is off.</summary>
    [Test]
    public void BothConvolutionsRejectBuffersOfTheWrongSize()
    {
        var g = ConvGeometry.Create(2, 4, 4, 32, 3, 3, 1, 1, "same");
        int filters = 32;
        var x = new float[g.InputLength];
        var w = new float[g.Patch * filters];
        var y = new float[g.Rows * filters];
        var shortY = new float[g.Rows * filters - 1];
        var shortDx = new float[g.InputLength - 1];
        var wrongBias = new float[filters + 1];
        Assert.Multiple(() =>
        {
            Assert.That(() => ImplicitConvolution.Forward<float>(g, x, w, default, filters, shortY), Throws.ArgumentException.With.Message.Contains($"y {y.Length - 1}"));
            Assert.That(() => WinogradConvolution.Forward<float>(g, x, w, default, filters, shortY), Throws.ArgumentException.With.Message.Contains($"y {y.Length - 1}"));
            Assert.That(() => ImplicitConvolution.BackwardInput<float>(g, y, w, filters, shortDx), Throws.ArgumentException.With.Message.Contains($"dx {x.Length - 1}"));
            Assert.That(() => WinogradConvolution.BackwardInput<float>(g, y, w, filters, shortDx), Throws.ArgumentException.With.Message.Contains($"dx {x.Length - 1}"));
            Assert.That(() => ImplicitConvolution.WeightGradient<float>(g, x, y, filters, w, dBias: wrongBias), Throws.ArgumentException.With.Message.Contains($"dBias {filters + 1}"));
            Assert.That(() => WinogradConvolution.WeightGradient<float>(g, x, y, filters, w, dBias: wrongBias), Throws.ArgumentException.With.Message.Contains($"dBias {filters + 1}"));
            // The same buffers at their right sizes go through.
            Assert.That(() => WinogradConvolution.Forward<float>(g, x, w, default, filters, y), Throws.Nothing);
        });
    }

    [Test]
    public void TakesTheThreeByThreeLayersOfResNetsFirstStagesOnly()
    {
        Assert.Multiple(() =>
        {
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 15, 15, 64, 3, 3, 1, 1, "same"), 64), Is.True, "stage 2");
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 4, 4, 256, 3, 3, 1, 1, "same"), 256), Is.True, "stage 4");
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 2, 2, 512, 3, 3, 1, 1, "same"), 512), Is.False, "stage 5 (2x2)");
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 15, 15, 64, 3, 3, 2, 2, "same"), 64), Is.False, "stride 2");
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 15, 15, 64, 3, 3, 1, 1, "valid"), 64), Is.False, "valid");
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 15, 15, 64, 1, 1, 1, 1, "same"), 64), Is.False, "1x1");
            Assert.That(WinogradConvolution.Handles<float>(ConvGeometry.Create(32, 15, 15, 3, 3, 3, 1, 1, "same"), 64), Is.False, "3 channels");
            Assert.That(WinogradConvolution.HandlesInputGradient<float>(ConvGeometry.Create(32, 8, 8, 128, 3, 3, 1, 1, "same"), 128), Is.True, "stage 3 dx");
        });
    }

    static void Forward(bool wide, in ConvGeometry g, float[] x, float[] kernel, float[] bias, int filters, float[] y, bool relu, bool accumulate, float[]? scale)
    {
        if (wide && V512<float>.IsHardwareAccelerated)
            WinogradConvolution.Forward<float, V512<float>>(g, x, kernel, bias, filters, y, relu, accumulate, scale: scale);
        else
            WinogradConvolution.Forward<float, V256<float>>(g, x, kernel, bias, filters, y, relu, accumulate, scale: scale);
    }
}
