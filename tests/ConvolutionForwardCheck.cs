using Engine.Kernels;

namespace Engine.Tests;

/// <summary>A float convolution forward at one vector width (wide: 512-bit where the CPU has it, else 256-bit).</summary>
delegate void ForwardAtWidth(bool wide, in ConvGeometry g, float[] x, float[] kernel, float[] bias, int filters, float[] y, bool relu, bool accumulate, float[]? scale);

/// <summary>The check every alternative forward convolution (Winograd, polyphase) is held to.</summary>
static class ConvolutionForwardCheck
{
    /// <summary>
    /// At both vector widths, against the float64 direct sum: y = conv + bias overwriting y, and
    /// an inference block's end, y = relu(y + conv * scale + bias), within <paramref name="bound"/>
    /// (twice it for the block), absolute.
    /// </summary>
    public static void MatchesTheDirectReference(in ConvGeometry g, int filters, ForwardAtWidth forward, double bound)
    {
        var x = TestData.Random<float>(g.InputLength, 1);
        var kernel = TestData.Random<float>(g.Patch * filters, 2);
        var bias = TestData.Random<float>(filters, 3);
        var start = TestData.Random<float>(g.Rows * filters, 4);
        var scale = TestData.Random<float>(filters, 5, 0.5, 2);
        double[] Wide(float[] a) => a.Select(v => (double)v).ToArray();

        var plain = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, Wide(x), Wide(kernel), Wide(bias), filters, plain);
        var scaledKernel = Wide(kernel).Select((v, i) => v * scale[i % filters]).ToArray();
        var blockEnd = new double[g.Rows * filters];
        Convolution.ForwardReference<double>(g, Wide(x), scaledKernel, Wide(bias), filters, blockEnd);
        for (int i = 0; i < blockEnd.Length; i++) blockEnd[i] = Math.Max(blockEnd[i] + start[i], 0);

        foreach (bool wide in new[] { true, false })
        {
            var y = new float[g.Rows * filters];
            forward(wide, g, x, kernel, bias, filters, y, relu: false, accumulate: false, scale: null);
            TestData.AssertWithin(y, plain, bound, $"y wide={wide}");
            start.CopyTo(y, 0);
            forward(wide, g, x, kernel, bias, filters, y, relu: true, accumulate: true, scale);
            TestData.AssertWithin(y, blockEnd, 2 * bound, $"relu(y + conv * scale + bias) wide={wide}");
        }
    }
}
