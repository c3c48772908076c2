using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Kernels;

/// <summary>
/// A 3x3, stride-1, 'same' convolution (the forward pass, and the input gradient, which is
/// one too) by Winograd's minimal filtering F(2x2, 3x3): each 2x2 block of outputs comes from a 4x4 block of input, transformed
/// (V = Bᵀ d B), multiplied point by point with transformed weights (U = G g Gᵀ) summed over
/// channels, and transformed back (Y = Aᵀ M A). The 16 point-wise products over channels are
/// 16 GEMMs of [tiles, C] x [C, F], 16 multiply-adds per tile and channel pair where the
/// direct convolution needs 36: 2.25 times fewer. The transforms stay in cache: a block of
/// tiles is transformed, multiplied and transformed back before the next block starts.
/// </summary>
/// <remarks>
/// Rounding differs from the direct convolution (the transforms add and halve values), by a
/// few units in the last place of the sums' magnitude; tests hold it to the direct kernel.
/// </remarks>
public static unsafe class WinogradConvolution
{
    /// <summary>Tiles (2x2 output blocks) transformed and multiplied together: whole MR panels.</summary>
    const int BlockTiles = 4 * Gemm.MR;
    /// <summary>
    /// Tiles a weight gradient sums per block: each micro-kernel call then runs 96 k-steps deep
    /// (measured against 48 on both cores, batch 32: 15x15x64 1.19-1.22 against 1.24-1.26 ms,
    /// 8x8x128 1.03-1.04 against 1.05-1.06; 144 was faster at 8x8 and 4x4 but slower at 15x15).
    /// </summary>
    const int GradientBlockTiles = 8 * Gemm.MR;

    /// <summary>
    /// Whether this convolution goes through Winograd: a 3x3 kernel, stride 1, one pixel of
    /// padding on every side ('same'), channels a whole number of vectors, filters a whole
    /// number of NR panels, and images of at least 4x4. At 2x2 (ResNet-50's last stage, 512
    /// channels) the transformed weights (16 points against 9 taps) cost more to stream than
    /// the products save: 1.75-1.77 ms against 1.29-1.30 direct, batch 32, both cores. Below
    /// 64 channels or filters the transforms weigh more than the products (input gradient of
    /// 7x7, 32 channels, 64 filters: 0.141 ms against 0.121).
    /// </summary>
    public static bool Handles<T>(in ConvGeometry g, int filters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int vw = V512<T>.IsHardwareAccelerated ? V512<T>.Count : V256<T>.Count;
        return Fits(g) && g.Height >= 4 && g.Width >= 4 && g.Channels >= 64 && filters >= 64 && g.Channels % vw == 0 && filters % (2 * vw) == 0;
    }

    static bool Fits(in ConvGeometry g) => g is { KernelH: 3, KernelW: 3, StrideH: 1, StrideW: 1, PadTop: 1, PadBottom: 1, PadLeft: 1, PadRight: 1 };

