using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Kernels;

/// <summary>
/// A stride-2 convolution over few channels (ResNet's 7x7/2 stem on RGB) by one-dimensional
/// Winograd minimal filtering along the width. Along x a stride-2 kernel splits into two
/// stride-1 kernels (polyphase): its even taps read the even input columns, its odd taps the
/// odd ones. Each is a short stride-1 filter (4 and 3 taps for a 7-wide kernel), computed a
/// tile of <see cref="TileWidth"/> outputs at a time by F(m, r): the tile's m + r - 1 input
/// values transformed (Bᵀd), multiplied point by point with the transformed taps (G g) and
/// transformed back (Aᵀ). Both phases use the same points (the odd phase a subset), so their
/// products at a point add before Aᵀ: one GEMM per point, [tiles, 2*KH*C] x [2*KH*C, F], over
/// kernel rows, channels and both phases. A 7x7 kernel then needs 13 multiply-adds per 4
/// outputs, kernel row and channel, where the direct sum needs 28: 2.15 times fewer.
/// </summary>
/// <remarks>
/// The transforms' points are 0, ±1, ±2, ½ and infinity, exact in binary; rounding differs
/// from the direct sum by the transforms' additions and scalings, which the tests bound.
/// Stride and taps along y, and every channel, are as in the direct convolution.
/// </remarks>
public static unsafe class PolyphaseWinogradConvolution
{
    /// <summary>Outputs along x computed per tile (m of F(m, r)).</summary>
    public const int TileWidth = 4;
    /// <summary>Rows (tiles) multiplied and transformed back together: whole MR panels.</summary>
    const int BlockRows = 4 * Gemm.MR;
    /// <summary>Most taps along x a kernel may have: 2 x the points below, less 2 x TileWidth.</summary>
    const int MaxKernelWidth = 9;
    static readonly double[] FinitePoints = [0, 1, -1, 2, -2, 0.5, -0.5];

    /// <summary>
    /// Whether this convolution goes through the polyphase Winograd path: stride 2 along x,
    /// a kernel 5 to 9 wide, no padding (the stem's padding is a layer of its own), at most 4
    /// channels (the transformed image is 13/4 times the input per kernel row; with many
    /// channels the implicit GEMM's windows are long enough), an output width a whole number
    /// of tiles and filters a whole number of NR panels.
    /// </summary>
    public static bool Handles<T>(in ConvGeometry g, int filters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vw = V512<T>.IsHardwareAccelerated ? V512<T>.Count : V256<T>.Count;
        return Fits(g) && filters % (2 * vw) == 0;
    }

    static bool Fits(in ConvGeometry g) =>
        g is { StrideW: 2, PadTop: 0, PadBottom: 0, PadLeft: 0, PadRight: 0 } && g.KernelW >= 5 && g.KernelW <= MaxKernelWidth && g.Channels <= 4
        && g.OutWidth % TileWidth == 0 && g.OutHeight > 0 && g.OutWidth > 0;

