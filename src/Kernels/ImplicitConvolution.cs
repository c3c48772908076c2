using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// Convolution as a GEMM whose A matrix is never built (implicit GEMM): y[rows, F] =
/// windows[rows, KH*KW*C] * w[KH*KW*C, F], where the micro-kernel reads each output
/// position's window straight from the image. In NHWC one window row (KW pixels x C channels)
/// is KW*C adjacent values, so a window is KH runs of KW*C values, one image row apart. In a
/// padded layer each tile walks only the taps its windows have off the border (see
/// BorderPlan), which lie inside the image, so windows are read from the input as it is and
/// no read needs a bounds test. The weight gradient, which sums over all taps at once, reads
/// a zero-bordered copy of the batch instead (the size of the input, where im2col would write
/// KH*KW times it). Bias and ReLU are applied to the tile in registers as it is stored.
/// </summary>
public static unsafe class ImplicitConvolution
{
    /// <summary>Elements a piece of a window column is copied as (at least MR), and the slack buffers keep for it.</summary>
    const int CopySlack = 16;

    /// <summary>
    /// y = (y when accumulating) + conv(x, w) * scale + bias, then max(y, 0) when relu.
    /// x: [N,H,W,C], w: [KH,KW,C,F] (HWIO), scale and bias: [F] or empty, y: [N,OH,OW,F].
    /// The per-filter scale multiplies the weights as they are packed, which costs no pass of
    /// its own: an inference-mode batch norm (scale gamma / sqrt(variance + epsilon), its shift
    /// in the bias) runs inside the convolution before it, and accumulating onto a residual
    /// shortcut with relu makes a ResNet block's conv -> BN -> Add -> ReLU one pass.
    /// </summary>
    public static void Forward<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int filters, Span<T> y,
        bool relu = false, bool accumulate = false, ThreadTeam? team = null, ReadOnlySpan<T> scale = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Forward<T, V512<T>>(g, x, w, bias, filters, y, relu, accumulate, team, scale);
        else Forward<T, V256<T>>(g, x, w, bias, filters, y, relu, accumulate, team, scale);
    }

    /// <summary>The same at an explicit vector width (tests use both).</summary>
    public static void Forward<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int filters, Span<T> y,
        bool relu = false, bool accumulate = false, ThreadTeam? team = null, ReadOnlySpan<T> scale = default)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        g.CheckForwardBuffers(filters, x.Length, w.Length, y.Length, bias.Length, scale.Length);
        Run<T, W>(g, x, w, rotated: false, bias, filters, y, relu, accumulate, team, scale);
    }

    /// <summary>
    /// The convolution with weights taken either as they are ([taps, C, F]) or, for the input
    /// gradient, rotated 180 degrees with in / out channels swapped (read from [taps, F, C] as
    /// stored by the forward layer: then F is <paramref name="g"/>'s channel count and C is
    /// <paramref name="filters"/>). The weights are packed into GEMM panels first (by each
    /// member for itself when the team splits rows, else each its share of column panels), so
    /// the rotation costs no extra pass.
    /// </summary>
    static void Run<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, bool rotated, ReadOnlySpan<T> bias, int filters, Span<T> y,
        bool relu, bool accumulate, ThreadTeam? team, ReadOnlySpan<T> scale = default)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        team ??= ThreadTeam.Shared;
        var job = Job<T, W>.ForThisThread();
        job.EnsureMembers(team.Size);
        int nr = 2 * W.Count;
        int packedLength = Gemm.RoundUp(g.Patch * Gemm.RoundUp(filters, nr), 64 / Unsafe.SizeOf<T>());
        int copies = Job<T, W>.PrivateWeights(g, filters, team.Size) ? team.Size : 1;
        T* packedWeights = ThreadScratch.Get(ref job.PackedWeights, (long)copies * packedLength);
        // The epilogue reads whole NR-wide bias vectors, and the packing whole scale vectors:
        // copies padded with zeros to a whole panel.
        T[]? biasBuffer = PaddedToPanels(bias, ref job.Bias, nr);
        T[]? scaleBuffer = PaddedToPanels(scale, ref job.Scale, nr);
        bool solo = !team.WorthSplitting((long)g.Rows * g.Patch * filters);
        var plan = job.PlanFor(g, filters, solo ? 1 : team.Size);
        bool padCopy = plan is { Padded: true };
        var source = padCopy ? Source.PaddedFor(g) : new Source(g.Batch, g.Height, g.Width, g.Channels);
        T* pPad = padCopy ? ThreadScratch.Get(ref job.Padded, source.Length) : null;
        fixed (T* px = x) fixed (T* pw = w) fixed (T* py = y) fixed (T* pBias = biasBuffer) fixed (T* pScale = scaleBuffer)
        {
            job.Set(g, filters, plan, padCopy ? pPad : px, source, px, pw, rotated, packedWeights, packedLength, py, pBias, relu, accumulate, pScale);
            if (solo) job.Execute(0, 1, ThreadTeam.Solo);
            else team.Run(job);
        }
    }

    /// <summary>Per-filter values copied into a scratch slot and zero-padded to whole panels of <paramref name="nr"/>; null when there are none.</summary>
    static T[]? PaddedToPanels<T>(ReadOnlySpan<T> values, ref T[]? slot, int nr) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.IsEmpty) return null;
        int width = Gemm.RoundUp(values.Length, nr);
        var buffer = ThreadScratch.Get(ref slot, width);
        values.CopyTo(buffer);
        buffer.AsSpan(values.Length, width - values.Length).Clear();
        return buffer;
    }

    /// <summary>The input gradient can be computed as a convolution when the stride is 1.</summary>
    public static bool HandlesInputGradient(in ConvGeometry g) => g.StrideH == 1 && g.StrideW == 1;

    /// <summary>
    /// dx (+)= the input gradient of a stride-1 convolution, computed as a convolution itself:
    /// dx[i] = sum over taps t of dy[i - t + pad] * w[t]^T, which is dy, padded by (KH-1-top,
    /// KH-1-bottom) x (KW-1-left, KW-1-right), convolved with w rotated 180 degrees and its
    /// in / out channels swapped ([KH,KW,F,C]).
    /// dy: [N,OH,OW,F], w: [KH,KW,C,F], dx: [N,H,W,C].
    /// </summary>
    /// <param name="accumulate">Add into dx; otherwise overwrite it.</param>
    public static void BackwardInput<T>(in ConvGeometry g, ReadOnlySpan<T> dy, ReadOnlySpan<T> w, int filters, Span<T> dx, bool accumulate = true, ThreadTeam? team = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!HandlesInputGradient(g)) throw new ArgumentException("the input gradient as a convolution needs stride 1");
        g.CheckInputGradientBuffers(filters, w.Length, dy.Length, dx.Length);
        int kh = g.KernelH, kw = g.KernelW;
        var transposed = new ConvGeometry(g.Batch, g.OutHeight, g.OutWidth, filters, kh, kw, 1, 1,
            kh - 1 - g.PadTop, kh - 1 - g.PadBottom, kw - 1 - g.PadLeft, kw - 1 - g.PadRight);
        if (V512<T>.IsHardwareAccelerated) Run<T, V512<T>>(transposed, dy, w, rotated: true, default, g.Channels, dx, relu: false, accumulate, team);
        else Run<T, V256<T>>(transposed, dy, w, rotated: true, default, g.Channels, dx, relu: false, accumulate, team);
    }

    /// <summary>
    /// dW (+)= windows^T * dy, the weight gradient, without the window matrix: the GEMM's A
    /// operand (windows^T, [KH*KW*C, rows]) is packed straight from the (padded) image. Either
    /// the rows (GEMM's k) are split over the team, each member summing its share into its own
    /// partial and the partials added up into dW at the end, or blocks of dW are.
    /// <paramref name="accumulate"/> false overwrites dW (a fresh gradient then needs no
    /// clearing pass: its first k-block stores instead of adding). dBias, when not empty, gets
    /// dy's column sums added (the bias gradient), summed from the packed panels of dy while
    /// they are in cache instead of by another pass over dy.
    /// x: [N,H,W,C], dy: [N,OH,OW,F], dW: [KH,KW,C,F], dBias: [F].
    /// </summary>
    public static void WeightGradient<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int filters, Span<T> dW, bool accumulate = true, ThreadTeam? team = null,
        Span<T> dBias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) WeightGradient<T, V512<T>>(g, x, dy, filters, dW, accumulate, team, dBias);
        else WeightGradient<T, V256<T>>(g, x, dy, filters, dW, accumulate, team, dBias);
    }

    /// <summary>The same at an explicit vector width (tests use both).</summary>
    public static void WeightGradient<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int filters, Span<T> dW, bool accumulate = true, ThreadTeam? team = null,
        Span<T> dBias = default)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        g.CheckWeightGradientBuffers(filters, x.Length, dy.Length, dW.Length, dBias.Length);
        team ??= ThreadTeam.Shared;
        bool solo = !team.WorthSplitting((long)g.Rows * g.Patch * filters);
        int members = solo ? 1 : team.Size;
        var job = Job<T, W>.ForThisThread();
        job.EnsureMembers(team.Size);
        bool padded = g.PadTop + g.PadBottom + g.PadLeft + g.PadRight > 0;
        var source = Source.PaddedFor(g);
        T* pPad = padded ? ThreadScratch.Get(ref job.Padded, source.Length + CopySlack) : null;
        T* pp = Job<T, W>.SplitOutputs(g, filters, members) ? null : ThreadScratch.Get(ref job.Partials, (long)members * g.Patch * filters);
        // Each member's column sums of dy, whole panels wide, added into dBias after the job.
        int biasWidth = Gemm.RoundUp(filters, 2 * W.Count);
        T* biasSums = dBias.IsEmpty ? null : ThreadScratch.Get(ref job.BiasSums, (long)members * biasWidth);
        if (biasSums != null) new Span<T>(biasSums, members * biasWidth).Clear();
        fixed (T* px = x) fixed (T* pdy = dy) fixed (T* pdW = dW)
        {
            job.SetWeightGradient(g, filters, padded ? pPad : px, source, px, pdy, pdW, pp, accumulate, biasSums);
            if (solo) job.Execute(0, 1, ThreadTeam.Solo);
            else team.Run(job);
        }
        for (int m = 0; m < members && biasSums != null; m++) Elementwise.Axpy(T.One, new ReadOnlySpan<T>(biasSums + (long)m * biasWidth, filters), dBias);
    }

    /// <summary>
    /// The image the windows are read from: the input itself, or its zero-padded copy.
    /// Dimensions include the padding.
    /// </summary>
    readonly record struct Source(int Batch, int Height, int Width, int Channels)
    {
        public int Length => Batch * Height * Width * Channels;

        /// <summary>The batch with its zero border.</summary>
        public static Source PaddedFor(in ConvGeometry g) => new(g.Batch, g.Height + g.PadTop + g.PadBottom, g.Width + g.PadLeft + g.PadRight, g.Channels);
    }

    sealed class Job<T, W> : TeamJob where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        [ThreadStatic] static Job<T, W>? _forThread;
        public static Job<T, W> ForThisThread() => _forThread ??= new Job<T, W>();

        public NativeBuffer<T>? PackedWeights, Padded, Partials, BiasSums;
        public T[]? Bias, Scale;
        // Per member: packed panels of dy and of the windows (the weight gradient's B and A).
        NativeBuffer<T>?[] _packedDy = new NativeBuffer<T>[1], _packedWindows = new NativeBuffer<T>[1];
        // Per member: a k-block of whole windows, one row each (the weight gradient's A, transposed).
        NativeBuffer<T>?[] _windowMatrix = new NativeBuffer<T>[1];
        // Per member: which taps of each row's window lie off the padding, and each packed
        // window panel's B steps past the rows it leaves out (the weight gradient's tap skipping).
        NativeBuffer<ulong>?[] _validTaps = new NativeBuffer<ulong>[1];
        NativeBuffer<nint>?[] _bSkips = new NativeBuffer<nint>[1];
        T* _dy, _dW, _partials, _biasSums;
        bool _weightGradient;
        // Per member: the window start of every row of the current row block.
        nint[]?[] _rowStarts = new nint[1][];

        ConvGeometry _g;
        Source _source;
        // A padded convolution's rows ordered by how their windows meet the padding, and each
        // output position's taps off it (null when unpadded); one plan per geometry and team
        // size, kept.
        BorderPlan? _border;
        readonly Dictionary<(ConvGeometry, int, int), BorderPlan> _plans = new();
        int _filters;
        T* _image, _x, _w, _packed, _y, _bias, _scale;
        long _packedLength;
        bool _rotated, _relu, _accumulate, _pad;

        const int RowBlock = 144;
        /// <summary>
        /// Up to this many dy panels the weight gradient reads the windows where they lie rather
        /// than packing them: a packed panel pays for itself only when enough column panels reuse
        /// it. Measured (team, nominal GFLOP/s): 3x3 64->64 at 15x15 (2 panels) 338-340 packed,
        /// 393-403 in place; 128->128 at 8x8 (4 panels) 341-349 -> 348-360; 256->256 at 4x4 (8
        /// panels) 370-376 packed, 340-372 in place.
        /// </summary>
        const int InPlaceMaxPanels = 4;

        /// <summary>
        /// Whether each member packs a private copy of the weights (the team splits output rows)
        /// rather than packing and using only its share of the column panels. A private copy
        /// costs every other member a pass over all the weights (Patch x filters); a column
        /// split costs it a pass over every window (Rows x Patch): the copy is cheaper only
        /// when there are more rows than filters, as in the early, wide stages. The late ones
        /// (512 filters on 128 rows at 2x2) would pack 9 MB twice for 1.5 ms of arithmetic.
        /// </summary>
        public static bool PrivateWeights(in ConvGeometry g, int filters, int threads) =>
            threads > 1 && (g.Rows + Gemm.MR - 1) / Gemm.MR >= 4 * threads && (filters <= g.Rows || filters < 2 * threads * 2 * W.Count);

        /// <summary>One slot per team member in the per-member buffers (sized by the calling thread, before the job runs).</summary>
        public void EnsureMembers(int members)
        {
            if (_rowStarts.Length >= members) return;
            Array.Resize(ref _rowStarts, members);
            Array.Resize(ref _packedDy, members);
            Array.Resize(ref _packedWindows, members);
            Array.Resize(ref _windowMatrix, members);
            Array.Resize(ref _validTaps, members);
            Array.Resize(ref _bSkips, members);
        }

        /// <summary>
        /// A padded layer's border plan for this many members (kept per geometry, filters and
        /// team size); null when the layer has no padding.
        /// </summary>
        public BorderPlan? PlanFor(in ConvGeometry g, int filters, int members)
        {
            if (g.PadTop + g.PadBottom + g.PadLeft + g.PadRight == 0) return null;
            if (!_plans.TryGetValue((g, filters, members), out var plan)) _plans[(g, filters, members)] = plan = BorderPlan.Choose(g, filters, members);
            return plan;
        }

        /// <summary>
        /// The convolution (or the input gradient as one) of x: read as it lies (image = x) or
        /// from its zero-bordered copy (image, filled by the members first) as the plan says.
        /// </summary>
        public void Set(in ConvGeometry g, int filters, BorderPlan? plan, T* image, Source source, T* x, T* w, bool rotated, T* packed, long packedLength, T* y, T* bias,
            bool relu, bool accumulate, T* scale)
        {
            _scale = scale;
            _g = g; _filters = filters; _image = image; _source = source; _x = x;
            _w = w; _rotated = rotated; _packed = packed; _packedLength = packedLength;
            _y = y; _bias = bias; _relu = relu; _accumulate = accumulate; _pad = image != x; _weightGradient = false;
            _border = plan;
        }

        /// <summary>The k-block depth: the whole patch when taps are skipped (each tile walks its own taps through all of it).</summary>
        int KBlock => _border != null ? _g.Patch : Gemm.KBlock(_g.Patch);

        public void SetWeightGradient(in ConvGeometry g, int filters, T* image, Source source, T* x, T* dy, T* dW, T* partials, bool accumulate, T* biasSums)
        {
            _biasSums = biasSums;
            _g = g; _filters = filters; _image = image; _source = source; _x = x; _dy = dy; _dW = dW; _partials = partials; _accumulate = accumulate;
            _pad = image != x; _weightGradient = true;
        }

        public override void Execute(int thread, int threads, ThreadTeam team)
        {
            if (_weightGradient)
            {
                ExecuteWeightGradient(thread, threads, team);
                return;
            }
            int nr = 2 * W.Count, rows = _g.Rows;
            int colPanels = (_filters + nr - 1) / nr;
            // Like the GEMM: split rows when there are enough MR panels, else the column panels.
            bool splitRows = PrivateWeights(_g, _filters, threads);
            // Split by rows, every member packs all the weights into a copy of its own: reading
            // panels another core just wrote, after waiting for it, cost more than packing twice.
            // Split by column panels, a member computes with only the panels it packed itself.
            T* packed = splitRows ? _packed + thread * _packedLength : _packed;
            (int c0, int c1) = splitRows ? (0, colPanels) : Gemm.Share(colPanels, thread, threads);
            PackWeights(c0, c1, packed);
            if (_pad)
            {
                // Each member pads the images whose rows the plan gives it.
                (int n0, int n1) = Gemm.Share(_g.Batch, thread, threads);
                PadImages(n0, n1);
                team.Barrier();
            }
            if (splitRows)
            {
                // With a border plan, each member takes the tiles of its share of the images.
                if (_border != null) ComputeBorder(thread, _border.MemberTiles[thread], _border.MemberTiles[thread + 1], 0, colPanels, packed);
                else
                {
                    (int r0, int r1) = Gemm.ShareRowPanels(rows, thread, threads);
                    Compute(thread, r0, r1, 0, colPanels, packed);
                }
            }
            else
            {
                (int p0, int p1) = Gemm.Share(colPanels, thread, threads);
                if (p0 >= p1) return;
                if (_border != null) ComputeBorder(thread, 0, _border.Tiles.Length, p0, p1, packed);
                else Compute(thread, 0, rows, p0, p1, packed);
            }
        }

        /// <summary>
        /// Packs column panels [p0, p1) of the weights for every k-block, in the layout
        /// <see cref="Gemm.PackB{T}(bool, int, int, ReadOnlySpan{T}, int, PackedMatrix{T})"/> gives (zero-padded to whole panels). Plain: row k of B is
        /// w[k, :]. Rotated: row k = (tap t, channel f) is w[taps-1-t, :, f], a transpose per tap.
        /// </summary>
        void PackWeights(int p0, int p1, T* packed)
        {
            int nr = 2 * W.Count, k = _g.Patch, kBlock = KBlock, n = _filters;
            int taps = _g.KernelH * _g.KernelW, f = _g.Channels;
            for (int jc = 0; jc < n; jc += Gemm.NC)
            {
                int nc = Math.Min(Gemm.NC, n - jc);
                int q0 = Math.Max(p0, jc / nr), q1 = Math.Min(p1, (jc + nc + nr - 1) / nr);
                for (int pc = 0; pc < k; pc += kBlock)
                {
                    int kc = Math.Min(kBlock, k - pc);
                    T* block = packed + Gemm.PackedOffset(k, nr, jc, pc, nc);
                    for (int jp = q0; jp < q1; jp++)
                    {
                        int j0 = jp * nr, width = Math.Min(nr, n - j0);
                        T* panel = block + (long)(jp - jc / nr) * nr * kc;
                        if (_rotated)
                        {
                            PackRotatedPanel(panel, pc, kc, j0, width, taps, f, n);
                            continue;
                        }
                        Gemm.PackPanelRows(_w + (long)pc * n + j0, n, kc, width, nr, panel);
                        if (_scale != null) ScalePanel(panel, kc, _scale + j0);
                    }
                }
            }
        }

        /// <summary>Multiplies each of a packed panel's NR columns by its filter's scale (kc rows).</summary>
        static void ScalePanel(T* panel, int kc, T* scale)
        {
            int vw = W.Count;
            W s0 = W.Load(ref *scale), s1 = W.Load(ref scale[vw]);
            for (int kk = 0; kk < kc; kk++, panel += 2 * vw)
            {
                W.Store(W.Load(ref *panel) * s0, ref *panel);
                W.Store(W.Load(ref panel[vw]) * s1, ref panel[vw]);
            }
        }

        /// <summary>
        /// One panel of the rotated weights: row k = (tap t, channel f) of k-block [pc, pc + kc),
        /// columns j0 .. j0 + width, is w[taps-1-t, j, f]. Within one tap that is a transpose of
        /// w's [C, F] slice, done in registers 16 x 16 values at a time.
        /// </summary>
        void PackRotatedPanel(T* panel, int pc, int kc, int j0, int width, int taps, int f, int n)
        {
            int nr = 2 * W.Count;
            for (int kk = 0; kk < kc;)
            {
                int row = pc + kk, tap = row / f, f0 = row % f, length = Math.Min(kc - kk, f - f0);
                Gemm.PackPanelColumns(_w + ((long)(taps - 1 - tap) * n + j0) * f + f0, f, length, width, nr, panel + kk * nr);
                kk += length;
            }
        }

        void ExecuteWeightGradient(int thread, int threads, ThreadTeam team)
        {
            if (_pad)
            {
                (int n0, int n1) = Gemm.Share(_g.Batch, thread, threads);
                PadImages(n0, n1);
                team.Barrier();
            }
            long length = (long)_g.Patch * _filters;
            int nr = 2 * W.Count, panels = (_filters + nr - 1) / nr;
            if (SplitOutputs(_g, _filters, threads))
            {
                // Few rows, many outputs: each member owns a block of dW and adds into it directly
                // (partials would cost more traffic than the product itself). Split along the
                // larger operand, so each member packs only its share of it: MR-high row panels
                // of the patch when the windows outweigh dy (Patch > F), else column panels.
                int patchPanels = (_g.Patch + Gemm.MR - 1) / Gemm.MR;
                if (patchPanels >= 4 * threads && _g.Patch > _filters)
                {
                    (int a0, int a1) = Gemm.ShareRowPanels(_g.Patch, thread, threads);
                    // Every member packs all of dy: one of them sums it for the bias.
                    WeightGradientRows(thread, 0, _g.Rows, _dW, 0, panels, a0, a1, overwrite: !_accumulate, sumBias: thread == 0);
                    return;
                }
                (int q0, int q1) = Gemm.Share(panels, thread, threads);
                if (q0 < q1) WeightGradientRows(thread, 0, _g.Rows, _dW, q0, q1, 0, _g.Patch, overwrite: !_accumulate, sumBias: true);
                return;
            }
            T* partial = _partials + thread * length;
            (int r0, int r1) = Gemm.Share(_g.Rows, thread, threads);
            if (r0 < r1) WeightGradientRows(thread, r0, r1, partial, 0, panels, 0, _g.Patch, overwrite: true, sumBias: true);
            else new Span<T>(partial, (int)length).Clear();
            team.Barrier();
            // Every member adds its slice of all the partials into dW (the first one copied, when overwriting).
            (int e0, int e1) = Gemm.Share((int)length, thread, threads);
            var target = new Span<T>(_dW + e0, e1 - e0);
            for (int m = 0; m < threads; m++)
            {
                var slice = new ReadOnlySpan<T>(_partials + m * length + e0, e1 - e0);
                if (m == 0 && !_accumulate) slice.CopyTo(target);
                else Elementwise.Axpy(T.One, slice, target);
            }
        }

        /// <summary>
        /// Rows go to members (with partials) when each member's share of rows outweighs the
        /// dW block it would have to clear, fill and add up; otherwise blocks of dW do.
        /// </summary>
        public static bool SplitOutputs(in ConvGeometry g, int filters, int threads)
        {
            int nr = 2 * W.Count, panels = (filters + nr - 1) / nr;
            return threads > 1 && panels >= 2 * threads && (long)g.Rows < 2L * threads * g.Patch;
        }

        /// <summary>
        /// partial[i0..i1, column panels p0..p1] += windows(rows r0..r1)^T * dy(rows r0..r1), GEMM
        /// loop order (k-block of rows, row block of the patch, panel, tile), dy packed. Where a
        /// window's runs (KW*C values) split into whole MR-wide pieces the micro-kernel reads
        /// the windows in place (few dy panels) or packed MR patch positions at a time (many);
        /// otherwise (the 7x7 stem's runs are 21 values) each k-block's windows are first laid
        /// out whole, one row per output position, and the micro-kernel reads its MR values per
        /// k from there, as no MR-wide copy fits the runs. Runs shorter than a vector are packed.
        /// A padded layer's packed panels keep only the rows (k) where one of the panel's taps
        /// lies inside the image, and the micro-kernel steps B over the rest (see
        /// <see cref="KeepRowsOffPadding"/>); the in-place and whole-window readers walk every row.
        /// </summary>
        /// <param name="overwrite">Store the first k-block's products instead of adding them (the block of partial is not cleared).</param>
        /// <param name="sumBias">Add the packed dy panels' column sums into this member's bias sums (when there are any).</param>
        void WeightGradientRows(int thread, int r0, int r1, T* partial, int p0, int p1, int i0, int i1, bool overwrite, bool sumBias)
        {
            T* biasSums = sumBias && _biasSums != null ? _biasSums + (long)thread * Gemm.RoundUp(_filters, 2 * W.Count) : null;
            int nr = 2 * W.Count, patch = _g.Patch, f = _filters, kBlock = Gemm.KBlock(r1 - r0);
            int panels = (f + nr - 1) / nr;
            int segment = _g.KernelW * _g.Channels, pitch = _source.Width * _g.Channels;
            // Twelve patch positions that start at a multiple of 12 lie in one run when runs are
            // whole multiples of 12 or the window is a single run (KH = 1, a 1x1 layer's C
            // channels); only a short last panel may reach past it, and is packed.
            bool inPlace = (segment % Gemm.MR == 0 || _g.KernelH == 1) && p1 - p0 <= InPlaceMaxPanels;
            bool wholeWindows = !inPlace && segment % Gemm.MR != 0 && segment >= W.Count;
            var starts = ThreadScratch.Get(ref _rowStarts[thread], kBlock + 1);
            T* bPacked = ThreadScratch.Get(ref _packedDy[thread], (long)kBlock * panels * nr);
            T* aPacked = wholeWindows ? null : ThreadScratch.Get(ref _packedWindows[thread], (long)Gemm.RoundUp(RowBlock, Gemm.MR) * kBlock + CopySlack);
            // MR values of slack: a partial last panel reads (and discards) past the last row.
            T* windowMatrix = wholeWindows ? ThreadScratch.Get(ref _windowMatrix[thread], (long)kBlock * patch + Gemm.MR) : null;
            // Packed panels of a padded layer keep only the rows (output positions) whose windows
            // have one of the panel's taps off the padding: the others would multiply zeros (at
            // 4x4 a 3x3 layer's window has 31% of its taps on the padding, at 2x2 56%).
            bool skipTaps = _pad && !wholeWindows && !inPlace && _g.KernelH * _g.KernelW <= 64;
            ulong* validTaps = skipTaps ? ThreadScratch.Get(ref _validTaps[thread], kBlock) : null;
            nint* bSkips = skipTaps ? ThreadScratch.Get(ref _bSkips[thread], (long)Gemm.RoundUp(RowBlock, Gemm.MR) / Gemm.MR * kBlock) : null;
            int* keptRows = stackalloc int[RowBlock / Gemm.MR + 1];
            int* firstRow = stackalloc int[RowBlock / Gemm.MR + 1];
            fixed (nint* pStarts = starts)
            {
                for (int pc = r0; pc < r1; pc += kBlock)
                {
                    int kc = Math.Min(kBlock, r1 - pc);
                    bool add = !overwrite || pc > r0;
                    WindowStarts(pc, kc, starts);
                    if (skipTaps) ValidTaps(pc, kc, validTaps);
                    PackDyRows(pc, kc, bPacked, p0, p1, biasSums);
                    if (wholeWindows) CopyWindows(starts, kc, segment, pitch, windowMatrix);
                    for (int ic = i0; ic < i1; ic += RowBlock)
                    {
                        int mc = Math.Min(RowBlock, i1 - ic);
                        T* sourceEnd = _image + _source.Length + (_pad ? CopySlack : 0);
                        // In place, the panel (if any) that ends short of 12 positions at the patch's end.
                        int shortPanel = inPlace && patch % Gemm.MR != 0 && ic + mc == patch ? mc - patch % Gemm.MR : -1;
                        if (shortPanel >= 0) PackWindowColumns(starts, kc, ic + shortPanel, mc - shortPanel, segment, pitch, aPacked, sourceEnd);
                        else if (!wholeWindows && !inPlace) PackWindowColumns(starts, kc, ic, mc, segment, pitch, aPacked, sourceEnd);
                        if (skipTaps)
                            for (int ir = 0; ir < mc; ir += Gemm.MR)
                                keptRows[ir / Gemm.MR] = KeepRowsOffPadding(aPacked + (long)ir * kc, kc, ic + ir, Math.Min(Gemm.MR, mc - ir), validTaps,
                                    bSkips + (long)ir / Gemm.MR * kc, out firstRow[ir / Gemm.MR]);
                        for (int jp = p0; jp < p1; jp++)
                        {
                            int nrEff = Math.Min(nr, f - jp * nr);
                            T* bPanel = bPacked + (long)jp * nr * kc;
                            for (int ir = 0; ir < mc; ir += Gemm.MR)
                            {
                                T* cTile = partial + (long)(ic + ir) * f + jp * nr;
                                int mrEff = Math.Min(Gemm.MR, mc - ir);
                                if (wholeWindows)
                                    Gemm.Tile<T, W, MatrixColumns<T>>(new MatrixColumns<T>(windowMatrix + ic + ir, patch), kc, bPanel, cTile, f, mrEff, nrEff, accumulate: add);
                                else if (inPlace && ir != shortPanel)
                                {
                                    int position = ic + ir;
                                    Gemm.Tile<T, W, WindowColumns<T>>(new WindowColumns<T>(pStarts, (nint)(position / segment) * pitch + position % segment), kc, bPanel, cTile, f, mrEff, nrEff, accumulate: add);
                                }
                                else if (skipTaps)
                                    Gemm.Tile<T, W, KeptRows<T>>(new KeptRows<T>(aPacked + (long)ir * kc, bSkips + (long)ir / Gemm.MR * kc), keptRows[ir / Gemm.MR],
                                        bPanel + (long)firstRow[ir / Gemm.MR] * nr, cTile, f, mrEff, nrEff, accumulate: add);
                                else
                                    Gemm.Tile<T, W, Gemm.PackedRows<T>>(new Gemm.PackedRows<T>(aPacked + (inPlace ? 0 : (long)ir * kc)), kc, bPanel, cTile, f, mrEff, nrEff, accumulate: add);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>
        /// valid[kk] = a bit per tap (kh * KW + kw) of output row pc + kk's window, set where the
        /// tap falls inside the image rather than on the padding.
        /// </summary>
        void ValidTaps(int pc, int kc, ulong* valid)
        {
            int oh = _g.OutHeight, ow = _g.OutWidth, kh = _g.KernelH, kw = _g.KernelW;
            int oy = pc / ow % oh, ox = pc % ow;
            for (int kk = 0; kk < kc; kk++)
            {
                // Taps inside the image along each axis, as bit masks over kw and kh.
                int x0 = ox * _g.StrideW - _g.PadLeft, y0 = oy * _g.StrideH - _g.PadTop;
                ulong columns = 0, taps = 0;
                for (int j = 0; j < kw; j++) if ((uint)(x0 + j) < (uint)_g.Width) columns |= 1UL << j;
                for (int i = 0; i < kh; i++) if ((uint)(y0 + i) < (uint)_g.Height) taps |= columns << (i * kw);
                valid[kk] = taps;
                if (++ox == ow)
                {
                    ox = 0;
                    if (++oy == oh) oy = 0;
                }
            }
        }

        /// <summary>
        /// Packs a window panel (patch positions i0 .. i0 + height, [kc][MR]) down to the rows
        /// where one of its taps is off the padding, the rest being zeros in the bordered copy,
        /// and writes for each kept row how many B values lie past the next row's start before
        /// the next kept row (<see cref="KeptRows{T}"/>). Returns how many rows are kept;
        /// <paramref name="first"/>: the first kept row.
        /// </summary>
        int KeepRowsOffPadding(T* panel, int kc, int i0, int height, ulong* validTaps, nint* bSkips, out int first)
        {
            const int mr = Gemm.MR;
            int nr = 2 * W.Count, c = _g.Channels;
            int tap0 = i0 / c, tap1 = (i0 + height - 1) / c;
            ulong panelTaps = (tap1 - tap0 == 63 ? ulong.MaxValue : (1UL << (tap1 - tap0 + 1)) - 1) << tap0;
            int kept = 0, previous = -1;
            first = 0;
            for (int kk = 0; kk < kc; kk++)
            {
                if ((validTaps[kk] & panelTaps) == 0) continue;
                if (previous < 0) first = kk;
                else bSkips[kept - 1] = (nint)(kk - previous - 1) * nr;
                if (kept != kk) Unsafe.CopyBlock(panel + (long)kept * mr, panel + (long)kk * mr, (uint)(mr * sizeof(T)));
                previous = kk;
                kept++;
            }
            if (kept > 0) bSkips[kept - 1] = 0;
            return kept;
        }

        /// <summary>
        /// Row kk of <paramref name="matrix"/> (Patch values) = the window starting at
        /// starts[kk]: KH runs of segment values, one image row apart. Each run is copied as
        /// whole vectors, the last one overlapping the one before (segment is at least a vector).
        /// </summary>
        void CopyWindows(nint[] starts, int kc, int segment, int pitch, T* matrix)
        {
            int vw = W.Count, kh = _g.KernelH, patch = _g.Patch;
            for (int kk = 0; kk < kc; kk++)
            {
                T* window = (T*)starts[kk];
                T* row = matrix + (long)kk * patch;
                for (int r = 0; r < kh; r++)
                {
                    T* from = window + (long)r * pitch, to = row + r * segment;
                    int i = 0;
                    for (; i + vw <= segment; i += vw) W.Store(W.Load(ref from[i]), ref to[i]);
                    if (i < segment) W.Store(W.Load(ref from[segment - vw]), ref to[segment - vw]);
                }
            }
        }

        /// <summary>
        /// The windows of rows 0..mc of the block, k-block [offset...), into MR-high panels
        /// [panel][k][MR] (rows past mc repeat the last one; their results are discarded).
        /// </summary>
        static void PackWindowRows(nint[] starts, int mc, int kc, WindowWalk start, T* packed)
        {
            const int mr = Gemm.MR;
            for (int ir = 0; ir < mc; ir += mr)
            {
                T* dst = packed + (long)ir * kc;
                for (int r = 0; r < mr; r++)
                {
                    T* src = (T*)starts[Math.Min(ir + r, mc - 1)];
                    var walk = start;
                    for (int kk = 0; kk < kc; kk++, walk.Next()) dst[kk * mr + r] = src[walk.Offset];
                }
            }
        }

        /// <summary>dy rows [pc, pc+kc), column panels [p0, p1), into NR-wide panels [panel][k][NR], zero-padded.</summary>
        /// <param name="biasSums">When not null, each panel's column sums are added at its columns (whole panels wide).</param>
        void PackDyRows(int pc, int kc, T* packed, int p0, int p1, T* biasSums)
        {
            int nr = 2 * W.Count, f = _filters, vw = W.Count;
            for (int jp = p0; jp < p1; jp++)
            {
                T* panel = packed + (long)jp * nr * kc;
                Gemm.PackPanelRows(_dy + (long)pc * f + jp * nr, f, kc, Math.Min(nr, f - jp * nr), nr, panel);
                if (biasSums == null) continue;
                // Down the panel just written (in L1), two vectors wide; the zero-padded columns sum to 0.
                W s0 = W.Zero, s1 = W.Zero;
                for (int kk = 0; kk < kc; kk++)
                {
                    s0 += W.Load(ref panel[(long)kk * nr]);
                    s1 += W.Load(ref panel[(long)kk * nr + vw]);
                }
                T* sums = biasSums + jp * nr;
                W.Store(W.Load(ref *sums) + s0, ref *sums);
                W.Store(W.Load(ref sums[vw]) + s1, ref sums[vw]);
            }
        }

        /// <summary>
        /// windows^T rows [ic, ic+mc) (patch positions) x the kc rows' windows into MR-high
        /// panels [panel][k][MR]. Patch position i sits at offset (i / run) * pitch + i % run
        /// from a window's start; twelve positions inside one run are one contiguous copy.
        /// </summary>
        static void PackWindowColumns(nint[] starts, int kc, int ic, int mc, int segment, int pitch, T* packed, T* sourceEnd)
        {
            const int mr = Gemm.MR;
            Span<long> pieceOffset = stackalloc long[mr];
            Span<int> pieceStart = stackalloc int[mr];
            for (int ir = 0; ir < mc; ir += mr)
            {
                int height = Math.Min(mr, mc - ir), i0 = ic + ir;
                T* dst = packed + (long)ir * kc;
                long first = (long)(i0 / segment) * pitch + i0 % segment;
                if (height == mr && i0 % segment + mr <= segment)
                {
                    for (int kk = 0; kk < kc; kk++)
                        Unsafe.CopyBlockUnaligned(dst + kk * mr, (T*)starts[kk] + first, (uint)(mr * sizeof(T)));
                    continue;
                }
                // The twelve positions span runs: one piece per run. Each piece is copied as a
                // whole CopySlack-wide block (later pieces, and the next k, overwrite the excess),
                // where the block stays inside the source.
                int pieces = 0;
                for (int i = 0; i < height; pieces++)
                {
                    int p = i0 + i;
                    pieceStart[pieces] = i;
                    pieceOffset[pieces] = (long)(p / segment) * pitch + p % segment;
                    i += Math.Min(segment - p % segment, height - i);
                }
                for (int kk = 0; kk < kc; kk++)
                {
                    T* src = (T*)starts[kk];
                    T* d = dst + kk * mr;
                    for (int q = 0; q < pieces; q++)
                    {
                        T* from = src + pieceOffset[q];
                        if (from + CopySlack <= sourceEnd)
                            Unsafe.CopyBlockUnaligned(d + pieceStart[q], from, (uint)(CopySlack * sizeof(T)));
                        else
                        {
                            int end = q + 1 < pieces ? pieceStart[q + 1] : height;
                            for (int i = pieceStart[q]; i < end; i++) d[i] = from[i - pieceStart[q]];
                        }
                    }
                    for (int i = height; i < mr; i++) d[i] = T.Zero;
                }
            }
        }

        /// <summary>Copies images [n0, n1) into the middle of the zero-bordered buffer.</summary>
        void PadImages(int n0, int n1)
        {
            int c = _g.Channels, rowLength = _g.Width * c, paddedRow = _source.Width * c;
            // The zero-bordered copy is the image the windows are read from.
            T* dst0 = _image;
            for (int n = n0; n < n1; n++)
            {
                T* image = dst0 + (long)n * _source.Height * paddedRow;
                new Span<T>(image, _g.PadTop * paddedRow).Clear();
                for (int h = 0; h < _g.Height; h++)
                {
                    T* row = image + (long)(_g.PadTop + h) * paddedRow;
                    new Span<T>(row, _g.PadLeft * c).Clear();
                    new ReadOnlySpan<T>(_x + ((long)n * _g.Height + h) * rowLength, rowLength).CopyTo(new Span<T>(row + _g.PadLeft * c, rowLength));
                    new Span<T>(row + _g.PadLeft * c + rowLength, _g.PadRight * c).Clear();
                }
                new Span<T>(image + (long)(_g.PadTop + _g.Height) * paddedRow, _g.PadBottom * paddedRow).Clear();
            }
        }

        /// <summary>Output rows [r0, r1), column panels [p0, p1) of an unpadded layer: GEMM loop order (row block, k-block, panel, tile).</summary>
        void Compute(int thread, int r0, int r1, int p0, int p1, T* packed)
        {
            int nr = 2 * W.Count, k = _g.Patch, kBlock = Gemm.KBlock(k);
            int segment = _g.KernelW * _g.Channels, pitch = _source.Width * _g.Channels;
            var starts = ThreadScratch.Get(ref _rowStarts[thread], RowBlock);
            // With many column panels, packing the windows pays for itself, and it avoids reading
            // twelve rows a power of two apart (a 1x1 stride-2 layer's rows are 2*C values
            // apart), which would all fall into one L1 set.
            bool packWindows = (p1 - p0) >= Gemm.PackAFromColumnPanels;
            T* windowPanels = null;
            if (packWindows) windowPanels = ThreadScratch.Get(ref _packedWindows[thread], (long)Gemm.RoundUp(RowBlock, Gemm.MR) * kBlock);
            // Evenly spaced windows are read through four pointers that all move at every k, which
            // pays where a window is one run (a 1x1 layer: 1-3% faster than twelve row pointers
            // and one moving offset). Where runs are short and many (the 7x7 stem's 21 values,
            // seven times a window), the twelve fixed pointers are faster: 391-400 against
            // 383-393 GFLOP/s for the stem at batch 32, measured alternately in one process.
            bool evenRows = _g.KernelH == 1;
            // A 1x1 stride-1 layer's windows are x's rows themselves, [rows, C]: whole tiles read
            // them as the GEMM reads A in place, and only a short last tile needs window starts
            // (working out and checking twelve starts per tile cost the 256->64 layer at 15x15 its
            // last 5%: 391 -> 411 GFLOP/s on both cores, the same values bit for bit).
            bool rowsOfX = _g is { KernelH: 1, KernelW: 1, StrideH: 1, StrideW: 1 } && !_pad && !packWindows;
            for (int ic = r0; ic < r1; ic += RowBlock)
            {
                int mc = Math.Min(RowBlock, r1 - ic);
                if (!rowsOfX || mc % Gemm.MR != 0) WindowStarts(ic, mc, starts);
                for (int pc = 0; pc < k; pc += kBlock)
                {
                    int kc = Math.Min(kBlock, k - pc);
                    bool first = pc == 0, last = pc + kc == k;
                    var walk = WindowWalk.At(pc, segment, pitch);
                    if (packWindows) PackWindowRows(starts, mc, kc, walk, windowPanels);
                    for (int jc = 0; jc < _filters; jc += Gemm.NC)
                    {
                        int nc = Math.Min(Gemm.NC, _filters - jc);
                        int q0 = Math.Max(p0, jc / nr), q1 = Math.Min(p1, (jc + nc + nr - 1) / nr);
                        T* block = packed + Gemm.PackedOffset(k, nr, jc, pc, nc);
                        for (int jp = q0; jp < q1; jp++)
                        {
                            int jr = jp * nr - jc;
                            int nrEff = Math.Min(nr, nc - jr);
                            T* bPanel = block + (long)(jp - jc / nr) * nr * kc;
                            T* bias = first && _bias != null ? _bias + jc + jr : null;
                            for (int ir = 0; ir < mc; ir += Gemm.MR)
                            {
                                int mrEff = Math.Min(Gemm.MR, mc - ir);
                                T* cTile = _y + (long)(ic + ir) * _filters + jc + jr;
                                bool add = _accumulate || !first, clamp = _relu && last;
                                if (rowsOfX && mrEff == Gemm.MR)
                                {
                                    Gemm.Tile<T, W, Gemm.StridedRows<T>>(new Gemm.StridedRows<T>(_image + (long)(ic + ir) * k + pc, k),
                                        kc, bPanel, cTile, _filters, mrEff, nrEff, add, bias, clamp);
                                    continue;
                                }
                                nint step = evenRows && mrEff == Gemm.MR && !packWindows ? EvenStep(starts, ir) : 0;
                                if (packWindows)
                                    Gemm.Tile<T, W, Gemm.PackedRows<T>>(new Gemm.PackedRows<T>(windowPanels + (long)ir * kc),
                                        kc, bPanel, cTile, _filters, mrEff, nrEff, add, bias, clamp);
                                else if (step != 0)
                                    Gemm.Tile<T, W, EvenWindowRows<T>>(new EvenWindowRows<T>((T*)starts[ir], step, walk),
                                        kc, bPanel, cTile, _filters, mrEff, nrEff, add, bias, clamp);
                                else
                                    Gemm.Tile<T, W, WindowRows<T>>(new WindowRows<T>(starts, ir, mrEff, walk),
                                        kc, bPanel, cTile, _filters, mrEff, nrEff, add, bias, clamp);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>
        /// The border plan's tiles [t0, t1), column panels [p0, p1), one k-block: each tile
        /// walks only the taps its rows' windows have off the padding (the box the plan gives
        /// it), so B jumps over the rows of the other taps, and the tile's rows, which need not
        /// be adjacent in y, are scattered to their places.
        /// </summary>
        void ComputeBorder(int thread, int t0, int t1, int p0, int p1, T* packed)
        {
            int nr = 2 * W.Count, k = _g.Patch, c = _g.Channels, kw = _g.KernelW, pitch = _source.Width * c;
            var plan = _border!;
            var tiles = plan.Tiles;
            var starts = ThreadScratch.Get(ref _rowStarts[thread], RowBlock);
            const int tilesPerBlock = RowBlock / Gemm.MR;
            fixed (int* order = plan.Order)
            for (int tb = t0; tb < t1; tb += tilesPerBlock)
            {
                int te = Math.Min(tb + tilesPerBlock, t1), first = tiles[tb].First;
                GatherStarts(plan.Offsets, first, tiles[te - 1].First + tiles[te - 1].Count - first, starts);
                for (int jp = p0; jp < p1; jp++)
                {
                    int j0 = jp * nr, nrEff = Math.Min(nr, _filters - j0);
                    // One k-block: panel jp starts jp * nr * k into the packed weights.
                    T* panel = packed + (long)j0 * k;
                    T* bias = _bias != null ? _bias + j0 : null;
                    for (int t = tb; t < te; t++)
                    {
                        var tile = tiles[t];
                        var box = tile.Box;
                        int ir = tile.First - first, run = (box.Kw1 - box.Kw0) * c, kc = (box.Kh1 - box.Kh0) * run;
                        var walk = new WindowWalk((nint)box.Kh0 * pitch + box.Kw0 * c, run, run, pitch - run, (nint)(kw * c - run) * nr);
                        T* b = panel + (long)(box.Kh0 * kw + box.Kw0) * c * nr;
                        if (tile.Step != 0)
                            ScatterTile(new EvenWindowRows<T>((T*)starts[ir], tile.Step * sizeof(T), walk), kc, b, order + tile.First, tile.Count, j0, nrEff, bias);
                        else
                            ScatterTile(new WindowRows<T>(starts, ir, tile.Count, walk), kc, b, order + tile.First, tile.Count, j0, nrEff, bias);
                    }
                }
            }
        }

        /// <summary>
        /// One tile whose rows go to y rows order[0 .. mr), columns j0 .. j0 + width, adding
        /// (when accumulating), bias and ReLU on the way: stored straight from the registers
        /// when the tile spans a whole panel, else through a scratch tile value by value.
        /// </summary>
        // The scratch tile is written whole before it is read; the spare row takes a short
        // tile's missing rows, and what it holds (read when accumulating) is thrown away.
        [SkipLocalsInit]
        void ScatterTile<TA>(in TA a, int kc, T* b, int* order, int mr, int j0, int width, T* bias) where TA : struct, Gemm.IARows<T>
        {
            int nr = 2 * W.Count;
            if (width == nr)
            {
                T* spare = stackalloc T[nr];
                Gemm.MicroKernel<T, W, TA, ScatteredRows<T>>(kc, in a, b, new ScatteredRows<T>(_y + j0, _filters, order, mr, spare), _accumulate, bias, _relu);
                return;
            }
            T* tile = stackalloc T[Gemm.MR * nr];
            Gemm.MicroKernel<T, W, TA, Gemm.StridedRowsOfC<T>>(kc, in a, b, new Gemm.StridedRowsOfC<T>(tile, nr), false, null, false);
            for (int i = 0; i < mr; i++)
                Gemm.StoreRowValues(tile + i * nr, _y + (long)order[i] * _filters + j0, width, _accumulate, bias, _relu);
        }

        /// <summary>starts[i] = where the window at plan position first + i begins (outside the image where it overhangs the border).</summary>
        void GatherStarts(long[] offsets, int first, int count, nint[] starts)
        {
            for (int i = 0; i < count; i++) starts[i] = (nint)(_image + offsets[first + i]);
        }

        /// <summary>Where the window of output position (n, oy, ox) begins in the source image.</summary>
        nint WindowStart(int n, int oy, int ox) =>
            (nint)(_image + (((long)n * _source.Height + oy * _g.StrideH) * _source.Width + (long)ox * _g.StrideW) * _g.Channels);

        /// <summary>starts[i] = where output row ic+i's window begins in the source image.</summary>
        void WindowStarts(int ic, int mc, nint[] starts)
        {
            int oh = _g.OutHeight, ow = _g.OutWidth;
            int n = ic / (oh * ow), oy = ic / ow % oh, ox = ic % ow;
            for (int i = 0; i < mc; i++)
            {
                starts[i] = WindowStart(n, oy, ox);
                if (++ox == ow)
                {
                    ox = 0;
                    if (++oy == oh) { oy = 0; n++; }
                }
            }
        }
    }

    /// <summary>Kernel rows [Kh0, Kh1) x kernel columns [Kw0, Kw1): the taps a group of windows has off the padding.</summary>
    readonly record struct TapBox(int Kh0, int Kh1, int Kw0, int Kw1);

    /// <summary>
    /// Count rows at positions [First, First + Count) of a border plan's order, all with the
    /// same box of taps; Step: the distance in values between consecutive window starts when
    /// it is the same for all twelve (rows along one image row), else 0.
    /// </summary>
    readonly record struct BorderTile(int First, int Count, TapBox Box, nint Step);

    /// <summary>
    /// Where a padded convolution's windows meet the padding. A window near the border has
    /// kernel rows and columns that read only padding (zeros): 31% of a 3x3 'same' layer's
    /// products on a 4x4 image, 9% on 15x15. The plan orders the output rows by the box of
    /// taps they have off the padding (stably, so rows along an image row stay adjacent),
    /// within each member's share of the images, and cuts them into tiles of at most MR rows
    /// that each walk one box, in one of two ways:
    /// <list type="bullet">
    /// <item>unpadded: each box's rows are tiled on their own, so a tile's box lies inside the
    /// image for every one of its rows and the windows are read from the input as it is (a
    /// box's last tile is short, and a short tile costs as much as a full one);</item>
    /// <item>padded: every MR consecutive rows form a tile that walks the smallest box holding
    /// all of theirs, which is still exact, as the taps it adds for some rows read zeros from
    /// a zero-bordered copy of the batch that the members fill first.</item>
    /// </list>
    /// <see cref="Choose"/> takes the cheaper: on a 15x15 image the short tiles waste 1% of
    /// the products, less than the copy; on 4x4, where a box holds at most 64 of a member's
    /// 256 rows, they waste 15% and the copy is cheaper.
    /// </summary>
    sealed class BorderPlan
    {
        /// <summary>Whether the windows are read from the zero-bordered copy.</summary>
        public readonly bool Padded;
        /// <summary>Order[i]: the output row (n, oy, ox in natural order) at position i.</summary>
        public readonly int[] Order;
        /// <summary>
        /// Offsets[i]: where the window of the row at position i starts, in values from the
        /// image's first one (in the unpadded input: negative or past a row's end where the
        /// window overhangs the border).
        /// </summary>
        public readonly long[] Offsets;
        public readonly BorderTile[] Tiles;
        /// <summary>Member m's tiles are [MemberTiles[m], MemberTiles[m + 1]): the rows of its images.</summary>
        public readonly int[] MemberTiles;
        /// <summary>Taps the tiles walk, MR rows each (short tiles cost a whole one).</summary>
        public readonly long TileTaps;

        /// <summary>
        /// The cheaper of the two plans, counting a copied value as 10 products of one filter
        /// (measured: padding 32 15x15x64 images, 0.6 M values over two cores, cost as much as
        /// about 6 M products of the 3x3 64->64 layer, 0.025 ms).
        /// </summary>
        public static BorderPlan Choose(in ConvGeometry g, int filters, int members)
        {
            var unpadded = new BorderPlan(g, members, padded: false);
            var padded = new BorderPlan(g, members, padded: true);
            long perTap = (long)g.Channels * filters, copied = Source.PaddedFor(g).Length;
            return unpadded.TileTaps * perTap <= padded.TileTaps * perTap + 10 * copied ? unpadded : padded;
        }

        public BorderPlan(in ConvGeometry g, int members, bool padded)
        {
            Padded = padded;
            int oh = g.OutHeight, ow = g.OutWidth, kh = g.KernelH, kw = g.KernelW, positions = oh * ow;
            var boxes = new TapBox[positions];
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    // Kernel row r reads input row oy*stride + r - padTop, which must be in [0, H).
                    int top = oy * g.StrideH - g.PadTop, left = ox * g.StrideW - g.PadLeft;
                    var box = new TapBox(Math.Clamp(-top, 0, kh), Math.Clamp(g.Height - top, 0, kh),
                        Math.Clamp(-left, 0, kw), Math.Clamp(g.Width - left, 0, kw));
                    // A window wholly on the padding has an empty box: no taps, y = bias.
                    boxes[oy * ow + ox] = box.Kh0 >= box.Kh1 || box.Kw0 >= box.Kw1 ? default : box;
                }
            int Key(int row)
            {
                var b = boxes[row % positions];
                return ((b.Kh0 * (kh + 1) + b.Kh1) * (kw + 1) + b.Kw0) * (kw + 1) + b.Kw1;
            }
            var source = padded ? Source.PaddedFor(g) : new Source(g.Batch, g.Height, g.Width, g.Channels);
            int shiftH = padded ? 0 : g.PadTop, shiftW = padded ? 0 : g.PadLeft;
            Order = new int[g.Rows];
            Offsets = new long[g.Rows];
            MemberTiles = new int[members + 1];
            var tiles = new List<BorderTile>();
            // Per member, a counting sort of its images' rows by box: stable and linear.
            var counts = new int[(kh + 1) * (kh + 1) * (kw + 1) * (kw + 1) + 1];
            for (int m = 0; m < members; m++)
            {
                (int n0, int n1) = Gemm.Share(g.Batch, m, members);
                int first = n0 * positions, end = n1 * positions;
                Array.Clear(counts);
                for (int i = first; i < end; i++) counts[Key(i) + 1]++;
                counts[0] = first;
                for (int key = 1; key < counts.Length; key++) counts[key] += counts[key - 1];
                for (int i = first; i < end; i++) Order[counts[Key(i)]++] = i;
                for (int i = first; i < end; i++)
                {
                    int row = Order[i], n = row / positions, oy = row / ow % oh, ox = row % ow;
                    Offsets[i] = (((long)n * source.Height + oy * g.StrideH - shiftH) * source.Width + (long)ox * g.StrideW - shiftW) * g.Channels;
                }
                MemberTiles[m] = tiles.Count;
                for (int i = first; i < end;)
                {
                    int key = Key(Order[i]), count = 1;
                    var box = boxes[Order[i] % positions];
                    for (; count < Gemm.MR && i + count < end; count++)
                    {
                        if (padded) box = Union(box, boxes[Order[i + count] % positions]);
                        else if (Key(Order[i + count]) != key) break;
                    }
                    tiles.Add(new BorderTile(i, count, box, count == Gemm.MR ? EvenStep(Offsets, i) : 0));
                    TileTaps += (long)Gemm.MR * (box.Kh1 - box.Kh0) * (box.Kw1 - box.Kw0);
                    i += count;
                }
                MemberTiles[m + 1] = tiles.Count;
            }
            Tiles = tiles.ToArray();
        }

        /// <summary>The smallest box holding both (an empty box adds nothing).</summary>
        static TapBox Union(TapBox a, TapBox b) =>
            a == default ? b : b == default ? a : new(Math.Min(a.Kh0, b.Kh0), Math.Max(a.Kh1, b.Kh1), Math.Min(a.Kw0, b.Kw0), Math.Max(a.Kw1, b.Kw1));
    }

    /// <summary>
    /// Where the current k sits inside a window, as an offset from the window's start: it
    /// walks a run of values (a window row, KW*C, or the part of it off the padding), then
    /// jumps one image row (less the run) to the next run. A run shorter than the window row
    /// leaves out k-rows of the packed weights too: <paramref name="bSkip"/> B values at each
    /// run's end.
    /// </summary>
    struct WindowWalk(nint offset, int left, int segment, nint skip, nint bSkip = 0)
    {
        /// <summary>Offset of the current k from a window's start.</summary>
        public nint Offset = offset;
        int _left = left;

        /// <summary>Values left in the current run, the run's length, and the jump from a run's end to the next.</summary>
        public readonly int Left => _left;
        public readonly int Segment => segment;
        public readonly nint Skip => skip;
        public readonly nint BSkip => bSkip;

        /// <summary>The walk for a k-block starting at k = pc.</summary>
        public static WindowWalk At(int pc, int segment, int pitch) =>
            new((nint)(pc / segment) * pitch + pc % segment, segment - pc % segment, segment, pitch - segment);

        /// <summary>Steps to the next k; returns the B values to skip (nonzero only at a run's end).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next()
        {
            Offset++;
            if (--_left == 0)
            {
                Offset += skip;
                _left = segment;
                return bSkip;
            }
            return 0;
        }
    }

    /// <summary>
    /// The distance between consecutive window starts of rows first..first+11 when it is the
    /// same for all of them (positions along one output row, or a 1x1 layer), else 0; in the
    /// starts' unit (bytes for addresses, values for offsets).
    /// </summary>
    static nint EvenStep<TI>(TI[] starts, int first) where TI : IBinaryInteger<TI>
    {
        TI step = starts[first + 1] - starts[first];
        for (int i = first + 2; i < first + Gemm.MR; i++)
            if (starts[i] - starts[i - 1] != step) return 0;
        return nint.CreateTruncating(step);
    }

    /// <summary>
    /// Twelve windows whose starts are evenly spaced: four base pointers and two strides
    /// address all of them (as the GEMM's in-place reader does), which leaves the
    /// micro-kernel enough registers, where twelve separate pointers would spill.
    /// </summary>
    struct EvenWindowRows<T> : Gemm.IARows<T> where T : unmanaged
    {
        // Pointers at the current k (advanced by Next), so At is a base plus a constant stride.
        T* _p0, _p3, _p6, _p9;
        readonly nint _s1, _s2, _skip, _bSkip;
        readonly int _segment;
        int _left;

        /// <param name="stepBytes">Distance between consecutive starts, in bytes.</param>
        public EvenWindowRows(T* start, nint stepBytes, WindowWalk walk)
        {
            nint step = stepBytes / sizeof(T);
            T* at = start + walk.Offset;
            _p0 = at; _p3 = at + 3 * step; _p6 = at + 6 * step; _p9 = at + 9 * step;
            _s1 = step; _s2 = 2 * step;
            _skip = walk.Skip; _bSkip = walk.BSkip; _segment = walk.Segment; _left = walk.Left;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row)
        {
            T* b = (row / 3) switch { 0 => _p0, 1 => _p3, 2 => _p6, _ => _p9 };
            return b + (row % 3) switch { 0 => 0, 1 => _s1, _ => _s2 };
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next()
        {
            nint d = 1, b = 0;
            if (--_left == 0) { d += _skip; _left = _segment; b = _bSkip; }
            _p0 += d; _p3 += d; _p6 += d; _p9 += d;
            return b;
        }
    }

    /// <summary>
    /// A tile's rows stored where a border plan's order puts them: row r goes to y row
    /// order[r] (plus the panel's first column, already in y). Rows past a short tile's end
    /// go to a spare row, which nothing reads.
    /// </summary>
    readonly struct ScatteredRows<T>(T* y, int filters, int* order, int rows, T* spare) : Gemm.ICRows<T> where T : unmanaged
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public T* Row(int row) => row < rows ? y + (nint)order[row] * filters : spare;
    }

    /// <summary>
    /// The transpose of a row-major matrix as the micro-kernel's A: row r at the current k is
    /// matrix[k, first + r], so the MR values of one k are adjacent and k steps by the row length.
    /// </summary>
    struct MatrixColumns<T>(T* first, nint rowLength) : Gemm.IARows<T> where T : unmanaged
    {
        T* _p = first;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row) => _p + row;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next() { _p += rowLength; return 0; }
    }

    /// <summary>
    /// A packed [k][MR] panel holding only some of the k-rows: after each one, B moves on past
    /// the k-rows left out (bSkips[i] values beyond the next row).
    /// </summary>
    struct KeptRows<T>(T* packed, nint* bSkips) : Gemm.IARows<T> where T : unmanaged
    {
        T* _p = packed;
        nint* _skip = bSkips;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row) => _p + row;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next() { _p += Gemm.MR; return *_skip++; }
    }

    /// <summary>
    /// The windows' transpose as the micro-kernel's A, read where it lies: row r at the current
    /// k (an output position) is starts[k][first + r], twelve adjacent values of one run.
    /// </summary>
    struct WindowColumns<T> : Gemm.IARows<T> where T : unmanaged
    {
        nint* _start;
        T* _p;
        readonly nint _first;

        /// <param name="starts">One window start per k, and one more that may be read (not used) after the last.</param>
        public WindowColumns(nint* starts, nint first)
        {
            _start = starts; _first = first; _p = (T*)*starts + first;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row) => _p + row;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next() { _p = (T*)*++_start + _first; return 0; }
    }

    /// <summary>
    /// Twelve output positions' windows, read where they lie: row r's value for the current k
    /// is start[r][walk offset].
    /// </summary>
    struct WindowRows<T> : Gemm.IARows<T> where T : unmanaged
    {
        readonly T* _p0, _p1, _p2, _p3, _p4, _p5, _p6, _p7, _p8, _p9, _p10, _p11;
        WindowWalk _walk;

        /// <param name="rows">Real rows (the rest repeat the last one; their results are discarded).</param>
        public WindowRows(nint[] starts, int first, int rows, WindowWalk walk)
        {
            int last = first + rows - 1;
            _p0 = (T*)starts[first];
            _p1 = (T*)starts[Math.Min(first + 1, last)]; _p2 = (T*)starts[Math.Min(first + 2, last)]; _p3 = (T*)starts[Math.Min(first + 3, last)];
            _p4 = (T*)starts[Math.Min(first + 4, last)]; _p5 = (T*)starts[Math.Min(first + 5, last)]; _p6 = (T*)starts[Math.Min(first + 6, last)];
            _p7 = (T*)starts[Math.Min(first + 7, last)]; _p8 = (T*)starts[Math.Min(first + 8, last)]; _p9 = (T*)starts[Math.Min(first + 9, last)];
            _p10 = (T*)starts[Math.Min(first + 10, last)]; _p11 = (T*)starts[Math.Min(first + 11, last)];
            _walk = walk;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row) => row switch
        {
            0 => _p0, 1 => _p1, 2 => _p2, 3 => _p3, 4 => _p4, 5 => _p5,
            6 => _p6, 7 => _p7, 8 => _p8, 9 => _p9, 10 => _p10, _ => _p11,
        } + _walk.Offset;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next() => _walk.Next();
    }
}

