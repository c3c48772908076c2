using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

public class ImplicitConvolutionTests
{
    static IEnumerable<TestCaseData> Cases()
    {
        // batch, H, W, C, kernel, stride, padding, filters: odd sizes, batch 1 and 3, strides 1
        // and 2, row tiles that cross image rows and images, filters that leave a partial panel,
        // k-blocks that start inside a window run (patch 9*130 = 1170 -> 2 x 585, inside the
        // second run of 390), the 7x7 stem, and enough rows (2700, 1350 per member of a pair)
        // for the weight gradient's k-blocks over rows.
        object[][] cases =
        [
            [1, 7, 9, 5, 3, 1, "valid", 17], [3, 7, 9, 5, 3, 1, "same", 17], [3, 11, 10, 3, 3, 2, "same", 9],
            [1, 11, 10, 3, 3, 2, "valid", 9], [3, 8, 8, 19, 1, 2, "valid", 7], [3, 5, 5, 40, 3, 1, "same", 70],
            [1, 17, 15, 3, 7, 2, "valid", 10], [3, 9, 9, 2, 7, 2, "same", 5], [1, 5, 5, 4, 2, 2, "same", 3],
            [3, 13, 13, 16, 3, 1, "same", 64], [2, 2, 2, 33, 3, 1, "same", 40],
            [2, 4, 4, 130, 3, 1, "same", 40], [3, 30, 30, 3, 3, 1, "same", 9],
            // Padded layers skip the taps that read padding: a 1x1 image (only the centre tap
            // is real), and one image shared by two members (one of them gets none).
            [2, 1, 1, 5, 3, 1, "same", 7], [1, 20, 20, 8, 3, 1, "same", 40],
            // Over 32 column panels: the windows are packed; few rows and many panels: the
            // weight gradient splits panels instead of rows.
            [3, 8, 8, 3, 3, 1, "same", 1030], [2, 4, 4, 40, 3, 1, "same", 200],
            // Runs of a multiple of 12 values and few panels: the weight gradient reads the
            // windows in place, here over two k-blocks of rows per member (3200 rows).
            [2, 40, 40, 4, 3, 1, "same", 20],
            // A 1x1 layer's window is one run: in place too, but for a short last panel (40 = 3 x 12 + 4).
            // Whole tiles of a 1x1 stride-1 layer read x's rows as a matrix, short ones window
            // starts; over 1152 channels, two k-blocks (1300 = 2 x 650) start inside the row.
            [4, 9, 9, 40, 1, 1, "valid", 50], [2, 5, 7, 1300, 1, 1, "valid", 40],
            // The weight gradient's packed window panels keep only the rows where one of their
            // taps is off the padding: a 2x2 image (5 of 9 taps on the padding for every row),
            // panels that span two taps (20 channels) or two kernel rows (runs of 15), stride 2.
            [3, 2, 2, 24, 3, 1, "same", 200], [2, 3, 3, 20, 3, 1, "same", 170], [3, 3, 2, 5, 3, 1, "same", 70],
            [2, 6, 5, 12, 3, 2, "same", 100],
        ];
        foreach (var c in cases)
            yield return new TestCaseData(c).SetName($"Implicit n{c[0]} {c[1]}x{c[2]}x{c[3]} k{c[4]} s{c[5]} {c[6]} f{c[7]}");
    }

