// Matrix products on one tile engine: the dense GEMM C = alpha * op(A) op(B) + beta * C, and
// the convolutions as implicit GEMMs whose window operand is gathered from the image as it is
// loaded (forward, input gradient, weight gradient). They share this file so that the tile
// engine is one copy compiled into one module; the helpers every source uses (packs, fma_t)
// come from common.cuh, which NVRTC is given as an in-memory header.
//
// The engine: a block computes a BM x BN tile of the output, stepping through the depth BK at a
// time. Each step's operand tiles are staged in shared memory k-major (row k holds the tile's
// BM or BN values at depth k), double-buffered: while the block multiplies one buffer, each
// thread already holds its share of the next step's tiles in registers, and stores them into
// the other buffer afterwards, so one barrier per step suffices. Each thread owns a TM x TN
// micro-tile in registers: per depth step it reads TM values of A and TN of B from shared
// memory (as 4-wide vectors) for TM * TN fused multiply-adds.
//
// Operand loaders read global memory in 16-byte packs (4 floats or 2 doubles) where the
// layout and the pointer allow it, so a warp's loads are whole 32-byte sectors; otherwise
// element by element with bounds tests. A row beyond the output or a depth beyond the end
// loads zeros, so partial tiles need no special case in the multiply.
//
// Split-K: a launch with gridDim.z > 1 gives each z its own kPerSplit-deep share of the depth
// and writes the raw sums to partial + z * slice, where slice is the output's length (laid
// out as the output; the strided input gradient's leave out what no tap reaches, see
// rows_with_taps_before). gemm_splitk_reduce (conv_backward_input_reduce) then adds the
// partials in z order (reproducible, no atomics) and applies the epilogue. Small outputs with deep sums (a late layer's weight
// gradient) get enough blocks to fill the GPU this way.
//
// Epilogue (applied once per output element): v = alpha * acc, times scale[col] when scale is
// given, plus bias[col] when given, plus beta * old when beta != 0 (beta == 0 never reads the
// output, which may hold garbage), then max(v, 0) when relu.

#include "common.cuh"

// Four consecutive values from / to 16-byte-aligned memory.
__device__ __forceinline__ void load4(const float* p, float* d)
{
    float4 v = *reinterpret_cast<const float4*>(p);
    d[0] = v.x; d[1] = v.y; d[2] = v.z; d[3] = v.w;
}
__device__ __forceinline__ void load4(const double* p, double* d)
{
    double2 a = reinterpret_cast<const double2*>(p)[0], b = reinterpret_cast<const double2*>(p)[1];
    d[0] = a.x; d[1] = a.y; d[2] = b.x; d[3] = b.y;
}
__device__ __forceinline__ void store4(float* p, const float* s) { *reinterpret_cast<float4*>(p) = make_float4(s[0], s[1], s[2], s[3]); }
__device__ __forceinline__ void store4(double* p, const double* s)
{
    reinterpret_cast<double2*>(p)[0] = make_double2(s[0], s[1]);
    reinterpret_cast<double2*>(p)[1] = make_double2(s[2], s[3]);
}

// ---- tile shapes -----------------------------------------------------------------------------

template <int BM_, int BN_, int BK_, int TM_, int TN_> struct Tiling
{
    static const int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
    static const int THREADS = (BM / TM) * (BN / TN);
    // Shared rows padded by 4: transposing stores then spread over the banks, and rows stay 16-byte aligned.
    static const int LDA = BM + 4, LDB = BN + 4;
    static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tiles are read as 4-wide vectors");
};

// Large outputs: 8x8 per thread, 64 FMAs per 16 shared-memory values read.
typedef Tiling<128, 128, 8, 8, 8> TileL;
// Tall outputs: twice the blocks of the large tile where a large one would not fill the GPU.
typedef Tiling<128, 64, 8, 8, 4> TileW;
// Small outputs: more, smaller blocks, deeper steps.
typedef Tiling<64, 64, 16, 4, 4> TileM;

// Where thread tid's l-th pack of an operand tile lies: the tile is BO (output rows or
// columns: "outer") by BK (depth), staged in shared memory as S[k * (BO + 4) + o].
// A k-contiguous operand (consecutive depth adjacent in memory) is read in packs along k;
// an outer-contiguous one in packs along the outer index.
template <typename T, int BO, int BK, int THREADS> struct Staging
{
    static const int L = Pack<T>::Lanes;
    static const int PACKS = BO * BK / L;
    static const int LOADS = (PACKS + THREADS - 1) / THREADS;
    static const int LD = BO + 4;
    static_assert(BK % L == 0 && BO % L == 0, "tiles hold whole packs");
    // Outer-contiguous packs keep the same outer index across a thread's loads (its
    // precomputed per-column state stays valid): the thread count is a multiple of a row's packs.
    static_assert(THREADS % (BO / L) == 0, "outer-contiguous packs keep their column");

    __device__ static bool active(int idx) { return PACKS % THREADS == 0 || idx < PACKS; }
    __device__ static int kcOuter(int idx) { return idx / (BK / L); }
    __device__ static int kcDepth(int idx) { return idx % (BK / L) * L; }
    __device__ static int ocDepth(int idx) { return idx / (BO / L); }
    __device__ static int ocOuter(int idx) { return idx % (BO / L) * L; }

    // Registers -> shared tile, packs along k: a transposing store.
    __device__ static void storeKc(T* s, const T (&r)[LOADS][L], int tid)
    {
#pragma unroll
        for (int l = 0; l < LOADS; l++)
        {
            int idx = tid + l * THREADS;
            if (!active(idx)) continue;
            int o = kcOuter(idx), k = kcDepth(idx);
#pragma unroll
            for (int v = 0; v < L; v++) s[(k + v) * LD + o] = r[l][v];
        }
    }

    // Registers -> shared tile, packs along the outer index: one 16-byte store each.
    __device__ static void storeOc(T* s, const T (&r)[LOADS][L], int tid)
    {
#pragma unroll
        for (int l = 0; l < LOADS; l++)
        {
            int idx = tid + l * THREADS;
            if (!active(idx)) continue;
            Pack<T> p;
#pragma unroll
            for (int v = 0; v < L; v++) p.v[v] = r[l][v];
            *reinterpret_cast<Pack<T>*>(s + ocDepth(idx) * LD + ocOuter(idx)) = p;
        }
    }
};