    /// <summary>
    /// y = (y when accumulating) + conv(x, w) * scale + bias, then max(y, 0) when relu, as
    /// <see cref="ImplicitConvolution.Forward{T}"/> computes it. x: [N,H,W,C], w: [KH,KW,C,F]
    /// (HWIO), scale and bias: [F] or empty, y: [N,OH,OW,F].
    /// </summary>
    public static void Forward<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int filters, Span<T> y,
        bool relu = false, bool accumulate = false, ThreadTeam? team = null, ReadOnlySpan<T> scale = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Forward<T, V512<T>>(g, x, w, bias, filters, y, relu, accumulate, team, scale);
        else Forward<T, V256<T>>(g, x, w, bias, filters, y, relu, accumulate, team, scale);
    }

    /// <summary>The same at an explicit vector width.</summary>
    public static void Forward<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> bias, int filters, Span<T> y,
        bool relu = false, bool accumulate = false, ThreadTeam? team = null, ReadOnlySpan<T> scale = default)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        if (!Fits(g) || filters % (2 * W.Count) != 0)
            throw new ArgumentException($"the polyphase Winograd convolution takes unpadded stride-2 (along x) kernels 5 to {MaxKernelWidth} wide on at most 4 channels, " +
                $"an output width a multiple of {TileWidth} and filters of {2 * W.Count}, not {g} with {filters} filters");
        g.CheckForwardBuffers(filters, x.Length, w.Length, y.Length, bias.Length, scale.Length);
        team ??= ThreadTeam.Shared;
        var job = Job<T, W>.ForThisThread();
        job.EnsureMembers(team.Size);
        fixed (T* px = x) fixed (T* pw = w) fixed (T* py = y) fixed (T* pBias = bias) fixed (T* pScale = scale)
        {
            job.Set(g, filters, px, pw, py, bias.IsEmpty ? null : pBias, scale.IsEmpty ? null : pScale, relu, accumulate);
            // The members split whole images, as Winograd's do.
            WinogradConvolution.Launch(job, g, filters, team);
        }
    }

    /// <summary>
    /// F(m, r) for one phase: Aᵀ (m x α), G (α x r) and Bᵀ (α x α), α = m + r - 1, by
    /// Toom-Cook on the points 0, ±1, ±2, ½ ... and infinity: G evaluates the taps' polynomial
    /// at each point (divided by the product of its distances to the other finite points), Bᵀ
    /// holds the Lagrange numerators (and the full product for infinity), Aᵀ evaluates the
    /// outputs' polynomial. y[i] = Σₚ Aᵀ[i,p] (G g)[p] (Bᵀ d)[p] = Σⱼ g[j] d[i + j].
    /// </summary>
    public sealed class Transform
    {
        /// <summary>Outputs per tile (m), taps (r), and points: α = m + r - 1.</summary>
        public readonly int M, R, Alpha;
        /// <summary>Aᵀ [m, α], G [α, r], Bᵀ [α, α].</summary>
        public readonly double[,] At, G, Bt;

        /// <param name="m">Outputs per tile.</param>
        /// <param name="r">Taps, at most 9 - m (the points run out).</param>
        public Transform(int m, int r)
        {
            M = m; R = r; Alpha = m + r - 1;
            int n = Alpha - 1;
            var a = FinitePoints.AsSpan(0, n).ToArray();
            At = new double[m, Alpha];
            G = new double[Alpha, r];
            Bt = new double[Alpha, Alpha];
            for (int i = 0; i < m; i++)
            {
                for (int p = 0; p < n; p++) At[i, p] = Math.Pow(a[p], i);
                At[i, n] = i == m - 1 ? 1 : 0;
            }
            for (int p = 0; p < n; p++)
            {
                double f = 1;
                for (int k = 0; k < n; k++) if (k != p) f *= a[p] - a[k];
                for (int j = 0; j < r; j++) G[p, j] = Math.Pow(a[p], j) / f;
                var numerator = Product(a, skip: p);
                for (int i = 0; i < numerator.Length; i++) Bt[p, i] = numerator[i];
            }
            G[n, r - 1] = 1;
            var full = Product(a, skip: -1);
            for (int i = 0; i < full.Length; i++) Bt[n, i] = full[i];
        }

        /// <summary>Coefficients (constant first) of Π (x - a[k]) over k != skip.</summary>
        static double[] Product(double[] a, int skip)
        {
            var c = new double[] { 1 };
            for (int k = 0; k < a.Length; k++)
            {
                if (k == skip) continue;
                var next = new double[c.Length + 1];
                for (int i = 0; i < c.Length; i++)
                {
                    next[i + 1] += c[i];
                    next[i] -= a[k] * c[i];
                }
                c = next;
            }
            return c;
        }
    }

    /// <summary>A transform matrix's nonzero entries as (row, column, value), in row order.</summary>
    readonly record struct Entry<T>(int Row, int Column, T Value);

    static Entry<T>[] Nonzeros<T>(double[,] matrix) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var list = new List<Entry<T>>();
        for (int i = 0; i < matrix.GetLength(0); i++)
            for (int j = 0; j < matrix.GetLength(1); j++)
                if (matrix[i, j] != 0) list.Add(new Entry<T>(i, j, T.CreateTruncating(matrix[i, j])));
        return list.ToArray();
    }

    /// <summary>Each row's first nonzero column (-1 for none).</summary>
    static int[] FirstColumns(double[,] matrix)
    {
        var first = new int[matrix.GetLength(0)];
        for (int i = 0; i < first.Length; i++)
        {
            first[i] = -1;
            for (int j = matrix.GetLength(1) - 1; j >= 0; j--) if (matrix[i, j] != 0) first[i] = j;
        }
        return first;
    }

    sealed class Job<T, W> : TeamJob where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        [ThreadStatic] static Job<T, W>? _forThread;
        public static Job<T, W> ForThisThread() => _forThread ??= new Job<T, W>();

        // Per member: its transformed weights, an image's transformed rows, a block's products,
        // and the image split by column phase.
        NativeBuffer<T>?[] _weights = new NativeBuffer<T>[1], _inputs = new NativeBuffer<T>[1], _products = new NativeBuffer<T>[1], _phases = new NativeBuffer<T>[1];
        nint[]?[] _rowStarts = new nint[1][];
        ConvGeometry _g;
        int _filters;
        T* _x, _w, _y, _bias, _scale;
        bool _relu, _accumulate;

        // Per kernel width: the two phases' transforms, and their entries as T.
        int _kernelWidth;
        Transform[] _phase = [];
        Entry<T>[][] _gEntries = [], _btEntries = [];
        int[][] _firstColumn = [];
        // Aᵀ at the shared points, point by point ([point * 4 + output]): output i of a tile is Σ over the points.
        T[] _outputCoefficients = [];
        int _points;
        // Which shared point each phase's point is, and whether the odd phase has each point (its k-rows follow the even phase's).
        int[][] _pointOf = [];
        int[] _phasesAt = [];
        int[] _phaseOffsets = [];
        ConvGeometry _offsetsFor;

        public void EnsureMembers(int members)
        {
            if (_weights.Length >= members) return;
            Array.Resize(ref _weights, members);
            Array.Resize(ref _inputs, members);
            Array.Resize(ref _products, members);
            Array.Resize(ref _phases, members);
            Array.Resize(ref _rowStarts, members);
        }

        public void Set(in ConvGeometry g, int filters, T* x, T* w, T* y, T* bias, T* scale, bool relu, bool accumulate)
        {
            _g = g; _filters = filters; _x = x; _w = w; _y = y; _bias = bias; _scale = scale; _relu = relu; _accumulate = accumulate;
            MakePhaseOffsets();
            if (_kernelWidth == g.KernelW) return;
            _kernelWidth = g.KernelW;
            // Phase q holds the taps q, q + 2, ...: (KW - q + 1) / 2 of them.
            _phase = [new Transform(TileWidth, (g.KernelW + 1) / 2), new Transform(TileWidth, g.KernelW / 2)];
            _gEntries = [Nonzeros<T>(_phase[0].G), Nonzeros<T>(_phase[1].G)];
            _btEntries = [Nonzeros<T>(_phase[0].Bt), Nonzeros<T>(_phase[1].Bt)];
            // The first nonzero of each row of Bᵀ stores, the others add.
            _firstColumn = [FirstColumns(_phase[0].Bt), FirstColumns(_phase[1].Bt)];
            // Both phases evaluate at the first points of one list and at infinity, so the odd
            // phase's points are among the even phase's (its first α₁ - 1 and the last): the
            // two phases' products at a shared point add up before Aᵀ, whose columns agree there,
            // and so are one GEMM over both phases' rows of k.
            _points = _phase[0].Alpha;
            _pointOf = new int[2][];
            for (int q = 0; q < 2; q++)
            {
                int alpha = _phase[q].Alpha;
                _pointOf[q] = Enumerable.Range(0, alpha).Select(a => a == alpha - 1 ? _points - 1 : a).ToArray();
                for (int a = 0; a < alpha; a++)
                    for (int i = 0; i < TileWidth; i++)
                        if (_phase[q].At[i, a] != _phase[0].At[i, _pointOf[q][a]]) throw new InvalidOperationException("the phases' output transforms disagree");
            }
            _phasesAt = new int[_points];
            foreach (int u in _pointOf[1]) _phasesAt[u] = 1;
            _outputCoefficients = new T[_points * TileWidth];
            for (int u = 0; u < _points; u++)
                for (int i = 0; i < TileWidth; i++) _outputCoefficients[u * TileWidth + i] = T.CreateTruncating(_phase[0].At[i, u]);
        }

        /// <summary>Tiles per output row.</summary>
        int Tiles => _g.OutWidth / TileWidth;
        /// <summary>
        /// The pitch of a transformed row: the tiles, and room for a tile's values to start up to
        /// two tiles past its own (so that each phase-split row is read as one run).
        /// </summary>
        int Pitch => Tiles + 2;
        /// <summary>One channel's rows of a transformed (or phase-split) image, [H][pitch], in whole vectors.</summary>
        long Plane => Gemm.RoundUp(_g.Height * Pitch, W.Count);
        /// <summary>
        /// One point's transformed image, [phase][C][plane], and a cache line more; likewise a
        /// block's products at a point. Blocks a multiple of 4 KiB apart (48 x 64 floats is) put
        /// the output transform's loads of all points into one L1 set.
        /// </summary>
        long PointStride => 2 * _g.Channels * Plane + CacheLine.Bytes / sizeof(T);
        long ProductStride => (long)BlockRows * _filters + CacheLine.Bytes / sizeof(T);

        public override void Execute(int thread, int threads, ThreadTeam team)
        {
            int k = _g.KernelH * _g.Channels, f = _filters, nr = 2 * W.Count, panels = f / nr;
            (int n0, int n1) = Gemm.Share(_g.Batch, thread, threads);
            if (n0 >= n1) return;
            T* u = ThreadScratch.Get(ref _weights[thread], (long)_points * 2 * k * f);
            T* v = ThreadScratch.Get(ref _inputs[thread], _points * PointStride);
            T* m = ThreadScratch.Get(ref _products[thread], _points * ProductStride);
            T* phases = ThreadScratch.Get(ref _phases[thread], _g.Channels * 2 * TileWidth * Plane + W.Count);
            var starts = ThreadScratch.Get(ref _rowStarts[thread], Gemm.MR + BlockRows);
            TransformWeights(u);
            int tiles = Tiles, pitch = Pitch, rows = _g.OutHeight * tiles;
            fixed (nint* pStarts = starts)
                for (int n = n0; n < n1; n++)
                {
                    TransformInput(n, v, phases);
                    for (int r0 = 0; r0 < rows; r0 += BlockRows)
                    {
                        int count = Math.Min(BlockRows, rows - r0);
                        // Each row's offset in a point's transformed image (a short last tile repeats its last row).
                        nint* offsets = pStarts + Gemm.MR;
                        for (int r = 0; r < count; r++)
                        {
                            int oy = (r0 + r) / tiles, t = (r0 + r) % tiles;
                            offsets[r] = (nint)oy * _g.StrideH * pitch + t;
                        }
                        for (int p = 0; p < _points; p++)
                        {
                            T* vp = v + p * PointStride, mp = m + p * ProductStride;
                            int kp = (1 + _phasesAt[p]) * k;
                            for (int r = 0; r < count; r += Gemm.MR)
                            {
                                int mr = Math.Min(Gemm.MR, count - r);
                                for (int i = 0; i < Gemm.MR; i++) pStarts[i] = (nint)(vp + offsets[r + Math.Min(i, mr - 1)]);
                                for (int jp = 0; jp < panels; jp++)
                                    Gemm.Tile<T, W, PointerRows<T>>(new PointerRows<T>(pStarts, pitch, _g.KernelH, (nint)(Plane - (long)_g.KernelH * pitch)), kp,
                                        u + ((long)p * panels + jp) * 2 * k * nr, mp + (long)r * f + jp * nr, f, mr, nr, accumulate: false);
                            }
                        }
                        for (int r = 0; r < count; r++) TransformOutput(n, r0 + r, m + (long)r * f, ProductStride);
                    }
                }
        }

        /// <summary>
        /// u[p][panel][q, c, ky][nr]: for each point p of phase q (k-rows of the even phase, then the odd's), Σⱼ G[p, j] w[ky, 2j + q, c, f],
        /// times the filter's scale, packed as the GEMM's B panels.
        /// </summary>
        void TransformWeights(T* u)
        {
            int kh = _g.KernelH, kw = _g.KernelW, c = _g.Channels, f = _filters, nr = 2 * W.Count, panels = f / nr, k = kh * c, vw = W.Count;
            new Span<T>(u, checked(_points * 2 * k * f)).Clear();
            for (int q = 0; q < 2; q++)
                foreach (var e in _gEntries[q])
                {
                    int p = _pointOf[q][e.Row], tap = 2 * e.Column + q;
                    W coefficient = W.Broadcast(e.Value);
                    for (int ch = 0; ch < c; ch++)
                        for (int ky = 0; ky < kh; ky++)
                        {
                            T* source = _w + (((long)ky * kw + tap) * c + ch) * f;
                            int row = q * k + ch * kh + ky;
                            for (int j = 0; j < f; j += vw)
                            {
                                T* to = u + ((long)p * panels + j / nr) * 2 * k * nr + (long)row * nr + j % nr;
                                W value = coefficient * W.Load(ref source[j]);
                                if (_scale != null) value *= W.Load(ref _scale[j]);
                                W.Store(W.Load(ref *to) + value, ref *to);
                            }
                        }
                }
        }

        /// <summary>
        /// Image n transformed for every point: v[p][c][iy][t] = Σᵢ Bᵀ[p, i] x[n, iy, 2(m t + i) + q, c]
        /// for the points p of phase q. The image is first split by column mod 2m (phases[c][s][iy][t']
        /// = x[n, iy, 2m t' + s, c], zero past the image), so that for each i the tiles of all
        /// rows are one contiguous run: column 2(m t + i) + q is s = (2i + q) mod 2m, t' = t +
        /// (2i + q) div 2m. Each of Bᵀ's nonzero entries is then one pass of multiply-adds over
        /// the whole image's tiles.
        /// </summary>
        /// <summary>
        /// For each phase s, each phase-split value's place relative to the image's (s, channel 0)
        /// value, [2m][plane]; made on the calling thread before the team starts.
        /// </summary>
        void MakePhaseOffsets()
        {
            if (_offsetsFor == _g) return;
            int plane = (int)Plane, pitch = Pitch, c = _g.Channels, width = _g.Width;
            const int period = 2 * TileWidth;
            _phaseOffsets = GC.AllocateUninitializedArray<int>(period * plane, pinned: true);
            for (int s = 0; s < period; s++)
                for (int j = 0; j < plane; j++)
                {
                    int iy = Math.Min(j / pitch, _g.Height - 1), t = j % pitch;
                    _phaseOffsets[s * plane + j] = (iy * width + (period * t + s < width ? period * t : 0)) * c;
                }
            _offsetsFor = _g;
        }

        void TransformInput(int n, T* v, T* phases)
        {
            int c = _g.Channels, width = _g.Width, height = _g.Height, pitch = Pitch, vw = W.Count;
            const int period = 2 * TileWidth;
            long plane = Plane;
            // Past the image's right edge (values that feed only the padding tiles, whose sums are
            // never read) the row's first value of the phase stands in, so nothing is read outside x.
            int* offsets = (int*)Unsafe.AsPointer(ref _phaseOffsets[0]);
            T* image = _x + (long)n * height * width * c;
            for (int s = 0; s < period; s++)
                for (int ch = 0; ch < c; ch++)
                {
                    T* to = phases + (ch * period + s) * plane, from = image + s * c + ch;
                    int* offset = offsets + s * plane;
                    for (long j = 0; j < plane; j++) to[j] = from[offset[j]];
                }
            for (int q = 0; q < 2; q++)
                foreach (var (p, column, value) in _btEntries[q])
                {
                    int i = 2 * column + q;
                    W coefficient = W.Broadcast(value);
                    bool store = column == _firstColumn[q][p];
                    for (int ch = 0; ch < c; ch++)
                    {
                        T* source = phases + (ch * period + i % period) * plane + i / period;
                        T* target = v + _pointOf[q][p] * PointStride + (q * c + ch) * plane;
                        if (store)
                            for (long j = 0; j < plane; j += vw) W.Store(coefficient * W.Load(ref source[j]), ref target[j]);
                        else
                            for (long j = 0; j < plane; j += vw) W.Store(W.MultiplyAdd(coefficient, W.Load(ref source[j]), W.Load(ref target[j])), ref target[j]);
                    }
                }
        }

        /// <summary>
        /// y[n, oy, m t + i, :] (+)= (Σₚ Aᵀ[i, p] products[p]) + bias, relu: row (oy, t) of a
        /// block, its products for point p at products + p * pointStride. Aᵀ of both phases
        /// side by side, dense (_outputCoefficients[p * 4 + i]): four multiply-adds per point
        /// and no branch beat skipping its zeros.
        /// </summary>
        void TransformOutput(int n, int row, T* products, long pointStride)
        {
            int f = _filters, vw = W.Count, oy = row / Tiles, t = row % Tiles, points = _points;
            T* y = _y + (((long)n * _g.OutHeight + oy) * _g.OutWidth + (long)t * TileWidth) * f;
            // Two vectors of filters at a time: eight independent sums keep both FMA pipes busy.
            fixed (T* a = _outputCoefficients)
                for (int j = 0; j < f; j += 2 * vw)
                {
                    W s0 = W.Zero, s1 = W.Zero, s2 = W.Zero, s3 = W.Zero, h0 = W.Zero, h1 = W.Zero, h2 = W.Zero, h3 = W.Zero;
                    T* product = products + j, coefficient = a;
                    for (int p = 0; p < points; p++, product += pointStride, coefficient += TileWidth)
                    {
                        W lo = W.Load(ref *product), hi = W.Load(ref product[vw]);
                        W a0 = W.Broadcast(coefficient[0]), a1 = W.Broadcast(coefficient[1]), a2 = W.Broadcast(coefficient[2]), a3 = W.Broadcast(coefficient[3]);
                        s0 = W.MultiplyAdd(a0, lo, s0); h0 = W.MultiplyAdd(a0, hi, h0);
                        s1 = W.MultiplyAdd(a1, lo, s1); h1 = W.MultiplyAdd(a1, hi, h1);
                        s2 = W.MultiplyAdd(a2, lo, s2); h2 = W.MultiplyAdd(a2, hi, h2);
                        s3 = W.MultiplyAdd(a3, lo, s3); h3 = W.MultiplyAdd(a3, hi, h3);
                    }
                    W b = _bias != null ? W.Load(ref _bias[j]) : W.Zero, bh = _bias != null ? W.Load(ref _bias[j + vw]) : W.Zero;
                    Store(y + j, s0 + b); Store(y + j + vw, h0 + bh);
                    Store(y + f + j, s1 + b); Store(y + f + j + vw, h1 + bh);
                    Store(y + 2 * f + j, s2 + b); Store(y + 2 * f + j + vw, h2 + bh);
                    Store(y + 3 * f + j, s3 + b); Store(y + 3 * f + j + vw, h3 + bh);
                }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        void Store(T* to, W value)
        {
            if (_accumulate) value += W.Load(ref *to);
            if (_relu) value = W.Max(value, W.Zero);
            W.Store(value, ref *to);
        }
    }

    /// <summary>
    /// Twelve rows, each from its own start; k walks <c>segment</c> values <c>stride</c> apart,
    /// then jumps <c>skip</c> further to the next run (the next channel's rows).
    /// </summary>
    struct PointerRows<T> : Gemm.IARows<T> where T : unmanaged
    {
        readonly T* _p0, _p1, _p2, _p3, _p4, _p5, _p6, _p7, _p8, _p9, _p10, _p11;
        readonly nint _stride, _skip;
        readonly int _segment;
        nint _offset;
        int _left;

        public PointerRows(nint* starts, nint stride, int segment, nint skip)
        {
            _p0 = (T*)starts[0]; _p1 = (T*)starts[1]; _p2 = (T*)starts[2]; _p3 = (T*)starts[3];
            _p4 = (T*)starts[4]; _p5 = (T*)starts[5]; _p6 = (T*)starts[6]; _p7 = (T*)starts[7];
            _p8 = (T*)starts[8]; _p9 = (T*)starts[9]; _p10 = (T*)starts[10]; _p11 = (T*)starts[11];
            _stride = stride; _segment = segment; _skip = skip;
            _offset = 0;
            _left = segment;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row) => row switch
        {
            0 => _p0, 1 => _p1, 2 => _p2, 3 => _p3, 4 => _p4, 5 => _p5,
            6 => _p6, 7 => _p7, 8 => _p8, 9 => _p9, 10 => _p10, _ => _p11,
        } + _offset;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next()
        {
            _offset += _stride;
            if (--_left == 0)
            {
                _offset += _skip;
                _left = _segment;
            }
            return 0;
        }
    }
}