    [TestCaseSource(nameof(Cases))]
    public void BothWidthsMatchTheDirectReference(int batch, int h, int w, int c, int k, int s, string padding, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, s, s, padding);
        var x = TestData.Random<float>(g.InputLength, 1);
        var kernel = TestData.Random<float>(g.Patch * filters, 2);
        var bias = TestData.Random<float>(filters, 3);
        // References in float64: a float sum of Patch products in [-1, 1] is good to about
        // 1e-6 * Patch absolute, which is the bound (relative error is meaningless where the
        // window sums cancel to near zero).
        double[] Wide(float[] a) => a.Select(v => (double)v).ToArray();
        var expected = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, Wide(x), Wide(kernel), Wide(bias), filters, expected);
        var relu = expected.Select(v => Math.Max(v, 0)).ToArray();
        var start = TestData.Random<float>(g.Rows * filters, 4);
        var accumulated = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, Wide(x), Wide(kernel), [], filters, accumulated);
        for (int i = 0; i < accumulated.Length; i++) accumulated[i] += start[i];
        // A per-filter scale (an inference batch norm) with bias, accumulating, then ReLU: a residual block's end.
        var scale = TestData.Random<float>(filters, 5, 0.5, 2);
        var scaledKernel = Wide(kernel).Select((v, i) => v * scale[i % filters]).ToArray();
        var blockEnd = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, Wide(x), scaledKernel, Wide(bias), filters, blockEnd);
        for (int i = 0; i < blockEnd.Length; i++) blockEnd[i] = Math.Max(blockEnd[i] + start[i], 0);
        double bound = 1e-6 * (g.Patch + 2);

        foreach (bool wide in new[] { true, false })
        {
            var y = new float[g.Rows * filters];
            Run(wide, g, x, kernel, bias, filters, y, relu: false, accumulate: false);
            TestData.AssertWithin(y, expected, bound, $"y wide={wide}");
            Run(wide, g, x, kernel, bias, filters, y, relu: true, accumulate: false);
            TestData.AssertWithin(y, relu, bound, $"relu(y) wide={wide}");
            start.CopyTo(y, 0);
            Run(wide, g, x, kernel, [], filters, y, relu: false, accumulate: true);
            TestData.AssertWithin(y, accumulated, bound, $"y += conv wide={wide}");
            start.CopyTo(y, 0);
            Run(wide, g, x, kernel, bias, filters, y, relu: true, accumulate: true, scale);
            TestData.AssertWithin(y, blockEnd, 2 * bound, $"relu(y + conv * scale + bias) wide={wide}");
        }
    }

    [TestCase(3, 7, 9, 5, 3, "same", 17)]
    [TestCase(1, 7, 9, 5, 3, "valid", 6)]
    [TestCase(2, 6, 5, 3, 2, "same", 4)]    // even kernel: 'same' pads 0 before, 1 after
    [TestCase(3, 9, 9, 3, 7, "same", 5)]
    [TestCase(2, 4, 4, 40, 3, "same", 35)]
    [TestCase(2, 4, 4, 40, 3, "same", 130)] // 9*130 = 1170 rotated rows: two k-blocks, the second from inside a tap
    public void InputGradientAsAConvolutionMatchesCol2Im(int batch, int h, int w, int c, int k, string padding, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, 1, 1, padding);
        var kernel = TestData.Random<double>(g.Patch * filters, 2);
        var dy = TestData.Random<double>(g.Rows * filters, 4);
        var expected = TestData.Random<double>(g.InputLength, 7);
        var dx = (double[])expected.Clone();
        var dCols = new double[g.Rows * g.Patch];
        Gemm.MultiplyReference(false, true, g.Rows, g.Patch, filters, 1.0, dy, filters, kernel, filters, 0.0, dCols, g.Patch);
        Convolution.Col2ImAccumulate<double>(g, dCols, expected);
        ImplicitConvolution.BackwardInput<double>(g, dy, kernel, filters, dx);
        TestData.AssertClose<double>(dx, expected, 1e-12, "dx += ...");

        var alone = new double[g.InputLength];
        Convolution.Col2ImAccumulate<double>(g, dCols, alone);
        var overwritten = TestData.Random<double>(g.InputLength, 8);
        ImplicitConvolution.BackwardInput<double>(g, dy, kernel, filters, overwritten, accumulate: false);
        TestData.AssertClose<double>(overwritten, alone, 1e-12, "dx = ...");
    }

    /// <summary>
    /// Float runs the packer's 16 x 16 register transposes of the rotated weights (full 32-wide
    /// panels, 16-row steps) and its element-by-element tails (35 = 2 * 16 + 3 rows per tap, 40
    /// = 32 + 8 columns); the same product in float64 is the reference.
    /// </summary>
    [TestCase(2, 4, 4, 40, 3, "same", 35)]
    [TestCase(3, 5, 6, 64, 3, "same", 48)]
    [TestCase(2, 6, 6, 33, 1, "valid", 70)]
    [TestCase(2, 4, 4, 40, 3, "same", 130)]
    public void FloatInputGradientMatchesFloat64(int batch, int h, int w, int c, int k, string padding, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, 1, 1, padding);
        var kernel = TestData.Random<float>(g.Patch * filters, 2);
        var dy = TestData.Random<float>(g.Rows * filters, 4);
        var expected = new double[g.InputLength];
        ImplicitConvolution.BackwardInput<double>(g, Array.ConvertAll(dy, v => (double)v), Array.ConvertAll(kernel, v => (double)v), filters, expected, accumulate: false);
        var dx = new float[g.InputLength];
        ImplicitConvolution.BackwardInput<float>(g, dy, kernel, filters, dx, accumulate: false);
        // A float sum of k*k*filters products in [-1, 1]: good to about 1e-6 per term, absolute.
        TestData.AssertWithin(dx, expected, 1e-6 * k * k * filters, "dx");
        // A misplaced weight moves a value by about one product, far beyond that bound.
        Assert.That(expected.Max(Math.Abs), Is.GreaterThan(100 * 1e-6 * k * k * filters));
    }

    [TestCaseSource(nameof(Cases))]
    public void WeightGradientMatchesTheWindowMatrixProduct(int batch, int h, int w, int c, int k, int s, string padding, int filters)
    {
        var g = ConvGeometry.Create(batch, h, w, c, k, k, s, s, padding);
        var x = TestData.Random<double>(g.InputLength, 1);
        var dy = TestData.Random<double>(g.Rows * filters, 4);
        var cols = new double[g.Rows * g.Patch];
        Convolution.Im2Col<double>(g, x, cols);
        var expected = TestData.Random<double>(g.Patch * filters, 5);
        var dW = (double[])expected.Clone();
        Gemm.MultiplyReference(true, false, g.Patch, filters, g.Rows, 1.0, cols, g.Patch, dy, filters, 1.0, expected, filters);
        ImplicitConvolution.WeightGradient<double>(g, x, dy, filters, dW);
        TestData.AssertClose<double>(dW, expected, 1e-12, "dW += windows^T dy");
        var start = TestData.Random<double>(g.Patch * filters, 5);
        var product = expected.Select((v, i) => v - start[i]).ToArray();
        // Overwriting: whatever the buffer held (NaN here) must not reach the result. With the
        // bias gradient: dy's column sums added to what dBias held.
        var fresh = Enumerable.Repeat(double.NaN, g.Patch * filters).ToArray();
        var dBias = TestData.Random<double>(filters, 6);
        var expectedBias = dBias.Select((v, j) => v + Enumerable.Range(0, g.Rows).Sum(r => dy[r * filters + j])).ToArray();
        ImplicitConvolution.WeightGradient<double>(g, x, dy, filters, fresh, accumulate: false, dBias: dBias);
        TestData.AssertClose<double>(fresh, product, 1e-12, "dW = windows^T dy");
        // Sums of up to 2700 terms in another order, some cancelling: 1e-10 relative.
        TestData.AssertClose<double>(dBias, expectedBias, 1e-10, "dBias += column sums of dy");

        var xf = x.Select(v => (float)v).ToArray();
        var dyf = dy.Select(v => (float)v).ToArray();
        foreach (bool wide in new[] { true, false })
            foreach (bool accumulate in new[] { true, false })
            {
                // Accumulating onto zeros, or overwriting NaN.
                var dWf = new float[g.Patch * filters];
                var dBiasf = new float[filters];
                if (!accumulate) dWf.AsSpan().Fill(float.NaN);
                if (wide && V512<float>.IsHardwareAccelerated) ImplicitConvolution.WeightGradient<float, V512<float>>(g, xf, dyf, filters, dWf, accumulate, dBias: dBiasf);
                else ImplicitConvolution.WeightGradient<float, V256<float>>(g, xf, dyf, filters, dWf, accumulate, dBias: dBiasf);
                var biasStart = TestData.Random<double>(filters, 6);
                for (int j = 0; j < filters; j++)
                    Assert.That(dBiasf[j], Is.EqualTo(expectedBias[j] - biasStart[j]).Within(1e-6 * (g.Rows + 2)), $"float dBias[{j}] wide={wide}");
                double worst = 0;
                for (int i = 0; i < dWf.Length; i++) worst = double.IsNaN(dWf[i]) ? double.NaN : Math.Max(worst, Math.Abs(dWf[i] - product[i]));
                Assert.That(worst, Is.LessThanOrEqualTo(1e-6 * (g.Rows + 2)), $"float dW wide={wide} accumulate={accumulate}: largest difference");
            }
    }

    static void Run(bool wide, in ConvGeometry g, float[] x, float[] kernel, float[] bias, int filters, float[] y, bool relu, bool accumulate, float[]? scale = null)
    {
        if (wide && V512<float>.IsHardwareAccelerated)
            ImplicitConvolution.Forward<float, V512<float>>(g, x, kernel, bias, filters, y, relu, accumulate, scale: scale);
        else
            ImplicitConvolution.Forward<float, V256<float>>(g, x, kernel, bias, filters, y, relu, accumulate, scale: scale);
    }
}