template <typename T, int L> __device__ __forceinline__ void zero(T (&r)[L])
{
#pragma unroll
    for (int v = 0; v < L; v++) r[v] = T(0);
}

template <typename T, int L> __device__ __forceinline__ void loadPack(T (&r)[L], const T* p)
{
    Pack<T> q = *reinterpret_cast<const Pack<T>*>(p);
#pragma unroll
    for (int v = 0; v < L; v++) r[v] = q.v[v];
}

// ---- the multiply ----------------------------------------------------------------------------

// acc (+)= the block's tile of op(A) op(B) over depth [kBegin, kEnd). The loaders provide
// fetch(k0, kEnd) (global -> registers, zeros outside) and store(shared tile).
template <typename T, class TL, class OpA, class OpB>
__device__ __forceinline__ void multiply_tile(OpA& a, OpB& b, int kBegin, int kEnd, T (&acc)[TL::TM][TL::TN])
{
    const int BM = TL::BM, BN = TL::BN, BK = TL::BK, TM = TL::TM, TN = TL::TN;
    __shared__ __align__(16) T sa[2][BK * TL::LDA];
    __shared__ __align__(16) T sb[2][BK * TL::LDB];
    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    int steps = kEnd > kBegin ? (kEnd - kBegin + BK - 1) / BK : 0;
    if (steps == 0) return;
    a.fetch(kBegin, kEnd);
    b.fetch(kBegin, kEnd);
    a.store(sa[0]);
    b.store(sb[0]);
    __syncthreads();
    for (int s = 0; s < steps; s++)
    {
        const int cur = s & 1;
        const bool more = s + 1 < steps;
        if (more)
        {
            a.fetch(kBegin + (s + 1) * BK, kEnd);
            b.fetch(kBegin + (s + 1) * BK, kEnd);
        }
        const T* as = sa[cur];
        const T* bs = sb[cur];
#pragma unroll
        for (int kk = 0; kk < BK; kk++)
        {
            T af[TM], bf[TN];
            // A thread's rows come in groups of 4, BM / (TM / 4) apart, so the 16 threads
            // of a half-warp read 16 adjacent vectors (no bank conflicts) rather than strided ones.
#pragma unroll
            for (int g = 0; g < TM / 4; g++) load4(as + kk * TL::LDA + g * (4 * BM / TM) + ty * 4, af + 4 * g);
#pragma unroll
            for (int g = 0; g < TN / 4; g++) load4(bs + kk * TL::LDB + g * (4 * BN / TN) + tx * 4, bf + 4 * g);
#pragma unroll
            for (int i = 0; i < TM; i++)
#pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fma_t(af[i], bf[j], acc[i][j]);
        }
        if (more)
        {
            // The other buffer was last read in step s - 1, before that step's barrier.
            a.store(sa[cur ^ 1]);
            b.store(sb[cur ^ 1]);
        }
        __syncthreads();
    }
}

template <typename T, class TL> __device__ __forceinline__ void clear(T (&acc)[TL::TM][TL::TN])
{
#pragma unroll
    for (int i = 0; i < TL::TM; i++)
#pragma unroll
        for (int j = 0; j < TL::TN; j++) acc[i][j] = T(0);
}

template <typename T> struct Epilogue
{
    T alpha, beta;
    const T* scale;
    const T* bias;
    int relu;

    // v = alpha * acc * columnScale + columnBias (+ beta * old), then the ReLU.
    __device__ __forceinline__ T finish(T acc, T columnScale, T columnBias, const T* old) const
    {
        T v = fma_t(alpha * acc, columnScale, columnBias);
        if (beta != T(0)) v = fma_t(beta, *old, v);
        if (relu) v = v > T(0) ? v : T(0);
        return v;
    }

    __device__ __forceinline__ T apply(T acc, int col, const T* old) const
    {
        return finish(acc, scale ? scale[col] : T(1), bias ? bias[col] : T(0), old);
    }
};

// Writes the block's tile: output row m (< M) starts at out + rowStart(m), columns n < N are
// adjacent. raw: the sums as they are (a split-K partial); else through the epilogue.
template <typename T, class TL, class RowStart>
__device__ __forceinline__ void store_tile(const T (&acc)[TL::TM][TL::TN], int m0, int n0, int M, int N, RowStart rowStart,
    T* out, bool raw, const Epilogue<T>& e)
{
    const int BM = TL::BM, BN = TL::BN, TM = TL::TM, TN = TL::TN;
    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN), ty = tid / (BN / TN);
    // Every row starts at a multiple of N, so with N % 4 == 0 each 4-column group is one aligned vector.
    const bool vec = aligned16(out) && (N & 3) == 0;
    // A thread's columns are the same in every row: their scale and bias are read once.
    T columnScale[TN], columnBias[TN];
#pragma unroll
    for (int j = 0; j < TN; j++)
    {
        int n = n0 + (j / 4) * (4 * BN / TN) + tx * 4 + (j & 3);
        columnScale[j] = raw || !e.scale || n >= N ? T(1) : e.scale[n];
        columnBias[j] = raw || !e.bias || n >= N ? T(0) : e.bias[n];
    }
    const Epilogue<T> identity = {T(1), T(0), nullptr, nullptr, 0};
    const Epilogue<T> f = raw ? identity : e;
