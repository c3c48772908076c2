using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// The geometry of one 2-D convolution or pooling window over NHWC data: input
/// [N, H, W, C], a KH x KW window moved by a stride, zero padding on each side, output
/// [N, OutH, OutW, ...].
/// </summary>
public readonly record struct ConvGeometry(
    int Batch, int Height, int Width, int Channels,
    int KernelH, int KernelW, int StrideH, int StrideW,
    int PadTop, int PadBottom, int PadLeft, int PadRight)
{
    public int OutHeight => (Height + PadTop + PadBottom - KernelH) / StrideH + 1;
    public int OutWidth => (Width + PadLeft + PadRight - KernelW) / StrideW + 1;
    /// <summary>Rows of the im2col matrix: one per output position.</summary>
    public int Rows => Batch * OutHeight * OutWidth;
    /// <summary>Columns of the im2col matrix: the window, ordered (kh, kw, c) as HWIO kernels are.</summary>
    public int Patch => KernelH * KernelW * Channels;
    public int InputLength => Batch * Height * Width * Channels;

    /// <summary>
    /// Throws unless the buffers fit a convolution of this geometry with
    /// <paramref name="filters"/> filters: x [N,H,W,C], w [KH,KW,C,F], y [N,OH,OW,F], and a
    /// per-filter bias and scale that are each empty or [F].
    /// </summary>
    internal void CheckForwardBuffers(int filters, int x, int w, int y, int bias, int scale)
    {
        if (filters < 1) throw new ArgumentException($"filters must be positive, not {filters}");
        if (x != InputLength || w != Patch * filters || y != Rows * filters || !(bias == 0 || bias == filters) || !(scale == 0 || scale == filters))
            throw new ArgumentException($"convolution buffers: x {x} (need {InputLength}), w {w} (need {Patch * filters}), y {y} (need {Rows * filters}), " +
                $"bias {bias} and scale {scale} (need 0 or {filters})");
    }

    /// <summary>Throws unless the buffers fit this convolution's input gradient: w [KH,KW,C,F], dy [N,OH,OW,F], dx [N,H,W,C].</summary>
    internal void CheckInputGradientBuffers(int filters, int w, int dy, int dx)
    {
        if (w != Patch * filters || dy != Rows * filters || dx != InputLength)
            throw new ArgumentException($"input gradient buffers: w {w} (need {Patch * filters}), dy {dy} (need {Rows * filters}), dx {dx} (need {InputLength})");
    }

    /// <summary>Throws unless the buffers fit this convolution's weight gradient: x [N,H,W,C], dy [N,OH,OW,F], dW [KH,KW,C,F], dBias empty or [F].</summary>
    internal void CheckWeightGradientBuffers(int filters, int x, int dy, int dW, int dBias)
    {
        if (filters < 1) throw new ArgumentException($"filters must be positive, not {filters}");
        if (x != InputLength || dy != Rows * filters || dW != Patch * filters || !(dBias == 0 || dBias == filters))
            throw new ArgumentException($"weight gradient buffers: x {x} (need {InputLength}), dy {dy} (need {Rows * filters}), dW {dW} (need {Patch * filters}), " +
                $"dBias {dBias} (need 0 or {filters})");
    }

    /// <summary>
    /// Keras / TensorFlow padding. 'valid': none. 'same': output = ceil(input / stride), and
    /// the total padding max((out - 1) * stride + kernel - input, 0) is split with the extra
    /// pixel at the bottom / right (which is where TensorFlow puts it for stride 2).
    /// </summary>
    public static ConvGeometry Create(int batch, int height, int width, int channels,
        int kernelH, int kernelW, int strideH, int strideW, string padding)
    {
        if (batch < 1 || height < 1 || width < 1 || channels < 1 || kernelH < 1 || kernelW < 1 || strideH < 1 || strideW < 1)
            throw new ArgumentException($"convolution sizes must be positive: input {batch}x{height}x{width}x{channels}, window {kernelH}x{kernelW}, stride {strideH}x{strideW}");
        (int top, int bottom) = Pad(height, kernelH, strideH, padding);
        (int left, int right) = Pad(width, kernelW, strideW, padding);
        var g = new ConvGeometry(batch, height, width, channels, kernelH, kernelW, strideH, strideW, top, bottom, left, right);
        if (g.OutHeight < 1 || g.OutWidth < 1)
            throw new ArgumentException($"a {kernelH}x{kernelW} window does not fit a {height}x{width} input with '{padding}' padding");
        return g;
    }

    static (int Before, int After) Pad(int size, int kernel, int stride, string padding)
    {
        switch (padding)
        {
            case "valid": return (0, 0);
            case "same":
                int output = (size + stride - 1) / stride;
                int total = Math.Max((output - 1) * stride + kernel - size, 0);
                return (total / 2, total - total / 2);
            default: throw new ArgumentException($"padding must be 'valid' or 'same', not '{padding}'");
        }
    }
}

