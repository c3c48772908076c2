// Batch normalisation over the rows of x [rows, C] (NHWC flattened, C contiguous), Keras
// semantics: training normalises with the batch mean and biased variance and moves
// moving = momentum * moving + (1 - momentum) * batch; inference uses the moving statistics.
//
// Per-channel sums over rows take two launches: a partial pass, whose blocks are
// (bx threads along C, by along rows) over (channel group, chunk of rows), writes each chunk's
// sums to scratch [2, chunks, C]; a finishing pass, one block per channel group, adds the
// chunks in a fixed tree and forms the per-channel results. Threads along C read adjacent
// addresses, and no floating-point atomics are used, so a run is reproducible.
//
// Products that the CPU code rounds before adding are rounded here too (mul_rn), which keeps
// the compiler from fusing them into multiply-adds; where the CPU fuses, so does this code.

#include "common.cuh"

template <typename T> __device__ __forceinline__ Pack<T> load_pack(const T* p) { return *reinterpret_cast<const Pack<T>*>(p); }

// a[ty][tx] and b[ty][tx] (row-major, bx wide) summed over ty in a fixed tree; the totals end
// in row 0. by is a power of two. Every thread of the block must call it.
template <typename T> __device__ void column_tree(T* a, T* b)
{
    int bx = blockDim.x, tx = threadIdx.x, ty = threadIdx.y;
    __syncthreads();
    for (int half = blockDim.y >> 1; half > 0; half >>= 1)
    {
        if (ty < half)
        {
            a[ty * bx + tx] += a[(ty + half) * bx + tx];
            b[ty * bx + tx] += b[(ty + half) * bx + tx];
        }
        __syncthreads();
    }
}

// A chunk pass's end: the block's per-thread sums s and q (ty's share of its channel's rows)
// are added over ty (column_tree, in a, b) and written as the chunk's partial[chunk, c] and
// partial[chunks + chunk, c], chunk = blockIdx.y of chunks = gridDim.y. Every thread calls it.
template <typename T> __device__ void store_chunk(T s, T q, int C, T* partial, T* a, T* b)
{
    int bx = blockDim.x, tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * bx + tx, chunk = blockIdx.y, chunks = gridDim.y;
    a[ty * bx + tx] = s;
    b[ty * bx + tx] = q;
    column_tree(a, b);
    if (ty == 0 && c < C)
    {
        partial[(long long)chunk * C + c] = a[tx];
        partial[(long long)(chunks + chunk) * C + c] = b[tx];
    }
}

// A finishing pass's start: the chunks of partial [2, chunks, C] added per channel in a fixed
// order (each ty a strided share of the chunks, then column_tree). Channel
// c = blockIdx.x * bx + tx's two totals end in a[tx] and b[tx]. Every thread calls it.
template <typename T> __device__ void add_chunks(const T* partial, int chunks, int C, T* a, T* b)
{
    int bx = blockDim.x, tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * bx + tx;
    T s = T(0), q = T(0);
    if (c < C)
        for (int k = ty; k < chunks; k += blockDim.y)
        {
            s += partial[(long long)k * C + c];
            q += partial[(long long)(chunks + k) * C + c];
        }
    a[ty * bx + tx] = s;
    b[ty * bx + tx] = q;
    column_tree(a, b);
}

// ---- training statistics --------------------------------------------------------------------

// Moments about the first row's values (close to the mean, so the difference of squares taken
// later does not cancel away the variance's digits): partial[chunk, c] = sum(x - x[0, c]),
// partial[chunks + chunk, c] = sum((x - x[0, c])^2) over the chunk's rows.
template <typename T> __device__ void bn_moments_partial_impl(const T* x, int rows, int C, int chunkRows, T* partial)
{
    __shared__ T sums[256], squares[256];
    int bx = blockDim.x, tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * bx + tx, begin = blockIdx.y * chunkRows, end = min(rows, begin + chunkRows);
    T s = T(0), q = T(0);
    if (c < C)
    {
        T shift = x[c];
        for (int r = begin + ty; r < end; r += blockDim.y)
        {
            T d = x[(long long)r * C + c] - shift;
            s += d;
            q += d * d;
        }
    }
    store_chunk(s, q, C, partial, sums, squares);
}

