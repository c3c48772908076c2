using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engine.Kernels;

/// <summary>
/// General matrix multiply on row-major storage:
/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, where op(X) is X or its transpose.
/// In NHWC a 1x1 convolution is exactly this with A = activations [N*H*W, Cin] and
/// B = weights [Cin, Cout]; Dense is the same with A = [batch, in].
///
/// Goto/BLIS structure: B is packed KC x NC into NR-wide column panels (shared by the team),
/// A is packed MC x KC into MR-high row panels (per thread), and a register-tiled micro-kernel
/// keeps an MR x NR block of C in 2*MR vector registers while streaming the panels.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>Rows of C held in registers by the micro-kernel.</summary>
    public const int MR = 12;
    /// <summary>
    /// The deepest k-block. Each k-block costs every C tile a load and a store of its 24
    /// accumulators and the micro-kernel a fresh start; deeper blocks make B panels outgrow L1
    /// (144 KiB at 1152), which this core hides well. Measured against 256: 3x3 64->64
    /// forward 388-394 -> 412-420 GFLOP/s, 3x3 256->256 at 4x4 334-336 -> 389-398, the
    /// weight-gradient GEMM 64x256x7200 199-201 -> 273-286; 2304 and 4608 gained nothing more.
    /// </summary>
    const int KC = 1152;
    const int MC = 144;
    internal const int NC = 4096;
    /// <summary>
    /// From this many NR-wide column panels on, packing A is amortised over enough panels to
    /// beat reading it in place (measured: in place wins up to 2x at N &lt;= 256, packing wins
    /// 3-10% at N &gt;= 1024).
    /// </summary>
    internal const int PackAFromColumnPanels = 32;

    /// <summary>Columns of C held in registers: two vectors.</summary>
    public static int NR<T, W>() where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> => 2 * W.Count;

    /// <summary>
    /// C = alpha * op(A) * op(B) + beta * C. A is M x K (K x M stored when transA), leading
    /// dimension lda; B is K x N (N x K stored when transB), leading dimension ldb.
    /// beta = 0 overwrites C without reading it; beta = 1 accumulates (gradients).
    /// Uses 512-bit vectors where accelerated, 256-bit otherwise; the whole team of threads.
    /// </summary>
    public static void Multiply<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, ThreadTeam? team = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated)
            Multiply<T, V512<T>>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, team);
        else
            Multiply<T, V256<T>>(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, team);
    }

    /// <summary>The same as the general Multiply at an explicit vector width (tests use both).</summary>
    public static void Multiply<T, W>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc, ThreadTeam? team = null)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        CheckArguments(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c)
        {
            if (k == 0 || alpha == T.Zero)
            {
                ScaleC(m, n, beta, pc, ldc);
                return;
            }
            team ??= ThreadTeam.Shared;
            var job = GemmJob<T, W>.ForThisThread();
            job.EnsureMembers(team.Size);
            job.Set(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            team.Run(job, (long)m * n * k);
        }
    }

    /// <summary>
    /// Packs op(B) [k, n] once, in exactly the panels the multiply would build block by block,
    /// so many multiplications by the same B (a layer's weights, batch chunk after batch chunk)
    /// skip packing. <paramref name="reuse"/> is refilled when it is large enough.
    /// </summary>
    public static PackedMatrix<T> PackB<T>(bool transB, int k, int n, ReadOnlySpan<T> b, int ldb, PackedMatrix<T>? reuse = null)
        where T : unmanaged, IFloatingPointIeee754<T>
        => PackB(transB, k, n, b, ldb, reuse, V512<T>.IsHardwareAccelerated ? 2 * V512<T>.Count : 2 * V256<T>.Count);

    /// <summary>PackB for a micro-kernel of the given panel width (2 vectors of the width it runs at).</summary>
    internal static PackedMatrix<T> PackB<T>(bool transB, int k, int n, ReadOnlySpan<T> b, int ldb, PackedMatrix<T>? reuse, int nr)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k < 0 || n < 0) throw new ArgumentException($"negative size k={k} n={n}");
        CheckOperand("B", transB ? n : k, transB ? k : n, b.Length, ldb);
        int length = (int)Math.Min(int.MaxValue, (long)k * RoundUp(n, nr));
        var packed = reuse != null && reuse.Capacity >= length ? reuse : new PackedMatrix<T>(length);
        packed.Set(k, n, nr);
        int kBlock = KBlock(k);
        fixed (T* pb = b)
        {
            T* dst = packed.Pointer;
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc), panels = (nc + nr - 1) / nr;
                for (int pc = 0; pc < k; pc += kBlock)
                {
                    int kc = Math.Min(kBlock, k - pc);
                    PackBPanels(pb, ldb, transB, pc, jc, kc, nc, 0, panels, nr, dst + PackedOffset(k, nr, jc, pc, nc), (long)nr * kc);
                }
            }
        }
        return packed;
    }

    /// <summary>C = alpha * op(A) * B + beta * C with B packed by <see cref="PackB{T}(bool, int, int, ReadOnlySpan{T}, int, PackedMatrix{T})"/>; on the calling thread.</summary>
    public static void Multiply<T>(bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, PackedMatrix<T> b, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) MultiplyPacked<T, V512<T>>(transA, m, alpha, a, lda, b, beta, c, ldc);
        else MultiplyPacked<T, V256<T>>(transA, m, alpha, a, lda, b, beta, c, ldc);
    }

    static void MultiplyPacked<T, W>(bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, PackedMatrix<T> b, T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        if (b.Nr != 2 * W.Count) throw new ArgumentException("B was packed for another vector width");
        int n = b.Columns, k = b.Rows;
        // B was checked when it was packed.
        if (m < 0) throw new ArgumentException($"negative GEMM size m={m}");
        CheckOperand("A", transA ? k : m, transA ? m : k, a.Length, lda);
        CheckOperand("C", m, n, c.Length, ldc);
        if (m == 0 || n == 0) return;
        fixed (T* pa = a) fixed (T* pc = c)
        {
            if (k == 0 || alpha == T.Zero)
            {
                ScaleC(m, n, beta, pc, ldc);
                return;
            }
            var job = GemmJob<T, W>.ForThisThread();
            job.Set(transA, false, m, n, k, alpha, pa, lda, null, n, beta, pc, ldc);
            job.Prepacked = b.Pointer;
            try { job.Execute(0, 1, ThreadTeam.Solo); }
            finally { job.Prepacked = null; }
        }
    }

    /// <summary>Equal k-blocks of at most KC: 1600 as 2 x 800, not 1152 + 448, whose short last block would pay a whole tile load / store and packing pass for a fraction of the work.</summary>
    internal static int KBlock(int k)
    {
        int blocks = (k + KC - 1) / KC;
        return (k + blocks - 1) / blocks;
    }

    /// <summary>Where block (jc, pc) starts in a fully packed B: column blocks of K x NC one after another, k-blocks inside.</summary>
    internal static long PackedOffset(int k, int nr, int jc, int pc, int nc) => (long)jc * k + (long)pc * RoundUp(nc, nr);

    internal static void CheckArguments(bool transA, bool transB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"negative GEMM size m={m} n={n} k={k}");
        CheckOperand("A", transA ? k : m, transA ? m : k, aLength, lda);
        CheckOperand("B", transB ? n : k, transB ? k : n, bLength, ldb);
        CheckOperand("C", m, n, cLength, ldc);
    }

    /// <summary>A stored rows x cols with leading dimension ld fits in length elements.</summary>
    static void CheckOperand(string name, int rows, int cols, int length, int ld)
    {
        if (ld < Math.Max(1, cols)) throw new ArgumentException($"leading dimension of {name} too small: {ld} for {cols} columns");
        if (rows > 0 && cols > 0 && (long)(rows - 1) * ld + cols > length)
            throw new ArgumentException($"{name} is too short for its shape: {length} elements for {rows} x {cols} with leading dimension {ld}");
    }

    static void ScaleC<T>(int m, int n, T beta, T* c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (beta == T.One) return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<T>(c + (long)i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>
    /// Plain triple loop, the definition the fast path is held to. Accumulates in T.
    /// </summary>
    public static void MultiplyReference<T>(bool transA, bool transB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        T beta, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckArguments(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T av = transA ? a[p * lda + i] : a[i * lda + p];
                    T bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }
                T old = beta == T.Zero ? T.Zero : beta * c[i * ldc + j];
                c[i * ldc + j] = alpha * sum + old;
            }
    }

    /// <summary>One GEMM call's arguments plus the packing buffers, reused call after call.</summary>
    sealed class GemmJob<T, W> : TeamJob
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        [ThreadStatic] static GemmJob<T, W>? _forThread;
        public static GemmJob<T, W> ForThisThread() => _forThread ??= new GemmJob<T, W>();

        bool _transA, _transB, _directA;
        int _m, _n, _k, _lda, _ldb, _ldc;
        T _alpha, _beta;
        T* _a, _b, _c;

        /// <summary>A B packed ahead by PackB (then no packing and no shared-buffer barriers), or null.</summary>
        public T* Prepacked;

        // Packed B is shared by the team when it splits C's columns; each member packs its own A
        // block, and its own copy of B when the team splits rows.
        NativeBuffer<T>? _packedB;
        NativeBuffer<T>?[] _packedA = new NativeBuffer<T>[1], _privateB = new NativeBuffer<T>[1];
        T* _packedBData;

        /// <summary>One packing buffer slot per team member (the calling thread sizes it, before the job runs).</summary>
        public void EnsureMembers(int members)
        {
            if (_packedA.Length < members) Array.Resize(ref _packedA, members);
            if (_privateB.Length < members) Array.Resize(ref _privateB, members);
        }

        public void Set(bool transA, bool transB, int m, int n, int k, T alpha, T* a, int lda,
            T* b, int ldb, T beta, T* c, int ldc)
        {
            _transA = transA; _transB = transB; _m = m; _n = n; _k = k; _alpha = alpha; _beta = beta;
            _a = a; _lda = lda; _b = b; _ldb = ldb; _c = c; _ldc = ldc;
            _directA = !transA && alpha == T.One;
            // The shared B block, sized here on the calling thread before the team starts: room
            // for every member's own run of whole-depth panels (see Execute), at most members - 1
            // panels more than the widest column block has.
            int nr = 2 * W.Count, members = _packedA.Length;
            _packedBData = b == null ? null : ThreadScratch.Get(ref _packedB, (long)KBlock(k) * nr * ((Math.Min(NC, n) + nr - 1) / nr + members - 1));
        }

        T* PackedA(int thread)
        {
            return ThreadScratch.Get(ref _packedA[thread], RoundUp(MC, MR) * KBlock(_k));
        }

        public override void Execute(int thread, int threads, ThreadTeam team)
        {
            int nr = 2 * W.Count;
            T* packedB = _packedBData;
            T* packedA = PackedA(thread);

            bool splitRows = SplitRows(_m, _n, threads);
            // Split by rows, each member packs all of B's k-block for itself and never waits:
            // reading panels the other core just wrote, after a barrier, cost more than packing
            // them twice. Split by columns, each packs and then reads only its own panels.
            bool privateB = Prepacked == null && splitRows && threads > 1;
            if (privateB) packedB = ThreadScratch.Get(ref _privateB[thread], KBlock(_k) * RoundUp(Math.Min(NC, _n), nr));
            // Split by columns, the members pack into one shared buffer without waiting for each
            // other, so one may still be on an earlier k-block (or column block) while another
            // packs the next, whose last k-block is shallower and whose column share may differ:
            // panels placed by the current kc and panel index would then overlap another
            // member's. Each member therefore packs into its own run of the buffer, its panels a
            // full k-block deep apart.
            long kBlockPanel = (long)nr * KBlock(_k);
            bool sharedB = Prepacked == null && !privateB;
            int widestShare = ((Math.Min(NC, _n) + nr - 1) / nr + threads - 1) / threads;
            if (sharedB) packedB += thread * widestShare * kBlockPanel;

            for (int jc = 0; jc < _n; jc += NC)
            {
                int nc = Math.Min(NC, _n - jc);
                int colPanels = (nc + nr - 1) / nr;
                int kBlock = KBlock(_k);
                for (int pc = 0; pc < _k; pc += kBlock)
                {
                    int kc = Math.Min(kBlock, _k - pc);
                    bool accumulate = pc > 0 || _beta != T.Zero;
                    if (pc == 0 && _beta != T.Zero && _beta != T.One)
                    {
                        // Members wait for nobody: each scales exactly the block of C it computes.
                        if (splitRows) ScaleBlock(ShareRowPanels(_m, thread, threads), jc, nc);
                        else
                        {
                            (int q0, int q1) = Share(colPanels, thread, threads);
                            ScaleBlock((0, _m), jc + q0 * nr, Math.Min(nc, q1 * nr) - q0 * nr);
                        }
                    }

                    if (Prepacked != null) packedB = Prepacked + PackedOffset(_k, nr, jc, pc, nc);
                    else if (privateB) PackBPanels(_b, _ldb, _transB, pc, jc, kc, nc, 0, colPanels, nr, packedB, (long)nr * kc);
                    else
                    {
                        (int p0, int p1) = Share(colPanels, thread, threads);
                        PackBPanels(_b, _ldb, _transB, pc, jc, kc, nc, p0, p1, nr, packedB, kBlockPanel);
                    }

                    int rowStart, rowEnd, panelStart, panelEnd;
                    if (splitRows)
                    {
                        (rowStart, rowEnd) = ShareRowPanels(_m, thread, threads);
                        panelStart = 0; panelEnd = colPanels;
                    }
                    else
                    {
                        rowStart = 0; rowEnd = _m;
                        (panelStart, panelEnd) = Share(colPanels, thread, threads);
                    }

                    for (int ic = rowStart; ic < rowEnd; ic += MC)
                    {
                        int mc = Math.Min(MC, rowEnd - ic);
                        if (panelStart >= panelEnd) break;
                        // With few column panels, full row panels of row-major A are read in place
                        // (packing would cost as much as the math); a partial last panel, a
                        // transposed or scaled A, and wide C (where packing pays for itself and
                        // avoids power-of-two stride conflicts) go through packing.
                        int directRows = _directA && colPanels < PackAFromColumnPanels ? mc / MR * MR : 0;
                        if (directRows < mc)
                            PackA(_a, _lda, _transA, ic + directRows, pc, mc - directRows, kc, _alpha, packedA);
                        for (int jp = panelStart; jp < panelEnd; jp++)
                        {
                            int jr = jp * nr;
                            int nrEff = Math.Min(nr, nc - jr);
                            T* bPanel = sharedB ? packedB + (jp - panelStart) * kBlockPanel : packedB + (long)jp * nr * kc;
                            for (int ir = 0; ir < mc; ir += MR)
                            {
                                int mrEff = Math.Min(MR, mc - ir);
                                T* cTile = _c + (long)(ic + ir) * _ldc + jc + jr;
                                if (ir < directRows)
                                    Tile<T, W, StridedRows<T>>(new StridedRows<T>(_a + (long)(ic + ir) * _lda + pc, _lda), kc, bPanel, cTile, _ldc, mrEff, nrEff, accumulate);
                                else
                                    Tile<T, W, PackedRows<T>>(new PackedRows<T>(packedA + (long)(ir - directRows) * kc), kc, bPanel, cTile, _ldc, mrEff, nrEff, accumulate);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Split C's rows between the members when there are enough MR panels for each and B
        /// has no more columns than A has rows; otherwise split the NR column panels. By rows,
        /// every member packs all of B (k x n); by columns, every member reads all of A (m x k)
        /// but packs only its share of B: at the late stages' m = 128 rows and n up to 2048,
        /// packing B twice cost as much as the products (input gradient of a 1x1 2048->512 layer
        /// at 2x2, batch 32: 0.89-1.10 ms by rows).
        /// </summary>
        internal static bool SplitRows(int m, int n, int threads)
        {
            int rowPanels = (m + MR - 1) / MR;
            return rowPanels >= 4 * threads && (n <= m || n < 2 * threads * 2 * W.Count);
        }

        /// <summary>C[rows, j0 .. j0 + width) *= beta.</summary>
        void ScaleBlock((int Start, int End) rows, int j0, int width)
        {
            for (int i = rows.Start; i < rows.End; i++)
            {
                T* row = _c + (long)i * _ldc + j0;
                for (int j = 0; j < width; j++) row[j] *= _beta;
            }
        }
    }

    /// <summary>
    /// One MR x NR tile of C (+)= A * B panel, then + bias and max(., 0) when asked (the
    /// epilogue runs on the registers, so a convolution's bias and ReLU cost no extra pass).
    /// Partial tiles go through a scratch tile. bias, when not null, holds NR readable values.
    /// </summary>
    [SkipLocalsInit] // the scratch tile is fully written by the micro-kernel before it is read
    internal static void Tile<T, W, TA>(in TA a, int kc, T* b, T* c, int ldc, int mr, int nr, bool accumulate, T* bias = null, bool relu = false)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TA : struct, IARows<T>
    {
        int fullNr = 2 * W.Count;
        if (mr == MR && nr == fullNr)
        {
            MicroKernel<T, W, TA, StridedRowsOfC<T>>(kc, in a, b, new StridedRowsOfC<T>(c, ldc), accumulate, bias, relu);
            return;
        }
        T* tile = stackalloc T[MR * fullNr];
        MicroKernel<T, W, TA, StridedRowsOfC<T>>(kc, in a, b, new StridedRowsOfC<T>(tile, fullNr), false, null, false);
        for (int i = 0; i < mr; i++) StoreRowValues(tile + i * fullNr, c + (long)i * ldc, nr, accumulate, bias, relu);
    }

    /// <summary>
    /// The tile epilogue value by value, for rows narrower than a panel: to[j] = (to[j] when
    /// accumulating) + from[j] + bias[j], then max(., 0) when relu, for j below width.
    /// </summary>
    internal static void StoreRowValues<T>(T* from, T* to, int width, bool accumulate, T* bias, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = 0; j < width; j++)
        {
            T v = from[j];
            if (accumulate) v += to[j];
            if (bias != null) v += bias[j];
            if (relu && !(v > T.Zero)) v = T.Zero;
            to[j] = v;
        }
    }

    /// <summary>Part <paramref name="index"/> of <paramref name="rows"/> rows cut into whole MR-row panels: its first and end row.</summary>
    internal static (int Start, int End) ShareRowPanels(int rows, int index, int parts)
    {
        (int p0, int p1) = Share((rows + MR - 1) / MR, index, parts);
        return (p0 * MR, Math.Min(rows, p1 * MR));
    }

    internal static (int Start, int End) Share(int count, int index, int parts)
    {
        long start = (long)count * index / parts, end = (long)count * (index + 1) / parts;
        return ((int)start, (int)end);
    }

    internal static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>
    /// Packs op(B)[pc:pc+kc, jc:jc+nc] panels p0..p1, each [k][nr], panel p at
    /// first + (p - p0) * stride, zero-padding the last panel so the micro-kernel never needs a
    /// column tail.
    /// </summary>
    static void PackBPanels<T>(T* b, int ldb, bool transB, int pc, int jc, int kc, int nc, int p0, int p1, int nr, T* first, long stride)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int p = p0; p < p1; p++)
        {
            int j0 = jc + p * nr;
            int width = Math.Min(nr, nc - p * nr);
            T* dst = first + (p - p0) * stride;
            if (!transB) PackPanelRows(b + (long)pc * ldb + j0, ldb, kc, width, nr, dst);
            else PackPanelColumns(b + (long)j0 * ldb + pc, ldb, kc, width, nr, dst); // op(B)[k, j] = B[j, k]
        }
    }

    /// <summary>
    /// One panel [k][nr] from the transpose of a row-major source: panel[kk, j] =
    /// source[j * ld + kk] for the <paramref name="width"/> real columns, zero beyond. Float
    /// panels of two 16-wide vectors go through 16 x 16 register transposes (16 row loads, 64
    /// shuffles, 16 row stores); element by element, every store lands on a different cache line.
    /// </summary>
    internal static void PackPanelColumns<T>(T* source, long ld, int kc, int width, int nr, T* panel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int kk = 0;
        if (typeof(T) == typeof(float) && Avx512F.IsSupported && nr == 32 && width == 32)
            for (; kk + 16 <= kc; kk += 16)
            {
                Transpose16((float*)source + kk, ld, (float*)panel + kk * 32, 32);
                Transpose16((float*)source + 16 * ld + kk, ld, (float*)panel + kk * 32 + 16, 32);
            }
        PackPanelColumnsReference(source + kk, ld, kc - kk, width, nr, panel + (long)kk * nr);
    }

    /// <summary>The transposing panel packer element by element (the reference, and the fast one's tail).</summary>
    internal static void PackPanelColumnsReference<T>(T* source, long ld, int kc, int width, int nr, T* panel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int kk = 0; kk < kc; kk++)
        {
            T* d = panel + (long)kk * nr;
            for (int j = 0; j < width; j++) d[j] = source[j * ld + kk];
            for (int j = width; j < nr; j++) d[j] = T.Zero;
        }
    }

    /// <summary>
    /// destination[i * ldd + r] = source[r * lds + i] for a 16 x 16 float block: interleave
    /// pairs of rows (32-bit), then pairs of pairs (64-bit), leaving each 128-bit lane with a
    /// 4 x 4 block transposed; two 128-bit lane shuffles then gather each column's four lanes.
    /// </summary>
    static void Transpose16(float* source, long lds, float* destination, long ldd)
    {
        var r = stackalloc Vector512<float>[16];
        for (int i = 0; i < 16; i += 2)
        {
            var a = Vector512.Load(source + i * lds);
            var b = Vector512.Load(source + (i + 1) * lds);
            r[i] = Avx512F.UnpackLow(a, b);
            r[i + 1] = Avx512F.UnpackHigh(a, b);
        }
        // After this, u[4g + m] holds rows 4g..4g+3 of columns 4L + m in its lane L.
        var u = stackalloc Vector512<float>[16];
        for (int g = 0; g < 4; g++)
        {
            Vector512<double> lo0 = r[4 * g].AsDouble(), hi0 = r[4 * g + 1].AsDouble();
            Vector512<double> lo1 = r[4 * g + 2].AsDouble(), hi1 = r[4 * g + 3].AsDouble();
            u[4 * g] = Avx512F.UnpackLow(lo0, lo1).AsSingle();
            u[4 * g + 1] = Avx512F.UnpackHigh(lo0, lo1).AsSingle();
            u[4 * g + 2] = Avx512F.UnpackLow(hi0, hi1).AsSingle();
            u[4 * g + 3] = Avx512F.UnpackHigh(hi0, hi1).AsSingle();
        }
        for (int m = 0; m < 4; m++)
        {
            var v0 = Avx512F.Shuffle4x128(u[m], u[4 + m], 0x44);
            var w0 = Avx512F.Shuffle4x128(u[m], u[4 + m], 0xEE);
            var v1 = Avx512F.Shuffle4x128(u[8 + m], u[12 + m], 0x44);
            var w1 = Avx512F.Shuffle4x128(u[8 + m], u[12 + m], 0xEE);
            Avx512F.Shuffle4x128(v0, v1, 0x88).Store(destination + m * ldd);
            Avx512F.Shuffle4x128(v0, v1, 0xDD).Store(destination + (4 + m) * ldd);
            Avx512F.Shuffle4x128(w0, w1, 0x88).Store(destination + (8 + m) * ldd);
            Avx512F.Shuffle4x128(w0, w1, 0xDD).Store(destination + (12 + m) * ldd);
        }
    }

    /// <summary>
    /// One panel [k][nr] from kc rows of a row-major source (row stride <paramref name="ld"/>),
    /// of which <paramref name="width"/> columns are real and the rest zero. A full panel row is
    /// one fixed-size copy (two vectors), which the JIT unrolls: a copy call per row cost more
    /// than the copy.
    /// </summary>
    internal static void PackPanelRows<T>(T* source, long ld, int kc, int width, int nr, T* panel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rowBytes = nr * sizeof(T);
        if (width == nr && rowBytes == 128)
        {
            for (int kk = 0; kk < kc; kk++, source += ld) Unsafe.CopyBlockUnaligned(panel + kk * nr, source, 128);
            return;
        }
        if (width == nr && rowBytes == 64)
        {
            for (int kk = 0; kk < kc; kk++, source += ld) Unsafe.CopyBlockUnaligned(panel + kk * nr, source, 64);
            return;
        }
        for (int kk = 0; kk < kc; kk++, source += ld)
        {
            T* d = panel + kk * nr;
            for (int j = 0; j < width; j++) d[j] = source[j];
            for (int j = width; j < nr; j++) d[j] = T.Zero;
        }
    }

    /// <summary>
    /// Packs alpha * op(A)[ic:ic+mc, pc:pc+kc] into [panel][k][MR], zero-padding the last panel.
    /// </summary>
    static void PackA<T>(T* a, int lda, bool transA, int ic, int pc, int mc, int kc, T alpha, T* packed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool scale = alpha != T.One;
        for (int ir = 0; ir < mc; ir += MR)
        {
            int height = Math.Min(MR, mc - ir);
            T* dst = packed + (long)ir * kc;
            if (transA)
            {
                // op(A)[i, k] = A[k, i]: MR consecutive values per k.
                if (height == MR && !scale)
                {
                    // The common case (dW = X^T dY) as one fixed-size copy per k, which the JIT
                    // unrolls into vector moves.
                    for (int kk = 0; kk < kc; kk++)
                        Unsafe.CopyBlockUnaligned(dst + kk * MR, a + (long)(pc + kk) * lda + ic + ir, (uint)(MR * sizeof(T)));
                    continue;
                }
                for (int kk = 0; kk < kc; kk++)
                {
                    T* src = a + (long)(pc + kk) * lda + ic + ir;
                    T* d = dst + kk * MR;
                    int i = 0;
                    for (; i < height; i++) d[i] = scale ? alpha * src[i] : src[i];
                    for (; i < MR; i++) d[i] = T.Zero;
                }
            }
            else
            {
                for (int i = 0; i < height; i++)
                {
                    T* src = a + (long)(ic + ir + i) * lda + pc;
                    for (int kk = 0; kk < kc; kk++) dst[kk * MR + i] = scale ? alpha * src[kk] : src[kk];
                }
                for (int i = height; i < MR; i++)
                    for (int kk = 0; kk < kc; kk++) dst[kk * MR + i] = T.Zero;
            }
        }
    }

    /// <summary>How the micro-kernel reads the MR values of A for one k.</summary>
    /// <remarks>
    /// Rows hand out an address, not a value: the micro-kernel dereferences it inside the
    /// broadcast, so the JIT folds the load into one broadcast-from-memory instruction. A value
    /// returned through a switch reaches the broadcast as a temporary instead, and costs a
    /// scalar load plus a register shuffle that competes with the FMAs for their ports.
    /// </remarks>
    internal interface IARows<T> where T : unmanaged
    {
        /// <summary>Where op(A)[row, current k] is; row is a constant after inlining.</summary>
        T* At(int row);
        /// <summary>
        /// Moves to the next k; returns how many values of the B panel to skip beyond the
        /// next row (0 unless the reader leaves out k-rows, as a convolution does for taps
        /// that fall on padding).
        /// </summary>
        nint Next();
    }

    /// <summary>A packed as [k][MR]: the 12 values of one k are adjacent.</summary>
    internal struct PackedRows<T> : IARows<T> where T : unmanaged
    {
        T* _p;
        public PackedRows(T* p) => _p = p;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public readonly T* At(int row) => _p + row;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public nint Next() { _p += MR; return 0; }
    }

    /// <summary>
    /// Row-major A read where it lies (no packing): row r is at r*lda. Four base pointers and
    /// two scaled strides address all twelve rows, so the loop needs only six registers.
    /// </summary>
    internal struct StridedRows<T> : IARows<T> where T : unmanaged
    {
        T* _p0, _p3, _p6, _p9;
        readonly nint _s1, _s2;
        public StridedRows(T* p, nint lda)
        {
            _p0 = p; _p3 = p + 3 * lda; _p6 = p + 6 * lda; _p9 = p + 9 * lda;
            _s1 = lda; _s2 = 2 * lda;
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly T* At(int row)
        {
            T* b = (row / 3) switch { 0 => _p0, 1 => _p3, 2 => _p6, _ => _p9 };
            return b + (row % 3) switch { 0 => 0, 1 => _s1, _ => _s2 };
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public nint Next() { _p0++; _p3++; _p6++; _p9++; return 0; }
    }

    /// <summary>
    /// C[MR, 2 vectors] (+)= A[MR, kc] * packedB[kc, 2 vectors]. 24 accumulators, two B
    /// vectors and one broadcast: 27 of the 32 AVX-512 registers, so nothing spills.
    /// </summary>
    /// <remarks>
    /// The reader comes by reference and is copied here field by field. Passed by value (more
    /// than 16 bytes, so on the stack), the caller built it with 8-byte stores and then copied
    /// it into the argument area with 16-byte loads, which cannot be forwarded from two stores:
    /// each tile started by waiting for those stores to reach the cache, 4-6% of a tile with
    /// 64 k-steps (measured on a copy of this kernel, 199 vs 205-211 GFLOP/s on one core).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MicroKernel<T, W, TA, TC>(int kc, in TA reader, T* b, in TC c, bool accumulate, T* bias, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TA : struct, IARows<T> where TC : struct, ICRows<T>
    {
        TA a = reader;
        int vw = W.Count;
        W c00 = W.Zero, c01 = W.Zero, c10 = W.Zero, c11 = W.Zero, c20 = W.Zero, c21 = W.Zero;
        W c30 = W.Zero, c31 = W.Zero, c40 = W.Zero, c41 = W.Zero, c50 = W.Zero, c51 = W.Zero;
        W c60 = W.Zero, c61 = W.Zero, c70 = W.Zero, c71 = W.Zero, c80 = W.Zero, c81 = W.Zero;
        W c90 = W.Zero, c91 = W.Zero, cA0 = W.Zero, cA1 = W.Zero, cB0 = W.Zero, cB1 = W.Zero;
        for (int p = 0; p < kc; p++)
        {
            W b0 = W.Load(ref *b), b1 = W.Load(ref b[vw]);
            W x;
            x = W.Broadcast(*a.At(0)); c00 = W.MultiplyAdd(x, b0, c00); c01 = W.MultiplyAdd(x, b1, c01);
            x = W.Broadcast(*a.At(1)); c10 = W.MultiplyAdd(x, b0, c10); c11 = W.MultiplyAdd(x, b1, c11);
            x = W.Broadcast(*a.At(2)); c20 = W.MultiplyAdd(x, b0, c20); c21 = W.MultiplyAdd(x, b1, c21);
            x = W.Broadcast(*a.At(3)); c30 = W.MultiplyAdd(x, b0, c30); c31 = W.MultiplyAdd(x, b1, c31);
            x = W.Broadcast(*a.At(4)); c40 = W.MultiplyAdd(x, b0, c40); c41 = W.MultiplyAdd(x, b1, c41);
            x = W.Broadcast(*a.At(5)); c50 = W.MultiplyAdd(x, b0, c50); c51 = W.MultiplyAdd(x, b1, c51);
            x = W.Broadcast(*a.At(6)); c60 = W.MultiplyAdd(x, b0, c60); c61 = W.MultiplyAdd(x, b1, c61);
            x = W.Broadcast(*a.At(7)); c70 = W.MultiplyAdd(x, b0, c70); c71 = W.MultiplyAdd(x, b1, c71);
            x = W.Broadcast(*a.At(8)); c80 = W.MultiplyAdd(x, b0, c80); c81 = W.MultiplyAdd(x, b1, c81);
            x = W.Broadcast(*a.At(9)); c90 = W.MultiplyAdd(x, b0, c90); c91 = W.MultiplyAdd(x, b1, c91);
            x = W.Broadcast(*a.At(10)); cA0 = W.MultiplyAdd(x, b0, cA0); cA1 = W.MultiplyAdd(x, b1, cA1);
            x = W.Broadcast(*a.At(11)); cB0 = W.MultiplyAdd(x, b0, cB0); cB1 = W.MultiplyAdd(x, b1, cB1);
            b += 2 * vw + a.Next();
        }
        W bl = W.Zero, bh = W.Zero;
        if (bias != null) { bl = W.Load(ref *bias); bh = W.Load(ref bias[vw]); }
        StoreRow(c.Row(0), vw, c00, c01, bl, bh, accumulate, relu);
        StoreRow(c.Row(1), vw, c10, c11, bl, bh, accumulate, relu);
        StoreRow(c.Row(2), vw, c20, c21, bl, bh, accumulate, relu);
        StoreRow(c.Row(3), vw, c30, c31, bl, bh, accumulate, relu);
        StoreRow(c.Row(4), vw, c40, c41, bl, bh, accumulate, relu);
        StoreRow(c.Row(5), vw, c50, c51, bl, bh, accumulate, relu);
        StoreRow(c.Row(6), vw, c60, c61, bl, bh, accumulate, relu);
        StoreRow(c.Row(7), vw, c70, c71, bl, bh, accumulate, relu);
        StoreRow(c.Row(8), vw, c80, c81, bl, bh, accumulate, relu);
        StoreRow(c.Row(9), vw, c90, c91, bl, bh, accumulate, relu);
        StoreRow(c.Row(10), vw, cA0, cA1, bl, bh, accumulate, relu);
        StoreRow(c.Row(11), vw, cB0, cB1, bl, bh, accumulate, relu);
    }

    /// <summary>Where the micro-kernel stores the MR rows of its tile (NR values each).</summary>
    internal interface ICRows<T> where T : unmanaged
    {
        /// <summary>Where row <paramref name="row"/> of the tile goes; row is a constant after inlining.</summary>
        T* Row(int row);
    }

    /// <summary>Rows ldc values apart from c: a block of a row-major matrix.</summary>
    internal readonly struct StridedRowsOfC<T>(T* c, int ldc) : ICRows<T> where T : unmanaged
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public T* Row(int row) => c + (nint)row * ldc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow<T, W>(T* c, int vw, W lo, W hi, W biasLo, W biasHi, bool accumulate, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        if (accumulate)
        {
            lo += W.Load(ref *c);
            hi += W.Load(ref c[vw]);
        }
        lo += biasLo;
        hi += biasHi;
        if (relu)
        {
            lo = W.Max(lo, W.Zero);
            hi = W.Max(hi, W.Zero);
        }
        W.Store(lo, ref *c);
        W.Store(hi, ref c[vw]);
    }
}

/// <summary>op(B) packed into GEMM panels by <see cref="Gemm.PackB{T}(bool, int, int, ReadOnlySpan{T}, int, PackedMatrix{T})"/>, reusable across calls.</summary>
public sealed unsafe class PackedMatrix<T> where T : unmanaged
{
    readonly T[] _data;

    internal PackedMatrix(int capacity) => _data = GC.AllocateUninitializedArray<T>(Math.Max(1, capacity) + 64, pinned: true);

    internal int Capacity => _data.Length - 64;
    /// <summary>Cache-line aligned, like the multiply's own packing buffer.</summary>
    internal T* Pointer => CacheLine.Align((T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_data)));
    /// <summary>K: rows of op(B).</summary>
    public int Rows { get; private set; }
    /// <summary>N: columns of op(B).</summary>
    public int Columns { get; private set; }
    internal int Nr { get; private set; }

    internal void Set(int rows, int columns, int nr) => (Rows, Columns, Nr) = (rows, columns, nr);
}
