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
        Check(g, x.Length, cols.Length);
        fixed (T* px = x) fixed (T* pc = cols)
            TeamFor.Run(g.Rows, new Im2ColRows<T>(g, px, pc), minimumPerMember: 64);
    }

    /// <summary>dx += the windows of dCols scattered back to where Im2Col read them (padding dropped); images split over the team.</summary>
    public static unsafe void Col2ImAccumulate<T>(in ConvGeometry g, ReadOnlySpan<T> dCols, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(g, dx.Length, dCols.Length);
        // Windows of one image overlap in dx, windows of different images never do: split by image.
        fixed (T* pd = dCols) fixed (T* px = dx)
            TeamFor.Run(g.Batch, new Col2ImImages<T>(g, pd, px));
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

    static void Check(in ConvGeometry g, int inputLength, int colsLength)
    {
        if (inputLength != g.InputLength || colsLength != g.Rows * g.Patch)
            throw new ArgumentException($"convolution buffers: input {inputLength} (need {g.InputLength}), columns {colsLength} (need {g.Rows * g.Patch})");
    }
}

/// <summary>
/// Convolution forward and backward on the thread team, one batch chunk per step: each
/// member takes whole images, builds their window matrix in a scratch buffer sized to stay
/// in L2, and runs single-threaded GEMMs on it. The full im2col matrix (9x the input for a
/// 3x3 layer) never goes to memory, col2im never races (members own whole images), and the
/// weight gradient is summed per member and added up at the end.
/// </summary>
public static class ChunkedConvolution
{
    /// <summary>Window-matrix bytes per chunk: about half of a 1 MB L2, leaving room for weights and output.</summary>
    const int ChunkBytes = 512 * 1024;

    /// <summary>
    /// Worth it with at least two images per member and enough rows; otherwise (ResNet's 4x4 and
    /// 2x2 stages) the whole-matrix path, whose GEMMs spread over the team, is better.
    /// </summary>
    public static bool Suits(in ConvGeometry g, int members) => g.Batch >= 2 * members && g.Rows >= 1024;

    static int ImagesPerChunk<T>(in ConvGeometry g) where T : unmanaged
    {
        int rowsPerImage = g.OutHeight * g.OutWidth;
        long bytesPerImage = (long)rowsPerImage * g.Patch * Unsafe.SizeOf<T>();
        return (int)Math.Clamp(ChunkBytes / Math.Max(1, bytesPerImage), 1, g.Batch);
    }