extern "C" __global__ void bn_moments_partial_f32(const float* x, int rows, int C, int chunkRows, float* partial)
{ bn_moments_partial_impl(x, rows, C, chunkRows, partial); }
extern "C" __global__ void bn_moments_partial_f64(const double* x, int rows, int C, int chunkRows, double* partial)
{ bn_moments_partial_impl(x, rows, C, chunkRows, partial); }

// Adds the chunks' moments and forms mean, 1/sqrt(var + eps) and the moving statistics, with
// var the biased batch variance (the moving variance moves towards it too, as on the CPU).
template <typename T> __device__ void bn_moments_finish_impl(const T* x, const T* partial, int chunks, int C, T invRows, T momentum, T epsilon,
    T* movingMean, T* movingVariance, T* mean, T* invStd)
{
    __shared__ T sums[256], squares[256];
    int tx = threadIdx.x, c = blockIdx.x * blockDim.x + tx;
    add_chunks(partial, chunks, C, sums, squares);
    if (threadIdx.y == 0 && c < C)
    {
        T d = mul_rn(sums[tx], invRows);
        T v = mul_rn(squares[tx], invRows) - mul_rn(d, d);
        if (v < T(0)) v = T(0);
        T m = x[c] + d;
        mean[c] = m;
        T keep = T(1) - momentum;
        movingMean[c] = mul_rn(momentum, movingMean[c]) + mul_rn(keep, m);
        movingVariance[c] = mul_rn(momentum, movingVariance[c]) + mul_rn(keep, v);
        invStd[c] = T(1) / sqrt_t(v + epsilon);
    }
}

extern "C" __global__ void bn_moments_finish_f32(const float* x, const float* partial, int chunks, int C, float invRows, float momentum, float epsilon,
    float* movingMean, float* movingVariance, float* mean, float* invStd)
{ bn_moments_finish_impl(x, partial, chunks, C, invRows, momentum, epsilon, movingMean, movingVariance, mean, invStd); }
extern "C" __global__ void bn_moments_finish_f64(const double* x, const double* partial, int chunks, int C, double invRows, double momentum, double epsilon,
    double* movingMean, double* movingVariance, double* mean, double* invStd)
{ bn_moments_finish_impl(x, partial, chunks, C, invRows, momentum, epsilon, movingMean, movingVariance, mean, invStd); }

// Inference: invStd[c] = 1 / sqrt(movingVariance[c] + eps).
template <typename T> __device__ void bn_inv_std_impl(const T* variance, T epsilon, T* invStd, int C)
{
    for (unsigned c = blockIdx.x * blockDim.x + threadIdx.x; c < (unsigned)C; c += gridDim.x * blockDim.x)
        invStd[c] = T(1) / sqrt_t(variance[c] + epsilon);
}

extern "C" __global__ void bn_inv_std_f32(const float* variance, float epsilon, float* invStd, int C) { bn_inv_std_impl(variance, epsilon, invStd, C); }
extern "C" __global__ void bn_inv_std_f64(const double* variance, double epsilon, double* invStd, int C) { bn_inv_std_impl(variance, epsilon, invStd, C); }

// ---- normalisation --------------------------------------------------------------------------

// y = x * scale + shift (+ residual), then max(y, 0) when relu, with scale = gamma * invStd and
// shift = beta - mean * scale per channel. The ReLU is max_t, the IEEE maximum the CPU's vector
// path takes (W.Max(v, 0)): NaN stays NaN and -0 becomes +0. (The CPU's scalar tail, for the
// channels past the last whole vector, maps NaN to 0 instead.)
template <typename T> __device__ __forceinline__ T bn_affine(T x, T gamma, T beta, T mean, T invStd, bool hasResidual, T residual, int relu)
{
    T scale = mul_rn(gamma, invStd);
    T shift = beta - mul_rn(mean, scale);
    T v = fma_t(scale, x, shift);
    if (hasResidual) v = v + residual;
    return relu ? max_t(v, T(0)) : v;
}