#pragma unroll
    for (int i = 0; i < TM; i++)
    {
        int m = m0 + (i / 4) * (4 * BM / TM) + ty * 4 + (i & 3);
        if (m >= M) continue;
        T* row = out + rowStart(m);
#pragma unroll
        for (int g = 0; g < TN / 4; g++)
        {
            int n = n0 + g * (4 * BN / TN) + tx * 4;
            if (vec && n < N)
            {
                T old[4] = {T(0), T(0), T(0), T(0)}, v[4];
                if (f.beta != T(0)) load4(row + n, old);
#pragma unroll
                for (int q = 0; q < 4; q++) v[q] = f.finish(acc[i][4 * g + q], columnScale[4 * g + q], columnBias[4 * g + q], old + q);
                store4(row + n, v);
            }
            else
            {
#pragma unroll
                for (int q = 0; q < 4; q++)
                    if (n + q < N) row[n + q] = f.finish(acc[i][4 * g + q], columnScale[4 * g + q], columnBias[4 * g + q], row + n + q);
            }
        }
    }
}

// Split z's share of the depth: [z * kPerSplit, min(K, (z + 1) * kPerSplit)), possibly empty
// (its partial is then written as zeros). kPerSplit is a multiple of every tiling's BK.
struct Split
{
    int kBegin, kEnd;
    __device__ Split(int K, int kPerSplit, int z)
    {
        kBegin = z * kPerSplit;
        kEnd = min(K, kBegin + kPerSplit);
    }
};

template <typename T> __device__ __forceinline__ T* split_output(T* out, T* partial, long long slice, int z)
{
    return partial ? partial + (long long)z * slice : out;
}

// ---- dense operands --------------------------------------------------------------------------

// A row-major matrix read as a BO x BK operand tile: element (o, k) at p[o * ld + k] when
// kContig, at p[k * ld + o] otherwise; outer indices from o0, at most count of them.
template <typename T, int BO, int BK, int THREADS> struct DenseOperand
{
    typedef Staging<T, BO, BK, THREADS> S;
    static const int L = S::L;
    const T* p;
    int ld, count, o0;
    bool kContig, vec;
    T r[S::LOADS][L];

    __device__ DenseOperand(const T* p_, int ld_, int count_, int o0_, bool kContig_, int depth) : p(p_), ld(ld_), count(count_), o0(o0_), kContig(kContig_)
    {
        // Whole packs: aligned, every row a whole number of packs, and no pack straddling the end.
        vec = aligned16(p) && ld % L == 0 && (kContig ? depth % L == 0 : count % L == 0);
    }

    __device__ __forceinline__ void fetch(int k0, int kEnd)
    {
        const int tid = threadIdx.x;
#pragma unroll
        for (int l = 0; l < S::LOADS; l++)
        {
            int idx = tid + l * THREADS;
            if (!S::active(idx)) continue;
            if (kContig)
            {
                int o = o0 + S::kcOuter(idx), k = k0 + S::kcDepth(idx);
                const T* q = p + (long long)o * ld + k;
                if (vec)
                {
                    if (o < count && k < kEnd) loadPack(r[l], q); else zero(r[l]);
                }
                else
                {
#pragma unroll
                    for (int v = 0; v < L; v++) r[l][v] = o < count && k + v < kEnd ? q[v] : T(0);
                }
            }
            else
            {
                int k = k0 + S::ocDepth(idx), o = o0 + S::ocOuter(idx);
                const T* q = p + (long long)k * ld + o;
                if (vec)
                {
                    if (k < kEnd && o < count) loadPack(r[l], q); else zero(r[l]);
                }
                else
                {
#pragma unroll
                    for (int v = 0; v < L; v++) r[l][v] = k < kEnd && o + v < count ? q[v] : T(0);
                }
            }
        }
    }

    __device__ __forceinline__ void store(T* s) const
    {
        if (kContig) S::storeKc(s, r, threadIdx.x);
        else S::storeOc(s, r, threadIdx.x);
    }
};

struct DenseRows
{
    int ld;
    __device__ long long operator()(int m) const { return (long long)m * ld; }
};

// C[M,N] = alpha * op(A) op(B) + beta * C (epilogue above), row-major and dense: A is [M,K]
// ([K,M] when transA), B is [K,N] ([N,K] when transB). Grid: (ceil(M/BM), ceil(N/BN), splits),
// TL::THREADS threads; with splits > 1, partial holds splits * M * N values.
template <typename T, class TL>
__device__ void gemm_impl(const T* A, const T* B, T* C, int M, int N, int K, int transA, int transB,
    T alpha, T beta, const T* scale, const T* bias, int relu, int kPerSplit, T* partial)
{
    const int m0 = blockIdx.x * TL::BM, n0 = blockIdx.y * TL::BN;
    Split split(K, kPerSplit, blockIdx.z);
    DenseOperand<T, TL::BM, TL::BK, TL::THREADS> a(A, transA ? M : K, M, m0, !transA, K);
    DenseOperand<T, TL::BN, TL::BK, TL::THREADS> b(B, transB ? K : N, N, n0, transB != 0, K);
    T acc[TL::TM][TL::TN];
    clear<T, TL>(acc);
    multiply_tile<T, TL>(a, b, split.kBegin, split.kEnd, acc);
    Epilogue<T> e = {alpha, beta, scale, bias, relu};
    store_tile<T, TL>(acc, m0, n0, M, N, DenseRows{N}, split_output(C, partial, (long long)M * N, blockIdx.z), partial != nullptr, e);
}

#define GEMM_PARAMS(T) const T* A, const T* B, T* C, int M, int N, int K, int transA, int transB, \
    T alpha, T beta, const T* scale, const T* bias, int relu, int kPerSplit, T* partial