    /// <summary>
    /// y = (y when accumulating) + conv(x, w) * scale + bias, then max(y, 0) when relu, as
    /// <see cref="ImplicitConvolution.Forward{T}"/> computes it. x: [N,H,W,C], w: [3,3,C,F]
    /// (HWIO), scale and bias: [F] or empty, y: [N,H,W,F].
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
        int vw = W.Count;
        if (!Fits(g) || g.Channels % vw != 0 || filters % (2 * vw) != 0)
            throw new ArgumentException($"Winograd F(2x2, 3x3) takes 3x3 stride-1 'same' convolutions with channels a multiple of {vw} and filters of {2 * vw}, not {g} with {filters} filters");
        g.CheckForwardBuffers(filters, x.Length, w.Length, y.Length, bias.Length, scale.Length);
        Run<T, W>(g, x, w, rotated: false, bias, filters, y, relu, accumulate, team, scale);
    }

    /// <summary>
    /// Whether the input gradient of this forward convolution goes through Winograd: the same
    /// conditions as <see cref="Handles{T}"/> with the roles of channels and filters swapped
    /// (the input gradient is a 3x3 'same' convolution of dy with the kernel rotated).
    /// </summary>
    public static bool HandlesInputGradient<T>(in ConvGeometry g, int filters) where T : unmanaged, IFloatingPointIeee754<T> =>
        Handles<T>(g with { Channels = filters }, g.Channels);

    /// <summary>
    /// dx (+)= the input gradient of a 3x3 stride-1 'same' convolution: dy convolved with w
    /// rotated 180 degrees, in / out channels swapped. Rotating a 3x3 kernel swaps its
    /// transform's points 0 and 3 along each axis (G applied to (g2, g1, g0) gives the four
    /// values of (g0, g1, g2) in the order 3, 1, 2, 0), so the rotated kernel is never built.
    /// dy: [N,H,W,F], w: [3,3,C,F], dx: [N,H,W,C].
    /// </summary>
    public static void BackwardInput<T>(in ConvGeometry g, ReadOnlySpan<T> dy, ReadOnlySpan<T> w, int filters, Span<T> dx, bool accumulate = true, ThreadTeam? team = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) BackwardInput<T, V512<T>>(g, dy, w, filters, dx, accumulate, team);
        else BackwardInput<T, V256<T>>(g, dy, w, filters, dx, accumulate, team);
    }

    /// <summary>The same at an explicit vector width.</summary>
    public static void BackwardInput<T, W>(in ConvGeometry g, ReadOnlySpan<T> dy, ReadOnlySpan<T> w, int filters, Span<T> dx, bool accumulate = true, ThreadTeam? team = null)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int vw = W.Count;
        var transposed = g with { Channels = filters };
        if (!Fits(g) || filters % vw != 0 || g.Channels % (2 * vw) != 0)
            throw new ArgumentException($"Winograd F(2x2, 3x3) input gradients take 3x3 stride-1 'same' convolutions with filters a multiple of {vw} and channels of {2 * vw}, not {g} with {filters} filters");
        g.CheckInputGradientBuffers(filters, w.Length, dy.Length, dx.Length);
        Run<T, W>(transposed, dy, w, rotated: true, default, g.Channels, dx, relu: false, accumulate, team, default);
    }

    /// <summary>
    /// dW (+)= the weight gradient of a 3x3 stride-1 'same' convolution, and dBias, when not
    /// empty, += dy's sums over positions. With the forward pass Y = Aᵀ[U ⊙ V]A, the gradient
    /// of U is (A dY Aᵀ) ⊙ V, and of the kernel Gᵀ dU G: for each of the 16 points, dU[p] =
    /// V[p]ᵀ DY[p] sums over tiles ([C, tiles] x [tiles, F]), 16 multiply-adds per tile and
    /// channel pair against the direct sum's 36 (its 2x2 dy blocks cover 4 positions each).
    /// x: [N,H,W,C], dy: [N,H,W,F], dW: [3,3,C,F], dBias: [F].
    /// </summary>
    public static void WeightGradient<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int filters, Span<T> dW, bool accumulate = true, ThreadTeam? team = null,
        Span<T> dBias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) WeightGradient<T, V512<T>>(g, x, dy, filters, dW, accumulate, team, dBias);
        else WeightGradient<T, V256<T>>(g, x, dy, filters, dW, accumulate, team, dBias);
    }

    /// <summary>The same at an explicit vector width.</summary>
    public static void WeightGradient<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int filters, Span<T> dW, bool accumulate = true, ThreadTeam? team = null,
        Span<T> dBias = default)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int vw = W.Count;
        if (!Fits(g) || g.Channels % vw != 0 || filters % (2 * vw) != 0)
            throw new ArgumentException($"Winograd F(2x2, 3x3) weight gradients take 3x3 stride-1 'same' convolutions with channels a multiple of {vw} and filters of {2 * vw}, not {g} with {filters} filters");
        g.CheckWeightGradientBuffers(filters, x.Length, dy.Length, dW.Length, dBias.Length);
        team ??= ThreadTeam.Shared;
        var job = Job<T, W>.ForThisThread();
        job.EnsureMembers(team.Size);
        fixed (T* px = x) fixed (T* pdy = dy) fixed (T* pdW = dW) fixed (T* pBias = dBias)
        {
            job.SetWeightGradient(g, filters, px, pdy, pdW, dBias.IsEmpty ? null : pBias, accumulate);
            Launch(job, g, filters, team);
        }
    }

    static void Run<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, bool rotated, ReadOnlySpan<T> bias, int filters, Span<T> y,
        bool relu, bool accumulate, ThreadTeam? team, ReadOnlySpan<T> scale)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        team ??= ThreadTeam.Shared;
        var job = Job<T, W>.ForThisThread();
        job.EnsureMembers(team.Size);
        fixed (T* px = x) fixed (T* pw = w) fixed (T* py = y) fixed (T* pBias = bias) fixed (T* pScale = scale)
        {
            job.Set(g, filters, px, pw, rotated, py, bias.IsEmpty ? null : pBias, scale.IsEmpty ? null : pScale, relu, accumulate);
            Launch(job, g, filters, team);
        }
    }

    /// <summary>Runs a set-up job on the team (when worth splitting), or on the caller alone for a single image: the members split whole images.</summary>
    internal static void Launch(TeamJob job, in ConvGeometry g, int filters, ThreadTeam team)
    {
        if (g.Batch < 2) job.Execute(0, 1, ThreadTeam.Solo);
        else team.Run(job, (long)g.Rows * g.Patch * filters);
    }

    sealed class Job<T, W> : TeamJob where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        [ThreadStatic] static Job<T, W>? _forThread;
        public static Job<T, W> ForThisThread() => _forThread ??= new Job<T, W>();

        // Per member: its own transformed weights (all of them when the members split images,
        // its filters' otherwise), and a block's transformed input and products.
        NativeBuffer<T>?[] _weights = new NativeBuffer<T>[1], _inputs = new NativeBuffer<T>[1], _products = new NativeBuffer<T>[1];
        // Per member, input gradients only: the transformed weights before their transposing pack.
        NativeBuffer<T>?[] _unpacked = new NativeBuffer<T>[1];
        // Per member, weight gradients only: its partial sums of dy for the bias gradient.
        NativeBuffer<T>?[] _biasSums = new NativeBuffer<T>[1];
        T* _dy;
        bool _weightGradient;
        // Where each member's partial dU and bias sums are, for the others to add up.
        nint[] _partialOf = new nint[1], _sumsOf = new nint[1];
        ConvGeometry _g;
        int _filters;
        T* _x, _w, _y, _bias, _scale;
        bool _relu, _accumulate, _rotated;

        /// <summary>Whether the members split the images (else the filter panels): when each gets at least two blocks' worth of tiles (96).</summary>
        public static bool SplitImages(in ConvGeometry g, int threads) =>
            (long)g.Batch / threads * ((g.Height + 1) / 2) * ((g.Width + 1) / 2) >= 96;

        public void EnsureMembers(int members)
        {
            if (_weights.Length >= members) return;
            Array.Resize(ref _weights, members);
            Array.Resize(ref _inputs, members);
            Array.Resize(ref _products, members);
            Array.Resize(ref _unpacked, members);
            Array.Resize(ref _biasSums, members);
            Array.Resize(ref _partialOf, members);
            Array.Resize(ref _sumsOf, members);
        }

        public void Set(in ConvGeometry g, int filters, T* x, T* w, bool rotated, T* y, T* bias, T* scale, bool relu, bool accumulate)
        {
            _weightGradient = false; _rotated = rotated; _g = g; _filters = filters; _x = x; _w = w; _y = y; _bias = bias; _scale = scale; _relu = relu; _accumulate = accumulate;
        }

        /// <summary>The weight gradient: dW (+)= ..., dBias += ... (when not null); _bias holds dBias.</summary>
        public void SetWeightGradient(in ConvGeometry g, int filters, T* x, T* dy, T* dW, T* dBias, bool accumulate)
        {
            _weightGradient = true; _rotated = false; _g = g; _filters = filters; _x = x; _dy = dy; _y = dW; _bias = dBias; _scale = null;
            _relu = false; _accumulate = accumulate;
        }

        public override void Execute(int thread, int threads, ThreadTeam team)
        {
            if (_weightGradient)
            {
                ExecuteWeightGradient(thread, threads, team);
                return;
            }
            int c = _g.Channels, f = _filters, nr = 2 * W.Count, panels = f / nr;
            int tilesH = (_g.Height + 1) / 2, tilesW = (_g.Width + 1) / 2, perImage = tilesH * tilesW;
            // Many tiles: each member takes whole images and all filters. Few (the late, small
            // images): each takes a share of the filter panels over all tiles, so that it
            // transforms and streams only its share of the weights (transforming the input
            // twice costs less: it is 16 times smaller than the weights at 4x4x256).
            bool byImages = SplitImages(_g, threads);
            (int n0, int n1) = byImages ? Gemm.Share(_g.Batch, thread, threads) : (0, _g.Batch);
            (int q0, int q1) = byImages ? (0, panels) : Gemm.Share(panels, thread, threads);
            if (q0 >= q1) return;
            int myPanels = q1 - q0;
            T* u = ThreadScratch.Get(ref _weights[thread], 16L * c * myPanels * nr);
            T* v = ThreadScratch.Get(ref _inputs[thread], 16L * BlockTiles * c);
            T* m = ThreadScratch.Get(ref _products[thread], 16L * BlockTiles * f);
            if (_rotated) TransformRotatedWeights(u, q0, q1, ThreadScratch.Get(ref _unpacked[thread], 16L * c * myPanels * nr));
            else TransformWeights(u, q0, q1);

            int end = n1 * perImage;
            for (int t0 = n0 * perImage; t0 < end; t0 += BlockTiles)
            {
                int count = Math.Min(BlockTiles, end - t0);
                for (int t = 0; t < count; t++) TransformInput(t0 + t, tilesH, tilesW, v + (long)t * c, (long)BlockTiles * c);
                for (int p = 0; p < 16; p++)
                {
                    T* vp = v + (long)p * BlockTiles * c, mp = m + (long)p * BlockTiles * f;
                    for (int jp = q0; jp < q1; jp++)
                    {
                        T* panel = u + ((long)p * myPanels + jp - q0) * c * nr;
                        for (int r = 0; r < count; r += Gemm.MR)
                            Gemm.Tile<T, W, Gemm.StridedRows<T>>(new Gemm.StridedRows<T>(vp + (long)r * c, c), c, panel, mp + (long)r * f + jp * nr, f,
                                Math.Min(Gemm.MR, count - r), nr, accumulate: false);
                    }
                }
                for (int t = 0; t < count; t++) TransformOutput(t0 + t, tilesH, tilesW, m + (long)t * f, (long)BlockTiles * f, q0 * nr, q1 * nr);
            }
        }

        /// <summary>
        /// The weight gradient. Split by images, each member sums dU over its own tiles, and
        /// after a barrier each turns its share of the channels of both partial sums into dW.
        /// Split by filter panels, each sums over all tiles for its own filters alone.
        /// </summary>
        void ExecuteWeightGradient(int thread, int threads, ThreadTeam team)
        {
            int c = _g.Channels, f = _filters, nr = 2 * W.Count, panels = f / nr;
            int tilesH = (_g.Height + 1) / 2, tilesW = (_g.Width + 1) / 2, perImage = tilesH * tilesW;
            bool byImages = SplitImages(_g, threads);
            (int n0, int n1) = byImages ? Gemm.Share(_g.Batch, thread, threads) : (0, _g.Batch);
            (int q0, int q1) = byImages ? (0, panels) : Gemm.Share(panels, thread, threads);
            if (q0 >= q1) return; // only when splitting filters: no barrier to meet
            int f0 = q0 * nr, width = (q1 - q0) * nr;
            T* du = ThreadScratch.Get(ref _weights[thread], 16L * c * width);
            T* v = ThreadScratch.Get(ref _inputs[thread], 16L * GradientBlockTiles * c);
            T* d = ThreadScratch.Get(ref _products[thread], 16L * GradientBlockTiles * width);
            T* sums = null;
            if (_bias != null)
            {
                sums = ThreadScratch.Get(ref _biasSums[thread], width);
                new Span<T>(sums, width).Clear();
            }

            int end = n1 * perImage;
            bool first = true;
            for (int t0 = n0 * perImage; t0 < end; t0 += GradientBlockTiles, first = false)
            {
                int count = Math.Min(GradientBlockTiles, end - t0);
                for (int t = 0; t < count; t++)
                {
                    TransformInput(t0 + t, tilesH, tilesW, v + (long)t * c, (long)GradientBlockTiles * c);
                    TransformGradient(t0 + t, tilesH, tilesW, d + (long)t * width, (long)GradientBlockTiles * width, f0, width, sums);
                }
                for (int p = 0; p < 16; p++)
                {
                    T* vp = v + (long)p * GradientBlockTiles * c, dp = d + (long)p * GradientBlockTiles * width, up = du + (long)p * c * width;
                    for (int r = 0; r < c; r += Gemm.MR)
                        for (int jp = 0; jp < width; jp += nr)
                            Gemm.Tile<T, W, ChannelRows<T>>(new ChannelRows<T>(vp + r, c, width - nr), count, dp + jp, up + (long)r * width + jp, width,
                                Math.Min(Gemm.MR, c - r), nr, accumulate: !first);
                }
            }
            if (first) new Span<T>(du, checked((int)(16L * c * width))).Clear(); // no tiles: a zero partial

            if (!byImages || threads == 1)
            {
                TransformWeightGradient(&du, 1, 0, c, f0, width);
                if (sums != null) AddBiasSums(&sums, 1, f0, width);
                return;
            }
            _partialOf[thread] = (nint)du;
            _sumsOf[thread] = (nint)sums;
            team.Barrier();
            // Every partial is complete: each member finishes its share of the channels.
            T** parts = stackalloc T*[threads];
            for (int i = 0; i < threads; i++) parts[i] = (T*)_partialOf[i];
            (int c0, int c1) = Gemm.Share(c, thread, threads);
            TransformWeightGradient(parts, threads, c0, c1, 0, width);
            if (sums != null && thread == 0)
            {
                for (int i = 0; i < threads; i++) parts[i] = (T*)_sumsOf[i];
                AddBiasSums(parts, threads, 0, width);
            }
        }

        /// <summary>
        /// dW[tap, ch, f0 + j] (+)= (Gᵀ dU G)[tap] for channels [c0, c1) and filters [f0, f0 +
        /// width), dU the sum of the <paramref name="count"/> partials (each [16, C, width]).
        /// Gᵀ = [1 ½ ½ 0; 0 ½ -½ 0; 0 ½ ½ 1].
        /// </summary>
        void TransformWeightGradient(T** parts, int count, int c0, int c1, int f0, int width)
        {
            int c = _g.Channels, f = _filters, vw = W.Count;
            long point = (long)c * width, tap = (long)c * f;
            W half = W.Broadcast(T.CreateTruncating(0.5));
            for (int ch = c0; ch < c1; ch++)
                for (int j = 0; j < width; j += vw)
                {
                    long at = (long)ch * width + j;
                    // Gᵀ down each of the four columns, then each of the three rows times G.
                    Reduce(parts, count, at, point, 0, half, out W a00, out W a10, out W a20);
                    Reduce(parts, count, at, point, 1, half, out W a01, out W a11, out W a21);
                    Reduce(parts, count, at, point, 2, half, out W a02, out W a12, out W a22);
                    Reduce(parts, count, at, point, 3, half, out W a03, out W a13, out W a23);
                    T* dw = _y + (long)ch * f + f0 + j;
                    StoreTaps(a00, a01, a02, a03, half, dw, tap);
                    StoreTaps(a10, a11, a12, a13, half, dw + 3 * tap, tap);
                    StoreTaps(a20, a21, a22, a23, half, dw + 6 * tap, tap);
                }
        }

        /// <summary>Gᵀ times column <paramref name="column"/> of dU (points column, 4 + column, ...), the partials added first.</summary>
        static void Reduce(T** parts, int count, long at, long point, int column, W half, out W a0, out W a1, out W a2)
        {
            T* u = parts[0] + at;
            W u0 = W.Load(ref u[column * point]), u1 = W.Load(ref u[(4 + column) * point]);
            W u2 = W.Load(ref u[(8 + column) * point]), u3 = W.Load(ref u[(12 + column) * point]);
            for (int i = 1; i < count; i++)
            {
                u = parts[i] + at;
                u0 += W.Load(ref u[column * point]); u1 += W.Load(ref u[(4 + column) * point]);
                u2 += W.Load(ref u[(8 + column) * point]); u3 += W.Load(ref u[(12 + column) * point]);
            }
            W even = (u1 + u2) * half;
            a0 = u0 + even; a1 = (u1 - u2) * half; a2 = even + u3;
        }

        /// <summary>One row of Gᵀ dU times G: three taps, stored or added.</summary>
        void StoreTaps(W u0, W u1, W u2, W u3, W half, T* dw, long tap)
        {
            W even = (u1 + u2) * half;
            W t0 = u0 + even, t1 = (u1 - u2) * half, t2 = even + u3;
            if (_accumulate)
            {
                t0 += W.Load(ref *dw); t1 += W.Load(ref dw[tap]); t2 += W.Load(ref dw[2 * tap]);
            }
            W.Store(t0, ref *dw);
            W.Store(t1, ref dw[tap]);
            W.Store(t2, ref dw[2 * tap]);
        }

        /// <summary>dBias[f0 + j] += the <paramref name="count"/> partial sums' [j], for j below width.</summary>
        void AddBiasSums(T** sums, int count, int f0, int width)
        {
            for (int j = 0; j < width; j++)
            {
                T total = sums[0][j];
                for (int i = 1; i < count; i++) total += sums[i][j];
                _bias[f0 + j] += total;
            }
        }

        /// <summary>
        /// dy's 2x2 block at tile <paramref name="tile"/> (zeros off the image), filters [f0, f0 +
        /// width), transformed: d[p * pointStride + j] = (A dY Aᵀ)[p], A = [1 0; 1 1; 1 -1; 0 -1];
        /// its four values are added to sums (when not null) for the bias gradient.
        /// </summary>
        void TransformGradient(int tile, int tilesH, int tilesW, T* d, long pointStride, int f0, int width, T* sums)
        {
            int f = _filters, h = _g.Height, wd = _g.Width, vw = W.Count;
            int image = tile / (tilesH * tilesW), rest = tile % (tilesH * tilesW);
            int oy = 2 * (rest / tilesW), ox = 2 * (rest % tilesW);
            bool down = oy + 1 < h, right = ox + 1 < wd;
            T* y00 = _dy + (((long)image * h + oy) * wd + ox) * f + f0;
            T* y01 = y00 + f, y10 = y00 + (long)wd * f, y11 = y10 + f;
            for (int j = 0; j < width; j += vw)
            {
                W a = W.Load(ref y00[j]);
                W b = right ? W.Load(ref y01[j]) : W.Zero;
                W e = down ? W.Load(ref y10[j]) : W.Zero;
                W g = down && right ? W.Load(ref y11[j]) : W.Zero;
                if (sums != null) W.Store(W.Load(ref sums[j]) + ((a + b) + (e + g)), ref sums[j]);
                // A along each row (a, b) and (e, g), then down each of the four columns.
                W r0 = a + b, r1 = a - b, s0 = e + g, s1 = e - g;
                T* o = d + j;
                StoreGradientColumn(a, e, o, 4 * pointStride);
                StoreGradientColumn(r0, s0, o + pointStride, 4 * pointStride);
                StoreGradientColumn(r1, s1, o + 2 * pointStride, 4 * pointStride);
                StoreGradientColumn(-b, -g, o + 3 * pointStride, 4 * pointStride);
            }
        }

        /// <summary>A times one column (top, bottom): top, top + bottom, top - bottom, -bottom, rows <paramref name="rowStride"/> apart.</summary>
        static void StoreGradientColumn(W top, W bottom, T* o, long rowStride)
        {
            W.Store(top, ref *o);
            W.Store(top + bottom, ref o[rowStride]);
            W.Store(top - bottom, ref o[2 * rowStride]);
            W.Store(-bottom, ref o[3 * rowStride]);
        }

        /// <summary>
        /// u[p, panel - q0, c, NR] = (G g Gᵀ)[p] * scale for every channel c and the filters of panels [q0, q1), g the 3x3
        /// kernel of (c, filter), in the GEMM's panel layout (each panel C rows of NR filters).
        /// G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1].
        /// </summary>
        void TransformWeights(T* u, int q0, int q1)
        {
            int c = _g.Channels, f = _filters, vw = W.Count, nr = 2 * vw;
            long tap = (long)c * f, pointStride = (long)(q1 - q0) * c * nr;
            W half = W.Broadcast(T.CreateTruncating(0.5));
            for (int ch = 0; ch < c; ch++)
                for (int j = q0 * nr; j < q1 * nr; j += vw)
                {
                    T* g = _w + (long)ch * f + j;
                    W s = _scale == null ? W.Broadcast(T.One) : W.Load(ref _scale[j]);
                    T* dst = u + ((long)(j / nr - q0) * c + ch) * nr + j % nr;
                    // G g: four rows of three (along kh), then each row times Gᵀ (along kw).
                    Rows(W.Load(ref g[0]), W.Load(ref g[3 * tap]), W.Load(ref g[6 * tap]), half, out W r00, out W r10, out W r20, out W r30);
                    Rows(W.Load(ref g[tap]), W.Load(ref g[4 * tap]), W.Load(ref g[7 * tap]), half, out W r01, out W r11, out W r21, out W r31);
                    Rows(W.Load(ref g[2 * tap]), W.Load(ref g[5 * tap]), W.Load(ref g[8 * tap]), half, out W r02, out W r12, out W r22, out W r32);
                    StoreRow(r00, r01, r02, half, s, dst, pointStride);
                    StoreRow(r10, r11, r12, half, s, dst + 4 * pointStride, pointStride);
                    StoreRow(r20, r21, r22, half, s, dst + 8 * pointStride, pointStride);
                    StoreRow(r30, r31, r32, half, s, dst + 12 * pointStride, pointStride);
                }
        }

        /// <summary>
        /// The input gradient's weights: u[p, panel - q0, f, NR] = (G g' Gᵀ)[p] for the rotated
        /// kernel g' of every (channel, filter) pair, its channels those of panels [q0, q1). The
        /// forward transform of w[.., c, f] is taken along f (w's contiguous axis) into
        /// <paramref name="unpacked"/> ([p][c][f], its points already in the rotated order) and
        /// packed transposed, 16 x 16 values at a time, into the panels.
        /// </summary>
        void TransformRotatedWeights(T* u, int q0, int q1, T* unpacked)
        {
            // Here _g.Channels is the forward convolution's filter count and _filters its channel count.
            int f = _g.Channels, c = _filters, vw = W.Count, nr = 2 * vw, c0 = q0 * nr, c1 = q1 * nr;
            long tap = (long)c * f, pointStride = (long)(c1 - c0) * f;
            W half = W.Broadcast(T.CreateTruncating(0.5)), one = W.Broadcast(T.One);
            for (int ch = c0; ch < c1; ch++)
                for (int j = 0; j < f; j += vw)
                {
                    T* g = _w + (long)ch * f + j;
                    T* dst = unpacked + (long)(ch - c0) * f + j;
                    Rows(W.Load(ref g[0]), W.Load(ref g[3 * tap]), W.Load(ref g[6 * tap]), half, out W r00, out W r10, out W r20, out W r30);
                    Rows(W.Load(ref g[tap]), W.Load(ref g[4 * tap]), W.Load(ref g[7 * tap]), half, out W r01, out W r11, out W r21, out W r31);
                    Rows(W.Load(ref g[2 * tap]), W.Load(ref g[5 * tap]), W.Load(ref g[8 * tap]), half, out W r02, out W r12, out W r22, out W r32);
                    // Forward row i lands on rotated row 3 - i (0, 3 swapped), and so do columns.
                    StoreRow(r00, r01, r02, half, one, dst + 12 * pointStride, pointStride, reversed: true);
                    StoreRow(r10, r11, r12, half, one, dst + 4 * pointStride, pointStride, reversed: true);
                    StoreRow(r20, r21, r22, half, one, dst + 8 * pointStride, pointStride, reversed: true);
                    StoreRow(r30, r31, r32, half, one, dst, pointStride, reversed: true);
                }
            int panels = q1 - q0;
            for (int p = 0; p < 16; p++)
                for (int jp = 0; jp < panels; jp++)
                    Gemm.PackPanelColumns(unpacked + p * pointStride + (long)jp * nr * f, f, f, nr, nr, u + ((long)p * panels + jp) * f * nr);
        }

        /// <summary>G times a column of three: (x0, (x0+x1+x2)/2, (x0-x1+x2)/2, x2).</summary>
        static void Rows(W x0, W x1, W x2, W half, out W a0, out W a1, out W a2, out W a3)
        {
            W even = (x0 + x2) * half, odd = x1 * half;
            a0 = x0; a1 = even + odd; a2 = even - odd; a3 = x2;
        }

        /// <summary>
        /// One row of G g times Gᵀ, scaled: the four points of that row, in the order 0, 1, 2, 3
        /// or, for the rotated kernel, 3, 1, 2, 0.
        /// </summary>
        static void StoreRow(W x0, W x1, W x2, W half, W scale, T* dst, long pointStride, bool reversed = false)
        {
            Rows(x0, x1, x2, half, out W a0, out W a1, out W a2, out W a3);
            if (reversed) (a0, a3) = (a3, a0);
            W.Store(a0 * scale, ref *dst);
            W.Store(a1 * scale, ref dst[pointStride]);
            W.Store(a2 * scale, ref dst[2 * pointStride]);
            W.Store(a3 * scale, ref dst[3 * pointStride]);
        }

        /// <summary>
        /// The 4x4 input block of tile <paramref name="tile"/> (zeros off the image), transformed:
        /// v[p * pointStride + c] = (Bᵀ d B)[p] for every channel, Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
        /// </summary>
        void TransformInput(int tile, int tilesH, int tilesW, T* v, long pointStride)
        {
            int c = _g.Channels, h = _g.Height, wd = _g.Width, vw = W.Count;
            int image = tile / (tilesH * tilesW), rest = tile % (tilesH * tilesW);
            int y0 = 2 * (rest / tilesW) - 1, x0 = 2 * (rest % tilesW) - 1;
            long row = (long)wd * c;
            T* origin = _x + (((long)image * h + y0) * wd + x0) * c;
            // Which of the block's rows and columns lie on the image (bit i: row / column i).
            int rowsIn = 0, colsIn = 0;
            for (int i = 0; i < 4; i++)
            {
                if (y0 + i >= 0 && y0 + i < h) rowsIn |= 1 << i;
                if (x0 + i >= 0 && x0 + i < wd) colsIn |= 1 << i;
            }
            for (int ch = 0; ch < c; ch += vw)
            {
                T* o = origin + ch;
                // Bᵀ d: combine the block's rows column by column, then each result row times B.
                Column(o, row, rowsIn, (colsIn & 1) != 0, out W t00, out W t10, out W t20, out W t30);
                Column(o + c, row, rowsIn, (colsIn & 2) != 0, out W t01, out W t11, out W t21, out W t31);
                Column(o + 2 * c, row, rowsIn, (colsIn & 4) != 0, out W t02, out W t12, out W t22, out W t32);
                Column(o + 3 * c, row, rowsIn, (colsIn & 8) != 0, out W t03, out W t13, out W t23, out W t33);
                T* dst = v + ch;
                StoreInputRow(t00, t01, t02, t03, dst, pointStride);
                StoreInputRow(t10, t11, t12, t13, dst + 4 * pointStride, pointStride);
                StoreInputRow(t20, t21, t22, t23, dst + 8 * pointStride, pointStride);
                StoreInputRow(t30, t31, t32, t33, dst + 12 * pointStride, pointStride);
            }
        }

        /// <summary>Bᵀ times one column of the block (rows 0-3 at p, p + row, ...; zeros for rows or a column off the image).</summary>
        static void Column(T* p, long row, int rowsIn, bool columnIn, out W a0, out W a1, out W a2, out W a3)
        {
            W d0 = W.Zero, d1 = W.Zero, d2 = W.Zero, d3 = W.Zero;
            if (columnIn)
            {
                if (rowsIn == 15)
                {
                    d0 = W.Load(ref *p); d1 = W.Load(ref p[row]); d2 = W.Load(ref p[2 * row]); d3 = W.Load(ref p[3 * row]);
                }
                else
                {
                    if ((rowsIn & 1) != 0) d0 = W.Load(ref *p);
                    if ((rowsIn & 2) != 0) d1 = W.Load(ref p[row]);
                    if ((rowsIn & 4) != 0) d2 = W.Load(ref p[2 * row]);
                    if ((rowsIn & 8) != 0) d3 = W.Load(ref p[3 * row]);
                }
            }
            a0 = d0 - d2; a1 = d1 + d2; a2 = d2 - d1; a3 = d1 - d3;
        }

        /// <summary>One row of Bᵀ d times B: its four points.</summary>
        static void StoreInputRow(W d0, W d1, W d2, W d3, T* dst, long pointStride)
        {
            W.Store(d0 - d2, ref *dst);
            W.Store(d1 + d2, ref dst[pointStride]);
            W.Store(d2 - d1, ref dst[2 * pointStride]);
            W.Store(d1 - d3, ref dst[3 * pointStride]);
        }

        /// <summary>
        /// The tile's 2x2 outputs from its 16 products m[p * pointStride + filter]: Aᵀ M A,
        /// Aᵀ = [1 1 1 0; 0 1 -1 -1], then the epilogue (accumulate, bias, relu); outputs off
        /// the image (odd sizes) are not written. Filters [j0, j1).
        /// </summary>
        void TransformOutput(int tile, int tilesH, int tilesW, T* m, long pointStride, int j0, int j1)
        {
            int f = _filters, h = _g.Height, wd = _g.Width, vw = W.Count;
            int image = tile / (tilesH * tilesW), rest = tile % (tilesH * tilesW);
            int oy = 2 * (rest / tilesW), ox = 2 * (rest % tilesW);
            bool down = oy + 1 < h, right = ox + 1 < wd;
            T* y00 = _y + (((long)image * h + oy) * wd + ox) * f;
            T* y01 = y00 + f, y10 = y00 + (long)wd * f, y11 = y10 + f;
            for (int j = j0; j < j1; j += vw)
            {
                // Along the columns of each row of M, then down.
                W s00, s01, s10, s11, s20, s21, s30, s31;
                Columns(m + j, pointStride, 0, out s00, out s01);
                Columns(m + j, pointStride, 1, out s10, out s11);
                Columns(m + j, pointStride, 2, out s20, out s21);
                Columns(m + j, pointStride, 3, out s30, out s31);
                W b = _bias == null ? W.Zero : W.Load(ref _bias[j]);
                Store(y00 + j, s00 + s10 + s20 + b);
                if (right) Store(y01 + j, s01 + s11 + s21 + b);
                if (down) Store(y10 + j, s10 - s20 - s30 + b);
                if (down && right) Store(y11 + j, s11 - s21 - s31 + b);
            }
        }

        static void Columns(T* m, long pointStride, int row, out W first, out W second)
        {
            W m0 = W.Load(ref m[(4 * row) * pointStride]), m1 = W.Load(ref m[(4 * row + 1) * pointStride]);
            W m2 = W.Load(ref m[(4 * row + 2) * pointStride]), m3 = W.Load(ref m[(4 * row + 3) * pointStride]);
            first = m0 + m1 + m2;
            second = m1 - m2 - m3;
        }

        void Store(T* to, W value)
        {
            if (_accumulate) value += W.Load(ref *to);
            if (_relu) value = W.Max(value, W.Zero);
            W.Store(value, ref *to);
        }
    }

    /// <summary>
    /// The weight gradient's A = V[p]ᵀ read where it lies: row r (a channel) at k (a tile) is
    /// V[p][tile][c0 + r], so a k-step moves one tile (C values) on, and B, dy's transformed
    /// values [tile][width], moves width values on: NR by the micro-kernel, the rest here.
    /// </summary>
    struct ChannelRows<T> : Gemm.IARows<T> where T : unmanaged
    {
        T* _p;
        readonly nint _stride, _skip;
        public ChannelRows(T* p, nint stride, nint skip) { _p = p; _stride = stride; _skip = skip; }
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public readonly T* At(int row) => _p + row;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public nint Next() { _p += _stride; return _skip; }
    }
}