    /// <summary>y[rows, F] = im2col(x) * w[patch, F] (+ bias), then max(y, 0) when relu (while the chunk is in cache).</summary>
    public static unsafe void Forward<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int filters, Span<T> y, bool relu = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int perChunk = ImagesPerChunk<T>(g), chunks = (g.Batch + perChunk - 1) / perChunk;
        // The weights are the same for every chunk: pack them once.
        var packedW = Scratch<T>.Weights = Gemm.PackB(false, g.Patch, filters, w, filters, Scratch<T>.Weights);
        fixed (T* px = x) fixed (T* pb = bias) fixed (T* py = y)
            TeamFor.Run(chunks, new Body<T>(g, perChunk, filters, px, packedW, bias.IsEmpty ? null : pb, py, null, null, null, null) { Relu = relu });
    }

    /// <summary>
    /// Accumulates dx, dW and db (each skipped when empty) from dy, rebuilding each chunk's
    /// window matrix: dW += cols^T dy, dCols = dy w^T folded back onto dx.
    /// </summary>
    public static unsafe void Backward<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> dy, int filters,
        Span<T> dx, Span<T> dW, Span<T> db) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int perChunk = ImagesPerChunk<T>(g), chunks = (g.Batch + perChunk - 1) / perChunk;
        int members = TeamFor.Members(), wLength = g.Patch * filters;
        // Per-member weight and bias gradients, added into dW / db once every member is done.
        var partials = Scratch<T>.Partials(members * (wLength + filters));
        partials.AsSpan(0, members * (wLength + filters)).Clear();
        // dCols = dy W^T for every chunk: pack W^T once.
        var packedWt = dx.IsEmpty ? null : Scratch<T>.Weights = Gemm.PackB(true, filters, g.Patch, w, filters, Scratch<T>.Weights);
        fixed (T* px = x) fixed (T* pdy = dy) fixed (T* pdx = dx) fixed (T* pp = partials)
            TeamFor.Run(chunks, new Body<T>(g, perChunk, filters, px, packedWt, null, null, pdy, dx.IsEmpty ? null : pdx, pp, pp + members * wLength));
        for (int m = 0; m < members; m++)
        {
            if (!dW.IsEmpty) Elementwise.Axpy(T.One, partials.AsSpan(m * wLength, wLength), dW);
            if (!db.IsEmpty) Elementwise.Axpy(T.One, partials.AsSpan(members * wLength + m * filters, filters), db);
        }
    }

    /// <summary>Forward when dy is null (writes y), backward otherwise (accumulates dx, dW and db partials).</summary>
    unsafe readonly struct Body<T>(ConvGeometry g, int perChunk, int filters, T* x, PackedMatrix<T>? weights, T* bias, T* y, T* dy, T* dx, T* dWPartials, T* dbPartials)
        : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Forward only: clamp the output at zero (a fused ReLU).</summary>
        public bool Relu { get; init; }

        public void Execute(int member, int start, int end)
        {
            int rowsPerImage = g.OutHeight * g.OutWidth, inImage = g.Height * g.Width * g.Channels;
            var cols = Scratch<T>.Columns(perChunk * rowsPerImage * g.Patch);
            T* pc = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(cols)); // pinned array
            int wLength = g.Patch * filters;
            for (int chunk = start; chunk < end; chunk++)
            {
                int first = chunk * perChunk, images = Math.Min(perChunk, g.Batch - first);
                var sub = g with { Batch = images };
                int rows = sub.Rows;
                var cs = cols.AsSpan(0, rows * g.Patch);
                new Convolution.Im2ColRows<T>(sub, x + (long)first * inImage, pc).Execute(0, 0, rows);
                long outOffset = (long)first * rowsPerImage * filters;
                if (dy == null)
                {
                    var ys = new Span<T>(y + outOffset, rows * filters);
                    Gemm.Multiply(false, rows, T.One, cs, g.Patch, weights!, T.Zero, ys, filters);
                    if (bias != null) Elementwise.Binary<T, AddOp<T>>(ys, new ReadOnlySpan<T>(bias, filters), ys);
                    if (Relu) Elementwise.Map<T, ReluOp<T>>(ys, ys);
                    continue;
                }
                var dys = new ReadOnlySpan<T>(dy + outOffset, rows * filters);
                var dWm = new Span<T>(dWPartials + (long)member * wLength, wLength);
                Gemm.Multiply(true, false, g.Patch, filters, rows, T.One, cs, g.Patch, dys, filters, T.One, dWm, filters, ThreadTeam.Solo);
                Reductions.SumAxisAccumulate(dys, 1, rows, filters, T.One, new Span<T>(dbPartials + (long)member * filters, filters));
                if (dx == null) continue;
                // The window matrix is spent: reuse its buffer for dCols.
                Gemm.Multiply(false, rows, T.One, dys, filters, weights!, T.Zero, cs, g.Patch);
                new Convolution.Col2ImImages<T>(sub, pc, dx + (long)first * inImage).Execute(0, 0, images);
            }
        }
    }

    /// <summary>This kernel's per-thread buffers (see ThreadScratch).</summary>
    static class Scratch<T> where T : unmanaged
    {
        [ThreadStatic] static T[]? _columns;
        [ThreadStatic] static T[]? _partials;
        /// <summary>The caller's packed weights (W for the forward, W^T for the backward), reused call after call.</summary>
        [ThreadStatic] public static PackedMatrix<T>? Weights;
        /// <summary>A team member's own window-matrix buffer.</summary>
        public static T[] Columns(int length) => ThreadScratch.Get(ref _columns, length);
        /// <summary>The caller's per-member gradient partials, shared with its team for one call.</summary>
        public static T[] Partials(int length) => ThreadScratch.Get(ref _partials, length);
    }
}
