using System.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cuda;

namespace Engine.Tensors;

/// <summary>
/// Matrix products and convolutions, on the tile engine of gemm.cu: the dense GEMM, and each
/// convolution pass as an implicit GEMM that gathers its windows from the NHWC image as it
/// loads them (never building the im2col matrix). 1x1 stride-1 unpadded layers are plain GEMMs
/// on x viewed as [rows, C]. Im2Col / Col2ImAccumulate are conv.cu's. Where an output has too
/// few tiles to occupy every SM, its depth is split over blocks into partial sums that a second
/// launch adds in a fixed order and finishes (scale, bias, beta, ReLU): reproducible, no atomics.
/// </summary>
public sealed partial class CudaBackend
{
    const string GemmSource = "gemm.cu";
    const string ConvSource = "conv.cu";
    /// <summary>Threads of every tile-engine block (gemm.cu's tilings all have 256).</summary>
    const int TileThreads = 256;
    /// <summary>Split-K shares are whole multiples of every tiling's depth step (8 or 16).</summary>
    const int SplitGranule = 16;
    /// <summary>Below this depth per share, writing and re-reading partials costs more than the idle SMs it fills.</summary>
    const int MinSplitDepth = 128;
    /// <summary>With a block for every SM, splitting a depth below this gains less than the second pass costs.</summary>
    const int SplitWorthyDepth = 512;
    const int MaxSplits = 256;
    /// <summary>
    /// Blocks per SM a launch aims at: a block stages one step ahead in registers, and only
    /// about four resident blocks (the small tile's register budget) cover the memory latency.
    /// </summary>
    const int BlocksPerMultiprocessor = 4;

    /// <summary>
    /// One tile-engine launch: the kernel suffix of the tiling ("large" 128x128, "tall" 128x64,
    /// "small" 64x64 output tiles), its tile size, and the depth split (Splits shares of
    /// KPerSplit; 1 share covers the whole depth).
    /// </summary>
    internal readonly record struct TilePlan(string Tiling, int TileRows, int TileColumns, int Splits, int KPerSplit)
    {
        public uint GridX(int m) => (uint)((m + TileRows - 1) / TileRows);
        public uint GridY(int n) => (uint)((n + TileColumns - 1) / TileColumns);
    }

    /// <summary>
    /// Chooses the tiling for an m x n output summed over depth k, with <paramref name="groups"/>
    /// independent problems of that size side by side in the grid (the input gradient's stride
    /// phases that have taps). Large tiles re-read less and do more multiply-adds per
    /// shared-memory read, but only 2 fit an SM: they are taken when there are enough of them
    /// to fill the SMs about twice. Otherwise the small tile, its depth split into shares of
    /// at least <see cref="MinSplitDepth"/> until about <see cref="BlocksPerMultiprocessor"/>
    /// blocks per SM run (measured on an H100 over ResNet-50's layers at batch 32, 64x64: within
    /// 4% of the best split per layer). Doubles use the small tile only (8x8 double
    /// accumulators take nearly all registers, one block per SM). It depends on the sizes and
    /// the GPU alone, so the summation order, and the rounding, is the same on every run.
    /// </summary>
    internal static TilePlan PlanTiles(int m, int n, int k, int groups, int multiprocessors, bool isDouble, long outputLength)
    {
        static long Tiles(int m, int n, int rows, int columns) => (long)((m + rows - 1) / rows) * ((n + columns - 1) / columns);
        long target = (long)BlocksPerMultiprocessor * multiprocessors;
        if (!isDouble)
        {
            // Measured on an H100: large tiles win from about 1.5 per SM (2048^3: 432 against 544 us
            // for small ones), tall from about 2 (25088 x 128 x 1152: 219 against 275 us).
            if (n > 64 && Tiles(m, n, 128, 128) * groups * 2 >= 3L * multiprocessors) return new("large", 128, 128, 1, k);
            if (Tiles(m, n, 128, 64) * groups >= 2L * multiprocessors) return new("tall", 128, 64, 1, k);
        }
        long small = Tiles(m, n, 64, 64) * groups;
        int splits = 1;
        if (small < target && (small < multiprocessors || k >= SplitWorthyDepth))
        {
            long wanted = (target + small - 1) / small;
            // The partials of all shares must fit one scratch tensor.
            long fit = int.MaxValue / Math.Max(1L, outputLength);
            splits = (int)Math.Clamp(Math.Min(Math.Min(wanted, k / MinSplitDepth), Math.Min(fit, MaxSplits)), 1, MaxSplits);
        }
        if (splits == 1) return new("small", 64, 64, 1, k);
        int share = (k + splits - 1) / splits;
        share = (share + SplitGranule - 1) / SplitGranule * SplitGranule;
        return new("small", 64, 64, (k + share - 1) / share, share);
    }