#define GEMM_ARGS A, B, C, M, N, K, transA, transB, alpha, beta, scale, bias, relu, kPerSplit, partial

extern "C" __global__ void __launch_bounds__(256) gemm_large_f32(GEMM_PARAMS(float)) { gemm_impl<float, TileL>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_large_f64(GEMM_PARAMS(double)) { gemm_impl<double, TileL>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tall_f32(GEMM_PARAMS(float)) { gemm_impl<float, TileW>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_tall_f64(GEMM_PARAMS(double)) { gemm_impl<double, TileW>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_small_f32(GEMM_PARAMS(float)) { gemm_impl<float, TileM>(GEMM_ARGS); }
extern "C" __global__ void __launch_bounds__(256) gemm_small_f64(GEMM_PARAMS(double)) { gemm_impl<double, TileM>(GEMM_ARGS); }

// ---- split-K reduction -----------------------------------------------------------------------

// out[i] = epilogue(sum over z in order of partial[z * total + i]), column i % N. Grid-stride.
template <typename T>
__device__ void splitk_reduce_impl(const T* partial, int splits, int total, int N, T* out, T alpha, T beta, const T* scale, const T* bias, int relu)
{
    Epilogue<T> e = {alpha, beta, scale, bias, relu};
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x)
    {
        T s = partial[i];
        for (int z = 1; z < splits; z++) s += partial[(long long)z * total + i];
        out[i] = e.apply(s, i % N, out + i);
    }
}

extern "C" __global__ void gemm_splitk_reduce_f32(const float* partial, int splits, int total, int N, float* out, float alpha, float beta,
    const float* scale, const float* bias, int relu) { splitk_reduce_impl(partial, splits, total, N, out, alpha, beta, scale, bias, relu); }
extern "C" __global__ void gemm_splitk_reduce_f64(const double* partial, int splits, int total, int N, double* out, double alpha, double beta,
    const double* scale, const double* bias, int relu) { splitk_reduce_impl(partial, splits, total, N, out, alpha, beta, scale, bias, relu); }

// ---- convolutions as implicit GEMMs ----------------------------------------------------------
//
// NHWC x [N,H,W,C], HWIO w [KH,KW,C,F], y [N,OH,OW,F]; a window's depth index is
// k = (kh * KW + kw) * C + c, the order of w's rows. With C a multiple of the pack width, a
// pack of consecutive k lies in one tap (one pixel's adjacent channels), so windows are read
// in 16-byte packs straight from the image; padding and out-of-image taps read as zeros.

struct ConvShape
{
    int N, H, W, C, KH, KW, sh, sw, pt, pl, OH, OW, F;
};

// An out-of-image coordinate no tap offset brings back inside.
#define CONV_FAR (-(1 << 30))

// A window depth index k = (outer * middleSize + middle) * innerSize + inner in its three parts:
// (kh, kw, c) for the forward's windows (sizes C, KW), (j, jw, f) for the input gradient's
// phase (sizes F, KWp).
struct DepthParts
{
    int outer, middle, inner;
};

__device__ __forceinline__ DepthParts split_depth(int k, int innerSize, int middleSize)
{
    int t = k / innerSize, outer = t / middleSize;
    return DepthParts{outer, t - outer * middleSize, k - t * innerSize};
}

// A thread's depth (the same in all of its loads of a step) as DepthParts: divided out once,
// then advanced by BK per step without dividing.
template <int BK> struct DepthCursor
{
    int kAt;
    DepthParts at;

    __device__ DepthCursor() : kAt(-2 * BK) {}

    __device__ __forceinline__ void seek(int k, int innerSize, int middleSize)
    {
        if (k == kAt + BK)
        {
            at.inner += BK;
            while (at.inner >= innerSize)
            {
                at.inner -= innerSize;
                if (++at.middle == middleSize) { at.middle = 0; ++at.outer; }
            }
        }
        else if (k != kAt) at = split_depth(k, innerSize, middleSize);
        kAt = k;
    }
};

// One step's loads of an A operand gathered from windows (WindowRows, GradientWindows): each
// of the thread's packs is L values along the depth, read as one vector load where the
// operand allows (a.vec: the innermost extent a multiple of L and the source aligned), else
// element by element; depth beyond kEnd and positions outside the source read as 0.
// innerSize and middleSize are the depth's (inner, middle) extents for the cursor.
template <typename T, typename Rows> __device__ __forceinline__ void fetch_window_packs(Rows& a, const T* source, int innerSize, int middleSize, int k0, int kEnd)
{
    typedef typename Rows::S S;
#pragma unroll
    for (int l = 0; l < S::LOADS; l++)
    {
        int idx = threadIdx.x + l * Rows::Threads;
        if (!S::active(idx)) continue;
        int k = k0 + S::kcDepth(idx);
        if (a.vec)
        {
            zero(a.r[l]);
            if (k < kEnd)
            {
                a.depth.seek(k, innerSize, middleSize);
                int i;
                if (a.find(l, a.depth.at, i)) loadPack(a.r[l], source + i);
            }
        }
        else
        {
#pragma unroll
            for (int v = 0; v < Rows::L; v++) a.r[l][v] = k + v < kEnd ? a.element(l, k + v) : T(0);
        }
    }
}

// The forward's A: row m = output position (n, oy, ox), depth k = window element.
template <typename T, int BM, int BK, int THREADS> struct WindowRows
{
    typedef Staging<T, BM, BK, THREADS> S;
    static const int L = S::L, Threads = THREADS;
    const T* x;
    ConvShape g;
    bool vec;
    int base[S::LOADS], ih0[S::LOADS], iw0[S::LOADS];
    DepthCursor<BK> depth;  // (kh, kw, c)
    T r[S::LOADS][L];

    __device__ WindowRows(const T* x_, const ConvShape& g_, int m0, int M) : x(x_), g(g_)
    {
        vec = aligned16(x) && g.C % L == 0;
        const int pixels = g.OH * g.OW;
#pragma unroll
        for (int l = 0; l < S::LOADS; l++)
        {
            int idx = threadIdx.x + l * THREADS, m = m0 + S::kcOuter(idx);
            base[l] = 0;
            ih0[l] = iw0[l] = CONV_FAR;
            if (S::active(idx) && m < M)
            {
                int n = m / pixels, rem = m - n * pixels, oy = rem / g.OW, ox = rem - oy * g.OW;
                base[l] = n * g.H * g.W * g.C;
                ih0[l] = oy * g.sh - g.pt;
                iw0[l] = ox * g.sw - g.pl;
            }
        }
    }

    // Whether load l's window element p = (kh, kw, c) lies inside the image, at x[i] (else it is padding).
    __device__ __forceinline__ bool find(int l, const DepthParts& p, int& i) const
    {
        int ih = ih0[l] + p.outer, iw = iw0[l] + p.middle;
        i = base[l] + (ih * g.W + iw) * g.C + p.inner;
        return (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
    }

    __device__ __forceinline__ T element(int l, int k) const
    {
        int i;
        return find(l, split_depth(k, g.C, g.KW), i) ? x[i] : T(0);
    }

    __device__ __forceinline__ void fetch(int k0, int kEnd) { fetch_window_packs(*this, x, g.C, g.KW, k0, kEnd); }

    __device__ __forceinline__ void store(T* s) const { S::storeKc(s, r, threadIdx.x); }
};

// The weight gradient's A = windows^T: row m = window element p, depth k = output position.
// A thread's packs all lie in the same L columns p.. p + L - 1 (Staging's assertion), so
// their taps are found once, not per step.
template <typename T, int BM, int BK, int THREADS> struct WindowColumns
{
    typedef Staging<T, BM, BK, THREADS> S;
    static const int L = S::L;
    const T* x;
    ConvShape g;
    bool vec;
    // Per column of the pack: the tap's offset from the window origin and the channel.
    int dh[L], dw[L], c[L];
    T r[S::LOADS][L];

    __device__ WindowColumns(const T* x_, const ConvShape& g_, int m0, int M) : x(x_), g(g_)
    {
        vec = aligned16(x) && g.C % L == 0;
        const int p = m0 + S::ocOuter(threadIdx.x);
#pragma unroll
        for (int v = 0; v < L; v++)
        {
            dh[v] = dw[v] = CONV_FAR;
            c[v] = 0;
            if (p + v < M)
            {
                int tap = (p + v) / g.C, kh = tap / g.KW;
                c[v] = p + v - tap * g.C;
                dh[v] = kh - g.pt;
                dw[v] = tap - kh * g.KW - g.pl;
            }
        }
    }

    __device__ __forceinline__ void fetch(int k0, int kEnd)
    {
        const int pixels = g.OH * g.OW;
#pragma unroll
        for (int l = 0; l < S::LOADS; l++)
        {
            int idx = threadIdx.x + l * THREADS;
            if (!S::active(idx)) continue;
            int row = k0 + S::ocDepth(idx);
            zero(r[l]);
            if (row >= kEnd) continue;
            int n = row / pixels, rem = row - n * pixels, oy = rem / g.OW, ox = rem - oy * g.OW;
            int y0 = oy * g.sh, x0 = ox * g.sw;
            if (vec)
            {
                // With C % L == 0 the pack's L columns are adjacent channels of one tap.
                int ih = y0 + dh[0], iw = x0 + dw[0];
                if ((unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W) loadPack(r[l], x + ((n * g.H + ih) * g.W + iw) * g.C + c[0]);
            }
            else
            {
#pragma unroll
                for (int v = 0; v < L; v++)
                {
                    int ih = y0 + dh[v], iw = x0 + dw[v];
                    if ((unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W) r[l][v] = x[((n * g.H + ih) * g.W + iw) * g.C + c[v]];
                }
            }
        }
    }

    __device__ __forceinline__ void store(T* s) const { S::storeOc(s, r, threadIdx.x); }
};

// The input gradient, one stride phase at a time. Input rows ih = ph + sh * i (and likewise
// columns) are reached only by the taps kh = kh0 + sh * j with kh0 = (ph + pt) mod sh, from
// output row oy = i + dh - j, dh = (ph + pt - kh0) / sh. So within a phase the gradient is a
// dense correlation of dy with those taps (for stride 1: the one phase, all taps, the kernel
// rotated 180 degrees), and every dx element is computed by exactly one block: no atomics.
struct Phase
{
    int ph, pw, Hp, Wp, M, kh0, kw0, KHp, KWp, dh, dw, K;

    __device__ Phase(const ConvShape& g, int index)
    {
        ph = index / g.sw;
        pw = index - ph * g.sw;
        Hp = ph < g.H ? (g.H - ph + g.sh - 1) / g.sh : 0;
        Wp = pw < g.W ? (g.W - pw + g.sw - 1) / g.sw : 0;
        M = g.N * Hp * Wp;
        kh0 = (ph + g.pt) % g.sh;
        kw0 = (pw + g.pl) % g.sw;
        KHp = kh0 < g.KH ? (g.KH - kh0 + g.sh - 1) / g.sh : 0;
        KWp = kw0 < g.KW ? (g.KW - kw0 + g.sw - 1) / g.sw : 0;
        dh = (ph + g.pt - kh0) / g.sh;
        dw = (pw + g.pl - kw0) / g.sw;
        K = KHp * KWp * g.F;
    }
};

// The input gradient's A: row m = the phase's input position (n, i, j), depth k = (j, jw, f).
template <typename T, int BM, int BK, int THREADS> struct GradientWindows
{
    typedef Staging<T, BM, BK, THREADS> S;
    static const int L = S::L, Threads = THREADS;
    const T* dy;
    ConvShape g;
    int KWp;
    bool vec;
    int base[S::LOADS], oy0[S::LOADS], ox0[S::LOADS];
    DepthCursor<BK> depth;  // (j, jw, f)
    T r[S::LOADS][L];

    __device__ GradientWindows(const T* dy_, const ConvShape& g_, const Phase& q, int m0) : dy(dy_), g(g_), KWp(q.KWp)
    {
        vec = aligned16(dy) && g.F % L == 0;
        const int pixels = q.Hp * q.Wp;
#pragma unroll
        for (int l = 0; l < S::LOADS; l++)
        {
            int idx = threadIdx.x + l * THREADS, m = m0 + S::kcOuter(idx);
            base[l] = 0;
            oy0[l] = ox0[l] = CONV_FAR;
            if (S::active(idx) && m < q.M)
            {
                int n = m / pixels, rem = m - n * pixels, i = rem / q.Wp, j = rem - i * q.Wp;
                base[l] = n * g.OH * g.OW * g.F;
                oy0[l] = i + q.dh;
                ox0[l] = j + q.dw;
            }
        }
    }

    // Whether load l's element p = (j, jw, f) lies inside dy, at dy[i].
    __device__ __forceinline__ bool find(int l, const DepthParts& p, int& i) const
    {
        int oy = oy0[l] - p.outer, ox = ox0[l] - p.middle;
        i = base[l] + (oy * g.OW + ox) * g.F + p.inner;
        return (unsigned)oy < (unsigned)g.OH && (unsigned)ox < (unsigned)g.OW;
    }

    __device__ __forceinline__ T element(int l, int k) const
    {
        int i;
        return find(l, split_depth(k, g.F, KWp), i) ? dy[i] : T(0);
    }

    __device__ __forceinline__ void fetch(int k0, int kEnd) { fetch_window_packs(*this, dy, g.F, KWp, k0, kEnd); }

    __device__ __forceinline__ void store(T* s) const { S::storeKc(s, r, threadIdx.x); }
};

// The input gradient's B: depth k = (j, jw, f) of the phase, column c: w[kh0 + sh*j, kw0 + sw*jw, c, f]
// (the kernel with C and F swapped), read in packs along f.
template <typename T, int BN, int BK, int THREADS> struct PhaseWeights
{
    typedef Staging<T, BN, BK, THREADS> S;
    static const int L = S::L;
    const T* w;
    ConvShape g;
    int n0, kh0, kw0, KWp;
    bool vec;
    DepthCursor<BK> depth;  // (j, jw, f), as GradientWindows'
    T r[S::LOADS][L];

    __device__ PhaseWeights(const T* w_, const ConvShape& g_, const Phase& q, int n0_) : w(w_), g(g_), n0(n0_), kh0(q.kh0), kw0(q.kw0), KWp(q.KWp)
    {
        vec = aligned16(w) && g.F % L == 0;
    }

    // Column c's element p = (j, jw, f) in w.
    __device__ __forceinline__ const T* source(int c, const DepthParts& p) const
    {
        int tap = (kh0 + g.sh * p.outer) * g.KW + kw0 + g.sw * p.middle;
        return w + (tap * g.C + c) * g.F + p.inner;
    }

    __device__ __forceinline__ void fetch(int k0, int kEnd)
    {
#pragma unroll
        for (int l = 0; l < S::LOADS; l++)
        {
            int idx = threadIdx.x + l * THREADS;
            if (!S::active(idx)) continue;
            int c = n0 + S::kcOuter(idx), k = k0 + S::kcDepth(idx);
            zero(r[l]);
            if (c >= g.C) continue;
            if (vec)
            {
                if (k < kEnd)
                {
                    depth.seek(k, g.F, KWp);
                    loadPack(r[l], source(c, depth.at));
                }
            }
            else
            {
#pragma unroll
                for (int v = 0; v < L; v++)
                    if (k + v < kEnd) r[l][v] = *source(c, split_depth(k + v, g.F, KWp));
            }
        }
    }

    __device__ __forceinline__ void store(T* s) const { S::storeKc(s, r, threadIdx.x); }
};

// Input row m of a phase -> its dx offset.
struct PhaseRows
{
    ConvShape g;
    int ph, pw, Hp, Wp;
    __device__ long long operator()(int m) const
    {
        int pixels = Hp * Wp, n = m / pixels, rem = m - n * pixels, i = rem / Wp, j = rem - i * Wp;
        return ((long long)(n * g.H + ph + g.sh * i) * g.W + pw + g.sw * j) * g.C;
    }
};

// y[N*OH*OW, F] = (accumulate ? y : 0) + (windows w) * scale + bias, then ReLU when relu.
// Grid: (ceil(N*OH*OW / BM), ceil(F / BN), splits).
template <typename T, class TL>
__device__ void conv_forward_impl(const T* x, const T* w, T* y, const ConvShape& g, const T* scale, const T* bias, int relu, int accumulate,
    int kPerSplit, T* partial)
{
    const int M = g.N * g.OH * g.OW, K = g.KH * g.KW * g.C;
    const int m0 = blockIdx.x * TL::BM, n0 = blockIdx.y * TL::BN;
    Split split(K, kPerSplit, blockIdx.z);
    WindowRows<T, TL::BM, TL::BK, TL::THREADS> a(x, g, m0, M);
    DenseOperand<T, TL::BN, TL::BK, TL::THREADS> b(w, g.F, g.F, n0, false, K);
    T acc[TL::TM][TL::TN];
    clear<T, TL>(acc);
    multiply_tile<T, TL>(a, b, split.kBegin, split.kEnd, acc);
    Epilogue<T> e = {T(1), accumulate ? T(1) : T(0), scale, bias, relu};
    store_tile<T, TL>(acc, m0, n0, M, g.F, DenseRows{g.F}, split_output(y, partial, (long long)M * g.F, blockIdx.z), partial != nullptr, e);
}

// Along one axis, the input rows (or columns) of stride phase p that some tap reaches: phase
// p (rows p, p + stride, ...) is reached by taps (p + pad) mod stride + stride * j, so when
// that is below the kernel size. Phase (ph, pw) has taps when both of its axes do.
__device__ __forceinline__ int extent_with_taps(int size, int stride, int pad, int kernel, int p)
{
    return p < size && (p + pad) % stride < kernel ? (size - p + stride - 1) / stride : 0;
}

__device__ __forceinline__ int extents_with_taps_before(int size, int stride, int pad, int kernel, int p)
{
    int rows = 0;
    for (int q = 0; q < p; q++) rows += extent_with_taps(size, stride, pad, kernel, q);
    return rows;
}

// Rows of the phases that have taps, before phase `index` (index = sh*sw: all of them), in
// phase order (ph major). Split partials of the input gradient hold only these rows, phase
// after phase, each phase's rows in (n, i, j) order: the tap-less phases (3 of 4 in a 1x1
// stride-2 layer) are only zeros.
__device__ __forceinline__ int rows_with_taps_before(const ConvShape& g, int index)
{
    const int ph = index / g.sw, pw = index - ph * g.sw;
    const int allColumns = extents_with_taps_before(g.W, g.sw, g.pl, g.KW, g.sw);
    int rows = extents_with_taps_before(g.H, g.sh, g.pt, g.KH, ph) * allColumns;
    if (ph < g.sh) rows += extent_with_taps(g.H, g.sh, g.pt, g.KH, ph) * extents_with_taps_before(g.W, g.sw, g.pl, g.KW, pw);
    return g.N * rows;
}

// dx (+)= the input gradient. Grid: (ceil(max phase rows / BM), ceil(C / BN), sh * sw * splits);
// blockIdx.z = split * phases + phase. Split partials: [splits][rows with taps][C] (see above),
// finished by conv_backward_input_reduce; tap-less phases are then written (as zeros, unless
// accumulating) straight into dx by split 0.
template <typename T, class TL>
__device__ void conv_backward_input_impl(const T* dy, const T* w, T* dx, const ConvShape& g, int accumulate, int kPerSplit, T* partial)
{
    const int phases = g.sh * g.sw, z = blockIdx.z / phases, index = blockIdx.z - z * phases;
    Phase q(g, index);
    const int m0 = blockIdx.x * TL::BM, n0 = blockIdx.y * TL::BN;
    if (m0 >= q.M) return;
    // A tap-less phase adds nothing: once cleared (by split 0) it is done.
    if (q.K == 0 && (z > 0 || accumulate)) return;
    const bool split = partial != nullptr;
    Split share(q.K, kPerSplit, z);
    GradientWindows<T, TL::BM, TL::BK, TL::THREADS> a(dy, g, q, m0);
    PhaseWeights<T, TL::BN, TL::BK, TL::THREADS> b(w, g, q, n0);
    T acc[TL::TM][TL::TN];
    clear<T, TL>(acc);
    multiply_tile<T, TL>(a, b, share.kBegin, share.kEnd, acc);
    Epilogue<T> e = {T(1), accumulate ? T(1) : T(0), nullptr, nullptr, 0};
    if (split && q.K > 0)
    {
        long long slice = (long long)rows_with_taps_before(g, phases) * g.C;
        T* out = partial + z * slice + (long long)rows_with_taps_before(g, index) * g.C;
        store_tile<T, TL>(acc, m0, n0, q.M, g.C, DenseRows{g.C}, out, true, e);
        return;
    }
    PhaseRows rows = {g, q.ph, q.pw, q.Hp, q.Wp};
    store_tile<T, TL>(acc, m0, n0, q.M, g.C, rows, dx, false, e);
}

// dx at the rows with taps (+)= the sum over splits, in order, of the input gradient's
// partials ([splits][rows with taps][C]). Grid: (any, sh * sw): blockIdx.y is the phase, whose
// place one thread works out for the whole block; each partial element has its own dx
// element, so no two threads write the same one. Grid-stride over the phase's rows * C.
template <typename T>
__device__ void conv_backward_input_reduce_impl(const T* partial, int splits, T* dx, const ConvShape& g, int accumulate)
{
    struct Place
    {
        long long slice, first;
        int ph, pw, Hp, Wp, count;
    };
    __shared__ Place place;
    if (threadIdx.x == 0)
    {
        Phase q(g, blockIdx.y);
        place.slice = (long long)rows_with_taps_before(g, g.sh * g.sw) * g.C;
        place.first = (long long)rows_with_taps_before(g, blockIdx.y) * g.C;
        place.ph = q.ph;
        place.pw = q.pw;
        place.Hp = q.Hp;
        place.Wp = q.Wp;
        place.count = q.K > 0 ? q.M * g.C : 0;
    }
    __syncthreads();
    const Place at = place;
    const T* own = partial + at.first;
    const PhaseRows rows = {g, at.ph, at.pw, at.Hp, at.Wp};
    const int L = Pack<T>::Lanes;
    // Rows and slices are whole multiples of C: with C % L == 0 every pack stays in one dx row.
    if (g.C % L == 0 && aligned16(partial) && aligned16(dx))
    {
        const unsigned packs = (unsigned)at.count / L;
        for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < packs; i += gridDim.x * blockDim.x)
        {
            unsigned e = i * L;
            int row = (int)(e / (unsigned)g.C), c = (int)(e - (unsigned)row * (unsigned)g.C);
            Pack<T> s = *reinterpret_cast<const Pack<T>*>(own + e);
            for (int z = 1; z < splits; z++)
            {
                Pack<T> p = *reinterpret_cast<const Pack<T>*>(own + z * at.slice + e);
#pragma unroll
                for (int v = 0; v < L; v++) s.v[v] += p.v[v];
            }
            Pack<T>* target = reinterpret_cast<Pack<T>*>(dx + rows(row) + c);
            if (accumulate)
            {
                Pack<T> old = *target;
#pragma unroll
                for (int v = 0; v < L; v++) s.v[v] += old.v[v];
            }
            *target = s;
        }
        return;
    }
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)at.count; i += gridDim.x * blockDim.x)
    {
        int row = (int)(i / (unsigned)g.C), c = (int)(i - (unsigned)row * (unsigned)g.C);
        T s = own[i];
        for (int z = 1; z < splits; z++) s += own[z * at.slice + i];
        T* target = dx + rows(row) + c;
        *target = accumulate ? *target + s : s;
    }
}

// dW[KH*KW*C, F] (+)= windows^T dy, the depth being the N*OH*OW output positions.
// Grid: (ceil(KH*KW*C / BM), ceil(F / BN), splits).
template <typename T, class TL>
__device__ void conv_backward_weights_impl(const T* x, const T* dy, T* dW, const ConvShape& g, int accumulate, int kPerSplit, T* partial)
{
    const int M = g.KH * g.KW * g.C, K = g.N * g.OH * g.OW;
    const int m0 = blockIdx.x * TL::BM, n0 = blockIdx.y * TL::BN;
    Split split(K, kPerSplit, blockIdx.z);
    WindowColumns<T, TL::BM, TL::BK, TL::THREADS> a(x, g, m0, M);
    DenseOperand<T, TL::BN, TL::BK, TL::THREADS> b(dy, g.F, g.F, n0, false, K);
    T acc[TL::TM][TL::TN];
    clear<T, TL>(acc);
    multiply_tile<T, TL>(a, b, split.kBegin, split.kEnd, acc);
    Epilogue<T> e = {T(1), accumulate ? T(1) : T(0), nullptr, nullptr, 0};
    store_tile<T, TL>(acc, m0, n0, M, g.F, DenseRows{g.F}, split_output(dW, partial, (long long)M * g.F, blockIdx.z), partial != nullptr, e);
}

#define CONV_SHAPE_PARAMS int N, int H, int W, int C, int KH, int KW, int sh, int sw, int pt, int pl, int OH, int OW, int F
#define CONV_SHAPE ConvShape{N, H, W, C, KH, KW, sh, sw, pt, pl, OH, OW, F}

#define CONV_KERNELS(tile, TL)                                                                                                           \
    extern "C" __global__ void __launch_bounds__(TL::THREADS) conv_forward_##tile##_f32(const float* x, const float* w, float* y, CONV_SHAPE_PARAMS, \
        const float* scale, const float* bias, int relu, int accumulate, int kPerSplit, float* partial)                                    \
    { conv_forward_impl<float, TL>(x, w, y, CONV_SHAPE, scale, bias, relu, accumulate, kPerSplit, partial); }                              \
    extern "C" __global__ void __launch_bounds__(TL::THREADS) conv_forward_##tile##_f64(const double* x, const double* w, double* y, CONV_SHAPE_PARAMS, \
        const double* scale, const double* bias, int relu, int accumulate, int kPerSplit, double* partial)                                 \
    { conv_forward_impl<double, TL>(x, w, y, CONV_SHAPE, scale, bias, relu, accumulate, kPerSplit, partial); }                             \
    extern "C" __global__ void __launch_bounds__(TL::THREADS) conv_backward_input_##tile##_f32(const float* dy, const float* w, float* dx,           \
        CONV_SHAPE_PARAMS, int accumulate, int kPerSplit, float* partial)                                                                   \
    { conv_backward_input_impl<float, TL>(dy, w, dx, CONV_SHAPE, accumulate, kPerSplit, partial); }                                        \
    extern "C" __global__ void __launch_bounds__(TL::THREADS) conv_backward_input_##tile##_f64(const double* dy, const double* w, double* dx,        \
        CONV_SHAPE_PARAMS, int accumulate, int kPerSplit, double* partial)                                                                  \
    { conv_backward_input_impl<double, TL>(dy, w, dx, CONV_SHAPE, accumulate, kPerSplit, partial); }                                       \
    extern "C" __global__ void __launch_bounds__(TL::THREADS) conv_backward_weights_##tile##_f32(const float* x, const float* dy, float* dW,         \
        CONV_SHAPE_PARAMS, int accumulate, int kPerSplit, float* partial)                                                                   \
    { conv_backward_weights_impl<float, TL>(x, dy, dW, CONV_SHAPE, accumulate, kPerSplit, partial); }                                      \
    extern "C" __global__ void __launch_bounds__(TL::THREADS) conv_backward_weights_##tile##_f64(const double* x, const double* dy, double* dW,      \
        CONV_SHAPE_PARAMS, int accumulate, int kPerSplit, double* partial)                                                                  \
    { conv_backward_weights_impl<double, TL>(x, dy, dW, CONV_SHAPE, accumulate, kPerSplit, partial); }

extern "C" __global__ void conv_backward_input_reduce_f32(const float* partial, int splits, float* dx, CONV_SHAPE_PARAMS, int accumulate)
{ conv_backward_input_reduce_impl(partial, splits, dx, CONV_SHAPE, accumulate); }
extern "C" __global__ void conv_backward_input_reduce_f64(const double* partial, int splits, double* dx, CONV_SHAPE_PARAMS, int accumulate)
{ conv_backward_input_reduce_impl(partial, splits, dx, CONV_SHAPE, accumulate); }

CONV_KERNELS(large, TileL)
CONV_KERNELS(tall, TileW)
CONV_KERNELS(small, TileM)