/// <summary>
/// im2col / col2im for NHWC: each output position becomes one row holding its window,
/// (kh, kw, c) order, so a convolution is one GEMM against the HWIO kernel viewed as
/// [KH*KW*C, F]. In NHWC each window row segment is C adjacent channels, so building the
/// matrix is a sequence of contiguous copies rather than a gather.
/// </summary>
public static class Convolution
{
    /// <summary>cols[Rows, Patch] = the window of every output position (zeros in the padding); rows split over the team.</summary>
    public static unsafe void Im2Col<T>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckColumns(g, x.Length, cols.Length);
        fixed (T* px = x) fixed (T* pc = cols)
            TeamFor.Run(g.Rows, new Im2ColRows<T>(g, px, pc), minimumPerMember: 64);
    }

    /// <summary>dx += the windows of dCols scattered back to where Im2Col read them (padding dropped); images split over the team.</summary>
    public static unsafe void Col2ImAccumulate<T>(in ConvGeometry g, ReadOnlySpan<T> dCols, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckColumns(g, dx.Length, dCols.Length);
        // Windows of one image overlap in dx, windows of different images never do: split by image.
        fixed (T* pd = dCols) fixed (T* px = dx)
            TeamFor.Run(g.Batch, new Col2ImImages<T>(g, pd, px));
    }

    /// <summary>
    /// Col2Im for windows that never overlap (strides at least the kernel, as in a strided 1x1
    /// layer): each value of dx receives at most one window value. dx += them when
    /// accumulating; otherwise every value of dx is written once (zero where no window reads),
    /// so dx needs no clearing pass first. Images split over the team.
    /// dCols: [Rows, Patch], dx: [N,H,W,C].
    /// </summary>
    public static unsafe void Col2ImDisjoint<T>(in ConvGeometry g, ReadOnlySpan<T> dCols, Span<T> dx, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckColumns(g, dx.Length, dCols.Length);
        if (g.StrideH < g.KernelH || g.StrideW < g.KernelW) throw new ArgumentException("windows overlap: strides below the kernel size");
        fixed (T* pd = dCols) fixed (T* px = dx)
            TeamFor.Run(g.Batch, new Col2ImDisjointImages<T>(g, pd, px, accumulate));
    }

    internal unsafe readonly struct Col2ImDisjointImages<T>(ConvGeometry g, T* dCols, T* dx, bool accumulate) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth;
            for (int n = start; n < end; n++)
                for (int h = 0; h < g.Height; h++)
                {
                    // The window row (oy) and kernel row (i) that read input row h, if any.
                    int oy = (h + g.PadTop) / g.StrideH, i = (h + g.PadTop) % g.StrideH;
                    bool rowRead = i < g.KernelH && oy < oh;
                    var target = new Span<T>(dx + ((long)n * g.Height + h) * g.Width * c, g.Width * c);
                    if (!rowRead)
                    {
                        if (!accumulate) target.Clear();
                        continue;
                    }
                    for (int w = 0; w < g.Width; w++)
                    {
                        int ox = (w + g.PadLeft) / g.StrideW, j = (w + g.PadLeft) % g.StrideW;
                        var d = target.Slice(w * c, c);
                        if (j >= g.KernelW || ox >= ow)
                        {
                            if (!accumulate) d.Clear();
                            continue;
                        }
                        var src = new ReadOnlySpan<T>(dCols + ((long)(n * oh + oy) * ow + ox) * g.Patch + (i * g.KernelW + j) * c, c);
                        if (accumulate) Elementwise.Axpy(T.One, src, d);
                        else src.CopyTo(d);
                    }
                }
        }
    }

    internal unsafe readonly struct Im2ColRows<T>(ConvGeometry g, T* x, T* cols) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth, segment = g.KernelW * c;
            var input = new ReadOnlySpan<T>(x, g.InputLength);
            for (int row = start; row < end; row++)
            {
                int n = row / (oh * ow), y = row / ow % oh, xo = row % ow;
                var dst = new Span<T>(cols + (long)row * g.Patch, g.Patch);
                int x0 = xo * g.StrideW - g.PadLeft;
                for (int i = 0; i < g.KernelH; i++)
                {
                    int ih = y * g.StrideH - g.PadTop + i;
                    var d = dst.Slice(i * segment, segment);
                    if ((uint)ih >= (uint)g.Height) { d.Clear(); continue; }
                    int rowBase = (n * g.Height + ih) * g.Width;
                    if (x0 >= 0 && x0 + g.KernelW <= g.Width)
                    {
                        // The whole window row lies inside: one copy of KW*C values.
                        input.Slice((rowBase + x0) * c, segment).CopyTo(d);
                        continue;
                    }
                    for (int j = 0; j < g.KernelW; j++)
                    {
                        int iw = x0 + j;
                        var dj = d.Slice(j * c, c);
                        if ((uint)iw >= (uint)g.Width) dj.Clear();
                        else input.Slice((rowBase + iw) * c, c).CopyTo(dj);
                    }
                }
            }
        }
    }

    internal unsafe readonly struct Col2ImImages<T>(ConvGeometry g, T* dCols, T* dx) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth, segment = g.KernelW * c;
            var gradient = new Span<T>(dx, g.InputLength);
            for (int row = start * oh * ow; row < end * oh * ow; row++)
            {
                int n = row / (oh * ow), y = row / ow % oh, xo = row % ow;
                var src = new ReadOnlySpan<T>(dCols + (long)row * g.Patch, g.Patch);
                int x0 = xo * g.StrideW - g.PadLeft;
                for (int i = 0; i < g.KernelH; i++)
                {
                    int ih = y * g.StrideH - g.PadTop + i;
                    if ((uint)ih >= (uint)g.Height) continue;
                    int rowBase = (n * g.Height + ih) * g.Width;
                    var s = src.Slice(i * segment, segment);
                    if (x0 >= 0 && x0 + g.KernelW <= g.Width)
                    {
                        Elementwise.Axpy(T.One, s, gradient.Slice((rowBase + x0) * c, segment));
                        continue;
                    }
                    for (int j = 0; j < g.KernelW; j++)
                    {
                        int iw = x0 + j;
                        if ((uint)iw < (uint)g.Width)
                            Elementwise.Axpy(T.One, s.Slice(j * c, c), gradient.Slice((rowBase + iw) * c, c));
                    }
                }
            }
        }
    }

    /// <summary>
    /// Direct convolution by definition, the reference for the im2col + GEMM path:
    /// y[n,oy,ox,f] = b[f] + sum_{i,j,c} x[n, oy*s+i-pt, ox*s+j-pl, c] * w[i,j,c,f].
    /// </summary>
    public static void ForwardReference<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int filters, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int oh = g.OutHeight, ow = g.OutWidth;
        for (int n = 0; n < g.Batch; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int f = 0; f < filters; f++)
                    {
                        T sum = bias.IsEmpty ? T.Zero : bias[f];
                        for (int i = 0; i < g.KernelH; i++)
                            for (int j = 0; j < g.KernelW; j++)
                            {
                                int ih = oy * g.StrideH - g.PadTop + i, iw = ox * g.StrideW - g.PadLeft + j;
                                if ((uint)ih >= (uint)g.Height || (uint)iw >= (uint)g.Width) continue;
                                for (int c = 0; c < g.Channels; c++)
                                    sum += x[((n * g.Height + ih) * g.Width + iw) * g.Channels + c] * w[((i * g.KernelW + j) * g.Channels + c) * filters + f];
                            }
                        y[((n * oh + oy) * ow + ox) * filters + f] = sum;
                    }
    }

    /// <summary>
    /// Checks the buffers of im2col / col2im (shared with the CUDA backend): the image
    /// <see cref="ConvGeometry.InputLength"/> long, the window matrix Rows * Patch. Throws
    /// <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public static void CheckColumns(in ConvGeometry g, int inputLength, int colsLength)
    {
        if (inputLength != g.InputLength || colsLength != (long)g.Rows * g.Patch)
            throw new ArgumentException($"convolution buffers: input {inputLength} (need {g.InputLength}), columns {colsLength} (need {(long)g.Rows * g.Patch})");
    }

    /// <summary>
    /// A 1x1 window, stride 1, no padding: the convolution is one GEMM on x viewed as [rows, C]
    /// (both backends take that path).
    /// </summary>
    public static bool IsPointwise(in ConvGeometry g) =>
        g.KernelH == 1 && g.KernelW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadTop + g.PadBottom + g.PadLeft + g.PadRight == 0;
}
