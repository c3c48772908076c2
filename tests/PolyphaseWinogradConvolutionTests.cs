using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The polyphase 1-D Winograd convolution (stride 2 along x, few channels: ResNet's stem)
/// against the direct convolution: its transforms alone, then the forward pass in float64 and
/// float at both vector widths, with scale, bias, accumulation and ReLU, on kernels 5, 7 and 9
/// wide (3, 4 and 5 even taps), strides 1 and 2 along y, 1 to 4 channels, batch 1 and 3, image
/// widths with unused columns past the last window, and both team splits (the caller alone for
/// one image, members taking whole images otherwise).
/// </summary>
public class PolyphaseWinogradConvolutionTests
{
    /// <summary>F(m, r) as built: Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of g and d, in float64 to rounding, for every tap count a supported kernel has.</summary>
    [TestCase(4, 2)]
    [TestCase(4, 3)]
    [TestCase(4, 4)]
    [TestCase(4, 5)]
    public void TransformComputesTheCorrelation(int m, int r)
    {
        var f = new PolyphaseWinogradConvolution.Transform(m, r);
        var g = TestData.Random<double>(r, 1);
        var d = TestData.Random<double>(f.Alpha, 2);
        var product = new double[f.Alpha];
        for (int p = 0; p < f.Alpha; p++)
        {
            double gp = 0, dp = 0;
            for (int j = 0; j < r; j++) gp += f.G[p, j] * g[j];
            for (int i = 0; i < f.Alpha; i++) dp += f.Bt[p, i] * d[i];
            product[p] = gp * dp;
        }
        for (int i = 0; i < m; i++)
        {
            double y = 0, direct = 0;
            for (int p = 0; p < f.Alpha; p++) y += f.At[i, p] * product[p];
            for (int j = 0; j < r; j++) direct += g[j] * d[i + j];
            Assert.That(y, Is.EqualTo(direct).Within(1e-12), $"output {i}");
        }
    }

    static IEnumerable<TestCaseData> Cases()
    {
        // batch, H, W, C, KH, KW, stride along y, filters
        object[][] cases =
        [
            [1, 15, 13, 3, 7, 7, 2, 32],  // one image, the caller alone; 4 outputs wide
            [3, 70, 70, 3, 7, 7, 2, 64],  // the stem's shape (after ZeroPadding 3), odd batch
            [3, 9, 22, 1, 3, 7, 1, 96],   // stride 1 along y, kernel 3x7, one unused column
            [3, 10, 19, 4, 5, 5, 2, 32],  // 5 wide: 3 and 2 taps per phase
            [3, 11, 23, 2, 9, 9, 2, 64],  // 9 wide: 5 and 4 taps, the point ½ and -½
        ];
        foreach (var c in cases)
            yield return new TestCaseData(c).SetName($"{{m}} n{c[0]} {c[1]}x{c[2]}x{c[3]} k{c[4]}x{c[5]}/{c[6]},2 f{c[7]}");
    }

    static ConvGeometry Geometry(int batch, int h, int w, int c, int kh, int kw, int strideH) =>
        ConvGeometry.Create(batch, h, w, c, kh, kw, strideH, 2, "valid");

    /// <summary>In float64 the algebra alone shows: the polyphase path equals the direct sum to rounding, and overwrites y.</summary>
    [TestCaseSource(nameof(Cases))]
    public void Float64ForwardEqualsTheDirectSum(int batch, int h, int w, int c, int kh, int kw, int strideH, int filters)
    {
        var g = Geometry(batch, h, w, c, kh, kw, strideH);
        Assert.That(PolyphaseWinogradConvolution.Handles<double>(g, filters), Is.True, "the case is one the path takes");
        var x = TestData.Random<double>(g.InputLength, 1);
        var kernel = TestData.Random<double>(g.Patch * filters, 2);
        var bias = TestData.Random<double>(filters, 3);
        var expected = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, x, kernel, bias, filters, expected);
        var y = TestData.Random<double>(g.Rows * filters, 4);
        PolyphaseWinogradConvolution.Forward<double>(g, x, kernel, bias, filters, y);
        // 147 products and transform coefficients up to 8: rounding of a few parts in 1e12.
        TestData.AssertClose<double>(y, expected, 1e-11, "y");
    }

    /// <summary>Float at both vector widths against the float64 direct sum: plain, and as an inference block's relu(y + conv * scale + bias).</summary>
    [TestCaseSource(nameof(Cases))]
    public void ForwardMatchesTheDirectReference(int batch, int h, int w, int c, int kh, int kw, int strideH, int filters)
    {
        var g = Geometry(batch, h, w, c, kh, kw, strideH);
        // The implicit GEMM's bound, 1e-6 * Patch absolute for a float sum of Patch products in
        // [-1, 1]: the transforms' coefficients (up to 8 in Aᵀ, 6 in Bᵀ) stay within it here
        // (largest differences 5e-6 to 2.7e-5, a quarter to a sixth of the bound).
        ConvolutionForwardCheck.MatchesTheDirectReference(g, filters, Forward, 1e-6 * (g.Patch + 2));
    }

    static void Forward(bool wide, in ConvGeometry g, float[] x, float[] kernel, float[] bias, int filters, float[] y, bool relu, bool accumulate, float[]? scale)
    {
        if (wide && V512<float>.IsHardwareAccelerated)
            PolyphaseWinogradConvolution.Forward<float, V512<float>>(g, x, kernel, bias, filters, y, relu, accumulate, scale: scale);
        else
            PolyphaseWinogradConvolution.Forward<float, V256<float>>(g, x, kernel, bias, filters, y, relu, accumulate, scale: scale);
    }

    /// <summary>The path takes only what it computes: stride 2 along x, no padding, few channels, whole tiles and panels.</summary>
    [Test]
    public void TakesOnlyUnpaddedStrideTwoConvolutionsOverFewChannels()
    {
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(Geometry(32, 70, 70, 3, 7, 7, 2), 64), Is.True, "the stem");
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(ConvGeometry.Create(32, 64, 64, 3, 7, 7, 2, 2, "same"), 64), Is.False, "padded");
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(ConvGeometry.Create(32, 70, 70, 3, 7, 7, 2, 1, "valid"), 64), Is.False, "stride 1 along x");
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(Geometry(32, 70, 70, 8, 7, 7, 2), 64), Is.False, "8 channels");
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(Geometry(32, 70, 72, 3, 7, 7, 2), 64), Is.False, "33 outputs across: not whole tiles");
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(Geometry(32, 70, 70, 3, 3, 3, 2), 64), Is.False, "3 wide");
        Assert.That(PolyphaseWinogradConvolution.Handles<float>(Geometry(32, 70, 70, 3, 7, 7, 2), 40), Is.False, "filters not whole panels");
        Assert.Throws<ArgumentException>(() => PolyphaseWinogradConvolution.Forward<float>(Geometry(1, 70, 70, 8, 7, 7, 2),
            new float[70 * 70 * 8], new float[7 * 7 * 8 * 32], default, 32, new float[32 * 32 * 32]), "refuses what it does not handle");
    }
}