template <typename T> __device__ void bn_normalize_impl(const T* x, const T* residual, const T* gamma, const T* beta, const T* mean, const T* invStd,
    T* y, int n, int C, int relu)
{
    const int L = Pack<T>::Lanes;
    unsigned stride = gridDim.x * blockDim.x, first = blockIdx.x * blockDim.x + threadIdx.x;
    bool hasResidual = residual != nullptr;
    // C a multiple of the lanes: a pack never straddles two rows, so its channels are consecutive.
    if (C % L == 0 && aligned16(x) && aligned16(y) && (!hasResidual || aligned16(residual)) && aligned16(gamma) && aligned16(beta)
        && aligned16(mean) && aligned16(invStd))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned p = first; p < packs; p += stride)
        {
            unsigned e = p * L, c = e % (unsigned)C;
            Pack<T> xv = load_pack(x + e), g = load_pack(gamma + c), b = load_pack(beta + c), m = load_pack(mean + c), s = load_pack(invStd + c), r, out;
            if (hasResidual) r = load_pack(residual + e);
#pragma unroll
            for (int k = 0; k < L; k++) out.v[k] = bn_affine(xv.v[k], g.v[k], b.v[k], m.v[k], s.v[k], hasResidual, hasResidual ? r.v[k] : T(0), relu);
            *reinterpret_cast<Pack<T>*>(y + e) = out;
        }
        return;
    }
    for (unsigned i = first; i < (unsigned)n; i += stride)
    {
        unsigned c = i % (unsigned)C;
        y[i] = bn_affine(x[i], gamma[c], beta[c], mean[c], invStd[c], hasResidual, hasResidual ? residual[i] : T(0), relu);
    }
}

extern "C" __global__ void bn_normalize_f32(const float* x, const float* residual, const float* gamma, const float* beta, const float* mean,
    const float* invStd, float* y, int n, int C, int relu)
{ bn_normalize_impl(x, residual, gamma, beta, mean, invStd, y, n, C, relu); }
extern "C" __global__ void bn_normalize_f64(const double* x, const double* residual, const double* gamma, const double* beta, const double* mean,
    const double* invStd, double* y, int n, int C, int relu)
{ bn_normalize_impl(x, residual, gamma, beta, mean, invStd, y, n, C, relu); }

// ---- backward -------------------------------------------------------------------------------

// dy where the fused ReLU was open (gate > 0), 0 where it was closed (NaN counts as closed).
template <typename T> __device__ __forceinline__ T gated(T dy, T gate) { return gate > T(0) ? dy : T(0); }

// partial[chunk, c] = sum(g), partial[chunks + chunk, c] = sum(g * (x - mean[c])) over the
// chunk's rows, g the gated dy.
template <typename T> __device__ void bn_grad_partial_impl(const T* dy, const T* x, const T* mean, const T* gate, int rows, int C, int chunkRows, T* partial)
{
    __shared__ T sums[256], centered[256];
    int bx = blockDim.x, tx = threadIdx.x, ty = threadIdx.y;
    int c = blockIdx.x * bx + tx, begin = blockIdx.y * chunkRows, end = min(rows, begin + chunkRows);
    T s = T(0), q = T(0);
    if (c < C)
    {
        T center = mean[c];
        for (int r = begin + ty; r < end; r += blockDim.y)
        {
            long long i = (long long)r * C + c;
            T g = gate ? gated(dy[i], gate[i]) : dy[i];
            s += g;
            q += g * (x[i] - center);
        }
    }
    store_chunk(s, q, C, partial, sums, centered);
}

extern "C" __global__ void bn_grad_partial_f32(const float* dy, const float* x, const float* mean, const float* gate, int rows, int C, int chunkRows, float* partial)
{ bn_grad_partial_impl(dy, x, mean, gate, rows, C, chunkRows, partial); }
extern "C" __global__ void bn_grad_partial_f64(const double* dy, const double* x, const double* mean, const double* gate, int rows, int C, int chunkRows,
    double* partial)
{ bn_grad_partial_impl(dy, x, mean, gate, rows, C, chunkRows, partial); }

