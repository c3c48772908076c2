using System.Numerics;

namespace Engine.Kernels;

/// <summary>
/// Zero padding of NHWC images. The geometry is a 1x1, stride-1 <see cref="ConvGeometry"/>
/// whose padding fields say how many zero rows / columns go on each side, so its output size
/// is the padded size.
/// </summary>
public static class Padding
{
    /// <summary>y = x surrounded by zeros: [N,H,W,C] -> [N, H+top+bottom, W+left+right, C].</summary>
    public static void ZeroPad<T>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(g, x.Length, y.Length);
        y.Clear();
        int rowLength = g.Width * g.Channels, outWidth = g.OutWidth, outHeight = g.OutHeight;
        for (int n = 0; n < g.Batch; n++)
            for (int h = 0; h < g.Height; h++)
                x.Slice((n * g.Height + h) * rowLength, rowLength)
                 .CopyTo(y.Slice(((n * outHeight + h + g.PadTop) * outWidth + g.PadLeft) * g.Channels, rowLength));
    }

    /// <summary>dx (+)= the interior of dy (the gradient reaching the padding is dropped); overwrites dx unless accumulate.</summary>
    public static void ZeroPadBackward<T>(in ConvGeometry g, ReadOnlySpan<T> dy, Span<T> dx, bool accumulate = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(g, dx.Length, dy.Length);
        int rowLength = g.Width * g.Channels, outWidth = g.OutWidth, outHeight = g.OutHeight;
        for (int n = 0; n < g.Batch; n++)
            for (int h = 0; h < g.Height; h++)
            {
                var interior = dy.Slice(((n * outHeight + h + g.PadTop) * outWidth + g.PadLeft) * g.Channels, rowLength);
                var target = dx.Slice((n * g.Height + h) * rowLength, rowLength);
                if (accumulate) Elementwise.Axpy(T.One, interior, target);
                else interior.CopyTo(target);
            }
    }

    /// <summary>
    /// Checks a zero-padding geometry and its buffers (shared with the CUDA backend): a 1x1,
    /// stride-1 window whose padding is the border, the input <see cref="ConvGeometry.InputLength"/>
    /// long and the output N * OutH * OutW * C. Throws <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public static void Check(in ConvGeometry g, int inputLength, int outputLength)
    {
        if (g.KernelH != 1 || g.KernelW != 1 || g.StrideH != 1 || g.StrideW != 1) throw new ArgumentException("padding geometry must be 1x1, stride 1");
        if (inputLength != g.InputLength || outputLength != g.Batch * g.OutHeight * g.OutWidth * g.Channels)
            throw new ArgumentException($"padding buffers: input {inputLength}, output {outputLength} do not fit {g}");
    }
}