    /// <param name="zPerSplit">Grid layers per depth share (the input gradient's stride phases, all of them).</param>
    TilePlan PlanTiles<T>(int m, int n, int k, int groups, long outputLength, int zPerSplit = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = PlanTiles(m, n, k, groups, Context.MultiprocessorCount, typeof(T) == typeof(double), outputLength);
        if (plan.GridY(n) > 65535 || (long)plan.Splits * zPerSplit > 65535)
            throw new NotSupportedException($"a {m} x {n} product (depth {k}) is beyond the tile engine's grid");
        return plan;
    }

    /// <summary>C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C on contiguous row-major tensors.</summary>
    public void MatMul<T>(bool transA, bool transB, int m, int n, int k, T alpha, Tensor<T> a, Tensor<T> b, T beta, Tensor<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"negative GEMM size m={m} n={n} k={k}");
        CheckOperand("A", (long)m * k, a.Length);
        CheckOperand("B", (long)k * n, b.Length);
        CheckOperand("C", (long)m * n, c.Length);
        if (m == 0 || n == 0) return;
        // As the CPU: alpha = 0 (or no depth) scales C by beta without reading A or B.
        if (alpha == T.Zero) k = 0;
        Gemm(transA, transB, m, n, k, alpha, Ptr(a), Ptr(b), beta, Ptr(c), null, null, relu: false);
    }

    static void CheckOperand(string name, long needed, int length)
    {
        if (length < needed) throw new ArgumentException($"{name} is too short for its shape: {length} elements, need {needed}");
    }

    /// <summary>
    /// The dense GEMM with the full epilogue: c = relu?(alpha * op(a) op(b) * scale[col] + bias[col] + beta * c)
    /// (scale, bias: [n] or null). Row-major: a [m,k] ([k,m] when transA), b [k,n] ([n,k] when transB), c [m,n].
    /// </summary>
    void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ulong a, ulong b, T beta, ulong c, Tensor<T>? scale, Tensor<T>? bias, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long outputLength = (long)m * n;
        var plan = PlanTiles<T>(m, n, k, 1, outputLength);
        ulong pScale = PtrOrZero(scale), pBias = PtrOrZero(bias);
        var grid = new Dim3(plan.GridX(m), plan.GridY(n), (uint)plan.Splits);
        if (plan.Splits == 1)
        {
            Launch<T>(GemmSource, "gemm_" + plan.Tiling, grid, new Dim3(TileThreads), 0,
                a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, Scalar(alpha), Scalar(beta), pScale, pBias, relu ? 1 : 0, plan.KPerSplit, 0UL);
            return;
        }
        using var partial = Scratch<T>((int)(plan.Splits * outputLength));
        Launch<T>(GemmSource, "gemm_" + plan.Tiling, grid, new Dim3(TileThreads), 0,
            a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, Scalar(alpha), Scalar(beta), pScale, pBias, relu ? 1 : 0, plan.KPerSplit, Ptr(partial));
        ReducePartials(partial, plan.Splits, (int)outputLength, n, c, alpha, beta, pScale, pBias, relu);
    }

    /// <summary>output = epilogue(sum of the splits' partials, in split order); partial holds splits x total values laid out as the output.</summary>
    void ReducePartials<T>(Tensor<T> partial, int splits, int total, int columns, ulong output, T alpha, T beta, ulong scale, ulong bias, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T>
        => LaunchElements<T>(GemmSource, "gemm_splitk_reduce", total,
            Ptr(partial), splits, total, columns, output, Scalar(alpha), Scalar(beta), scale, bias, relu ? 1 : 0);

    /// <summary>
    /// y [N,H',W',F] = (y when accumulating) + conv(x [N,H,W,C], kernel [KH,KW,C,F]) (* scale [F]) (+ bias [F]),
    /// then max(y, 0) when relu.
    /// </summary>
    public void Conv2DForward<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> kernel, Tensor<T>? bias, Tensor<T> y, bool relu = false,
        Tensor<T>? scale = null, bool accumulate = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int filters = kernel.Shape[3];
        CheckConvolution(g, x.Length, kernel.Length, filters, y.Length, "y");
        if (bias != null && bias.Length != filters) throw new ArgumentException($"conv2d bias has {bias.Length} values for {filters} filters");
        if (scale != null && scale.Length != filters) throw new ArgumentException($"conv2d scale has {scale.Length} values for {filters} filters");
        T beta = accumulate ? T.One : T.Zero;
        if (Convolution.IsPointwise(g))
        {
            // x [N,H,W,C] is x [rows, C] and the kernel [C, F]: y = x w.
            Gemm(false, false, g.Rows, filters, g.Channels, T.One, Ptr(x), Ptr(kernel), beta, Ptr(y), scale, bias, relu);
            return;
        }
        int m = g.Rows, k = g.Patch;
        long outputLength = (long)m * filters;
        var plan = PlanTiles<T>(m, filters, k, 1, outputLength);
        using var partial = plan.Splits > 1 ? Scratch<T>((int)(plan.Splits * outputLength)) : null;
        Span<KernelArg> args = stackalloc KernelArg[3 + ShapeArguments + 6];
        args[0] = Ptr(x);
        args[1] = Ptr(kernel);
        args[2] = Ptr(y);
        WriteShape(args[3..], g, filters);
        var rest = args[(3 + ShapeArguments)..];
        rest[0] = PtrOrZero(scale);
        rest[1] = PtrOrZero(bias);
        rest[2] = relu ? 1 : 0;
        rest[3] = accumulate ? 1 : 0;
        rest[4] = plan.KPerSplit;
        rest[5] = PtrOrZero(partial);
        Launch<T>(GemmSource, "conv_forward_" + plan.Tiling, new Dim3(plan.GridX(m), plan.GridY(filters), (uint)plan.Splits), new Dim3(TileThreads), 0, args);
        if (partial != null)
            ReducePartials(partial, plan.Splits, (int)outputLength, filters, Ptr(y), T.One, beta, PtrOrZero(scale), PtrOrZero(bias), relu);
    }

    /// <summary>
    /// Accumulates the convolution's gradients into those of dKernel, dBias that are not null, and
    /// into dx; overwrites dx when accumulateDx is false, and dKernel when accumulateDKernel is.
    /// dy: [N,H',W',F]; dx: x's shape; dKernel: the kernel's; dBias: [F] (always accumulated).
    /// </summary>
    public void Conv2DBackward<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> kernel, Tensor<T> dy, Tensor<T>? dx, Tensor<T>? dKernel, Tensor<T>? dBias,
        bool accumulateDx = true, bool accumulateDKernel = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int filters = kernel.Shape[3];
        CheckConvolution(g, x.Length, kernel.Length, filters, dy.Length, "dy");
        if (dx != null && dx.Length != g.InputLength) throw new ArgumentException($"conv2d dx has {dx.Length} values, need {g.InputLength}");
        if (dKernel != null && dKernel.Length != kernel.Length) throw new ArgumentException($"conv2d dKernel has {dKernel.Length} values, need {kernel.Length}");
        if (dBias != null && dBias.Length != filters) throw new ArgumentException($"conv2d dBias has {dBias.Length} values for {filters} filters");
        bool pointwise = Convolution.IsPointwise(g);
        if (dKernel != null)
        {
            // dW [C, F] = x^T dy over the rows when pointwise.
            if (pointwise) Gemm(true, false, g.Channels, filters, g.Rows, T.One, Ptr(x), Ptr(dy), accumulateDKernel ? T.One : T.Zero, Ptr(dKernel), null, null, relu: false);
            else WeightGradient(g, x, dy, filters, dKernel, accumulateDKernel);
        }
        if (dBias != null) SumAxisAccumulate(dy, 1, g.Rows, filters, T.One, dBias);
        if (dx == null) return;
        // dx [rows, C] = dy w^T when pointwise.
        if (pointwise) Gemm(false, true, g.Rows, g.Channels, filters, T.One, Ptr(dy), Ptr(kernel), accumulateDx ? T.One : T.Zero, Ptr(dx), null, null, relu: false);
        else InputGradient(g, dy, kernel, filters, dx, accumulateDx);
    }

    /// <summary>dW [KH*KW*C, F] (+)= windows^T dy: the depth is the N*H'*W' output positions, so small late layers split it.</summary>
    void WeightGradient<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> dy, int filters, Tensor<T> dKernel, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = g.Patch, k = g.Rows;
        long outputLength = (long)m * filters;
        var plan = PlanTiles<T>(m, filters, k, 1, outputLength);
        using var partial = plan.Splits > 1 ? Scratch<T>((int)(plan.Splits * outputLength)) : null;
        Span<KernelArg> args = stackalloc KernelArg[3 + ShapeArguments + 3];
        args[0] = Ptr(x);
        args[1] = Ptr(dy);
        args[2] = Ptr(dKernel);
        WriteShape(args[3..], g, filters);
        args[3 + ShapeArguments] = accumulate ? 1 : 0;
        args[4 + ShapeArguments] = plan.KPerSplit;
        args[5 + ShapeArguments] = PtrOrZero(partial);
        Launch<T>(GemmSource, "conv_backward_weights_" + plan.Tiling, new Dim3(plan.GridX(m), plan.GridY(filters), (uint)plan.Splits), new Dim3(TileThreads), 0, args);
        if (partial != null)
            ReducePartials(partial, plan.Splits, (int)outputLength, filters, Ptr(dKernel), T.One, accumulate ? T.One : T.Zero, 0UL, 0UL, relu: false);
    }

    /// <summary>
    /// dx (+)= the input gradient, gathered: each of the sh*sw stride phases of dx (input
    /// positions congruent modulo the stride) is a dense GEMM over the taps that reach it, so
    /// every dx element is written once, by one thread, and phases no tap reaches get zeros.
    /// Split partials hold only the rows of phases with taps (gemm.cu's layout), which
    /// conv_backward_input_reduce adds into their dx positions.
    /// </summary>
    void InputGradient<T>(in ConvGeometry g, Tensor<T> dy, Tensor<T> kernel, int filters, Tensor<T> dx, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int phases = g.StrideH * g.StrideW;
        // Phase (0, 0) has the most rows and at most ceil(KH/sh) x ceil(KW/sw) taps: the grid's bounds.
        int m = g.Batch * ((g.Height + g.StrideH - 1) / g.StrideH) * ((g.Width + g.StrideW - 1) / g.StrideW);
        int k = (g.KernelH + g.StrideH - 1) / g.StrideH * ((g.KernelW + g.StrideW - 1) / g.StrideW) * filters;
        // Phases no tap reaches (a 1x1 stride-2 layer has 3 of 4) only write zeros: plan by the others.
        int phasesWithTaps = Math.Min(g.StrideH, g.KernelH) * Math.Min(g.StrideW, g.KernelW);
        long slice = (long)g.Batch * RowsWithTaps(g.Height, g.StrideH, g.PadTop, g.KernelH) * RowsWithTaps(g.Width, g.StrideW, g.PadLeft, g.KernelW) * g.Channels;
        var plan = PlanTiles<T>(m, g.Channels, k, phasesWithTaps, slice, phases);
        using var partial = plan.Splits > 1 ? Scratch<T>((int)(plan.Splits * slice)) : null;
        Span<KernelArg> args = stackalloc KernelArg[3 + ShapeArguments + 3];
        args[0] = Ptr(dy);
        args[1] = Ptr(kernel);
        args[2] = Ptr(dx);
        WriteShape(args[3..], g, filters);
        args[3 + ShapeArguments] = accumulate ? 1 : 0;
        args[4 + ShapeArguments] = plan.KPerSplit;
        args[5 + ShapeArguments] = PtrOrZero(partial);
        Launch<T>(GemmSource, "conv_backward_input_" + plan.Tiling, new Dim3(plan.GridX(m), plan.GridY(g.Channels), (uint)(plan.Splits * phases)),
            new Dim3(TileThreads), 0, args);
        if (partial == null) return;
        if (phases == 1)
        {
            // One phase: the partials are laid out as dx itself.
            ReducePartials(partial, plan.Splits, (int)slice, g.Channels, Ptr(dx), T.One, accumulate ? T.One : T.Zero, 0UL, 0UL, relu: false);
            return;
        }
        Span<KernelArg> reduce = stackalloc KernelArg[3 + ShapeArguments + 1];
        reduce[0] = Ptr(partial);
        reduce[1] = plan.Splits;
        reduce[2] = Ptr(dx);
        WriteShape(reduce[3..], g, filters);
        reduce[3 + ShapeArguments] = accumulate ? 1 : 0;
        // One grid row per phase (rows of tap-less phases return at once). One thread of each
        // block works out the phase's place while the rest wait, so the grid is kept to one
        // wave, each thread taking a few 16-byte packs.
        long perPhase = slice / phasesWithTaps;
        uint blocks = (uint)Math.Clamp((perPhase + 4L * ThreadsPerBlock - 1) / (4L * ThreadsPerBlock), 1L, 2L * Context.MultiprocessorCount);
        Launch<T>(GemmSource, "conv_backward_input_reduce", new Dim3(blocks, (uint)phases), new Dim3(ThreadsPerBlock), 0, reduce);
    }

    /// <summary>
    /// Input rows (or columns) of the stride phases that some tap reaches: phase p (rows p,
    /// p + stride, ...) is reached by taps kh = (p + pad) mod stride + stride * j, so when
    /// (p + pad) mod stride &lt; kernel. As gemm.cu's Phase counts them.
    /// </summary>
    static int RowsWithTaps(int size, int stride, int pad, int kernel)
    {
        int rows = 0;
        for (int p = 0; p < stride && p < size; p++)
            if ((p + pad) % stride < kernel) rows += (size - p + stride - 1) / stride;
        return rows;
    }

    /// <summary>cols[rows, patch] = every output position's window of x (NHWC), zeros in the padding.</summary>
    public void Im2Col<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Convolution.CheckColumns(g, x.Length, cols.Length);
        LaunchElements<T>(ConvSource, "im2col", cols.Length, Ptr(x), Ptr(cols),
            g.Batch, g.Height, g.Width, g.Channels, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.OutHeight, g.OutWidth);
    }

    /// <summary>dx += dCols scattered back to the input positions its windows came from (computed as a gather per dx element).</summary>
    public void Col2ImAccumulate<T>(in ConvGeometry g, Tensor<T> dCols, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Convolution.CheckColumns(g, dx.Length, dCols.Length);
        LaunchElements<T>(ConvSource, "col2im_accumulate", dx.Length, Ptr(dCols), Ptr(dx),
            g.Batch, g.Height, g.Width, g.Channels, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.OutHeight, g.OutWidth);
    }

    /// <summary>The geometry parameters every convolution kernel of gemm.cu takes after its three pointers.</summary>
    const int ShapeArguments = 13;

    /// <summary>N, H, W, C, KH, KW, sh, sw, pt, pl, OH, OW, F: gemm.cu's ConvShape (bottom / right padding show only in OH, OW).</summary>
    static void WriteShape(Span<KernelArg> args, in ConvGeometry g, int filters)
    {
        args[0] = g.Batch;
        args[1] = g.Height;
        args[2] = g.Width;
        args[3] = g.Channels;
        args[4] = g.KernelH;
        args[5] = g.KernelW;
        args[6] = g.StrideH;
        args[7] = g.StrideW;
        args[8] = g.PadTop;
        args[9] = g.PadLeft;
        args[10] = g.OutHeight;
        args[11] = g.OutWidth;
        args[12] = filters;
    }

    static void CheckConvolution(in ConvGeometry g, int xLength, int kernelLength, int filters, int outputLength, string output)
    {
        if (filters < 1) throw new ArgumentException($"filters must be positive, not {filters}");
        if (xLength != g.InputLength || kernelLength != g.Patch * filters || outputLength != (long)g.Rows * filters)
            throw new ArgumentException($"convolution buffers: x {xLength} (need {g.InputLength}), kernel {kernelLength} (need {g.Patch * filters}), " +
                $"{output} {outputLength} (need {(long)g.Rows * filters})");
    }
}