// Adds the chunks: sumDy, sumDyCentered per channel. dGamma += sumDyCentered * invStd and
// dBeta += sumDy where given; where coef is given, dx's coefficients a, b, e (coef [3, C])
// such that dx = a * g + b * x + e: a = gamma * invStd and, in training (the batch statistics
// depend on x), b = -gamma invStd^3 sumDyCentered / rows, e = -gamma invStd sumDy / rows - b mean;
// in inference b = e = 0.
template <typename T> __device__ void bn_grad_finish_impl(const T* partial, int chunks, int C, const T* gamma, const T* mean, const T* invStd, T invRows,
    int training, T* dGamma, T* dBeta, T* coef)
{
    __shared__ T sums[256], centered[256];
    int tx = threadIdx.x, c = blockIdx.x * blockDim.x + tx;
    add_chunks(partial, chunks, C, sums, centered);
    if (threadIdx.y == 0 && c < C)
    {
        T sumDy = sums[tx], sumDyCentered = centered[tx], is = invStd[c];
        if (dGamma) dGamma[c] += mul_rn(sumDyCentered, is);
        if (dBeta) dBeta[c] += sumDy;
        if (coef)
        {
            T g = gamma[c], a = mul_rn(g, is), b = T(0), e = T(0);
            if (training)
            {
                b = -g * is * is * is * sumDyCentered * invRows;
                e = mul_rn(-g * is * sumDy, invRows) - mul_rn(b, mean[c]);
            }
            coef[c] = a;
            coef[C + c] = b;
            coef[2 * C + c] = e;
        }
    }
}

extern "C" __global__ void bn_grad_finish_f32(const float* partial, int chunks, int C, const float* gamma, const float* mean, const float* invStd, float invRows,
    int training, float* dGamma, float* dBeta, float* coef)
{ bn_grad_finish_impl(partial, chunks, C, gamma, mean, invStd, invRows, training, dGamma, dBeta, coef); }
extern "C" __global__ void bn_grad_finish_f64(const double* partial, int chunks, int C, const double* gamma, const double* mean, const double* invStd,
    double invRows, int training, double* dGamma, double* dBeta, double* coef)
{ bn_grad_finish_impl(partial, chunks, C, gamma, mean, invStd, invRows, training, dGamma, dBeta, coef); }

// dx (+)= a * g + b * x + e (g the gated dy), formed as the CPU's vector path does: e, plus
// dx when accumulating, then two fused multiply-adds.
template <typename T> __device__ __forceinline__ T bn_dx(T old, T g, T x, T a, T b, T e, int accumulate)
{
    T v = accumulate ? e + old : e;
    v = fma_t(a, g, v);
    return fma_t(b, x, v);
}

template <typename T> __device__ void bn_backward_dx_impl(const T* dy, const T* x, const T* gate, const T* coef, int n, int C, T* dx, int accumulate)
{
    const int L = Pack<T>::Lanes;
    const T* a = coef;
    const T* b = coef + C;
    const T* e = coef + 2 * C;
    unsigned stride = gridDim.x * blockDim.x, first = blockIdx.x * blockDim.x + threadIdx.x;
    if (C % L == 0 && aligned16(dy) && aligned16(x) && (!gate || aligned16(gate)) && aligned16(coef) && aligned16(dx))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned p = first; p < packs; p += stride)
        {
            unsigned i = p * L, c = i % (unsigned)C;
            Pack<T> g = load_pack(dy + i), xv = load_pack(x + i), av = load_pack(a + c), bv = load_pack(b + c), ev = load_pack(e + c), out;
            if (gate)
            {
                Pack<T> open = load_pack(gate + i);
#pragma unroll
                for (int k = 0; k < L; k++) g.v[k] = gated(g.v[k], open.v[k]);
            }
            if (accumulate) out = load_pack(dx + i);
#pragma unroll
            for (int k = 0; k < L; k++) out.v[k] = bn_dx(accumulate ? out.v[k] : T(0), g.v[k], xv.v[k], av.v[k], bv.v[k], ev.v[k], accumulate);
            *reinterpret_cast<Pack<T>*>(dx + i) = out;
        }
        return;
    }
    for (unsigned i = first; i < (unsigned)n; i += stride)
    {
        unsigned c = i % (unsigned)C;
        T g = gate ? gated(dy[i], gate[i]) : dy[i];
        dx[i] = bn_dx(accumulate ? dx[i] : T(0), g, x[i], a[c], b[c], e[c], accumulate);
    }
}

extern "C" __global__ void bn_backward_dx_f32(const float* dy, const float* x, const float* gate, const float* coef, int n, int C, float* dx, int accumulate)
{ bn_backward_dx_impl(dy, x, gate, coef, n, C, dx, accumulate); }
extern "C" __global__ void bn_backward_dx_f64(const double* dy, const double* x, const double* gate, const double* coef, int n, int C, double* dx, int accumulate)
{ bn_backward_dx_impl(dy, x, gate, coef, n, C, dx, accumulate); }
