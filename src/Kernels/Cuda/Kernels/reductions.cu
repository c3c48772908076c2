// Sums: of a whole array, and over the middle axis of an [outer, axis, inner] view, plus the
// latter's backward (a broadcast along that axis). Reductions are deterministic: every
// partial sum has a fixed place and order given the launch shape, which the host derives from
// the sizes alone, and no floating-point atomics are used.

#include "common.cuh"

// The block's total, valid in thread 0. Every thread of the block must call it (it synchronises
// and shuffles across full warps); blockDim.x is a multiple of 32, at most 1024.
template <typename T> __device__ T block_sum(T v)
{
    __shared__ T warpSums[32];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warpSums[warp] = v;
    __syncthreads();
    if (warp == 0)
    {
        int warps = blockDim.x >> 5;
        v = lane < warps ? warpSums[lane] : T(0);
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    }
    return v;
}

// out[blockIdx.x] = alpha * (sum of the block's grid-stride share of x). With one block this is
// the whole sum; with many, the host sums the partials with a second one-block launch.
template <typename T> __device__ void sum_blocks_impl(const T* x, int n, T alpha, T* out)
{
    // Four independent accumulators per thread shorten the dependent add chain.
    T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
    unsigned stride = gridDim.x * blockDim.x, i = blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < (unsigned)n; i += 4 * stride)
    {
        s0 += x[i];
        s1 += x[i + stride];
        s2 += x[i + 2 * stride];
        s3 += x[i + 3 * stride];
    }
    for (; i < (unsigned)n; i += stride) s0 += x[i];
    T total = block_sum((s0 + s1) + (s2 + s3));
    if (threadIdx.x == 0) out[blockIdx.x] = alpha * total;
}

// Launched with up to 1024 threads (one block summing a short array alone).
extern "C" __global__ void __launch_bounds__(1024) sum_blocks_f32(const float* x, int n, float alpha, float* out) { sum_blocks_impl(x, n, alpha, out); }
extern "C" __global__ void __launch_bounds__(1024) sum_blocks_f64(const double* x, int n, double alpha, double* out) { sum_blocks_impl(x, n, alpha, out); }

// Sums over the middle axis of x [outer, axis, inner]. A block is (bx threads along inner,
// by along the axis), bx * by <= 256, both powers of two; blockIdx.x enumerates
// (o, group of bx inner indices), blockIdx.y a chunk of chunkRows axis positions. Threads
// along inner read adjacent addresses (coalesced); the by partial sums of a column are added
// in a fixed tree in shared memory.
//   accumulate != 0 (one chunk): y[o, i] += alpha * sum.
//   accumulate == 0: y[o, chunk, i] = alpha * (the chunk's sum), partials of layout
//   [outer, chunks, inner] that a second launch (accumulate, axis = chunks) adds up.
template <typename T> __device__ void sum_axis_impl(const T* x, int outer, int axis, int inner, int chunkRows, T alpha, T* y, int accumulate)
{
    __shared__ T partial[256];
    int bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
    int groups = (inner + bx - 1) / bx;
    int o = blockIdx.x / groups, i = (blockIdx.x % groups) * bx + tx;
    int chunk = blockIdx.y, begin = chunk * chunkRows, end = min(axis, begin + chunkRows);
    T s = T(0);
    if (i < inner)
    {
        const T* column = x + (long long)o * axis * inner + i;
        for (int a = begin + ty; a < end; a += by) s += column[(long long)a * inner];
    }
    partial[ty * bx + tx] = s;
    __syncthreads();
    for (int half = by >> 1; half > 0; half >>= 1)
    {
        if (ty < half) partial[ty * bx + tx] += partial[(ty + half) * bx + tx];
        __syncthreads();
    }
    if (ty == 0 && i < inner)
    {
        T total = partial[tx];
        if (accumulate) y[(long long)o * inner + i] += alpha * total;
        else y[((long long)o * gridDim.y + chunk) * inner + i] = alpha * total;
    }
}

extern "C" __global__ void sum_axis_f32(const float* x, int outer, int axis, int inner, int chunkRows, float alpha, float* y, int accumulate)
{ sum_axis_impl(x, outer, axis, inner, chunkRows, alpha, y, accumulate); }
extern "C" __global__ void sum_axis_f64(const double* x, int outer, int axis, int inner, int chunkRows, double alpha, double* y, int accumulate)
{ sum_axis_impl(x, outer, axis, inner, chunkRows, alpha, y, accumulate); }

// dx[o, a, i] += alpha * dy[o, i] over dx's n = outer * axis * inner elements.
template <typename T> __device__ void broadcast_axis_impl(const T* dy, int axis, int inner, T alpha, T* dx, int n)
{
    unsigned block = (unsigned)axis * (unsigned)inner;
    for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < (unsigned)n; k += gridDim.x * blockDim.x)
    {
        unsigned o = k / block, i = k % (unsigned)inner;
        dx[k] = fma_t(alpha, dy[o * (unsigned)inner + i], dx[k]);
    }
}

extern "C" __global__ void broadcast_axis_f32(const float* dy, int axis, int inner, float alpha, float* dx, int n)
{ broadcast_axis_impl(dy, axis, inner, alpha, dx, n); }
extern "C" __global__ void broadcast_axis_f64(const double* dy, int axis, int inner, double alpha, double* dx, int n)
{ broadcast_axis_impl(dy, axis, inner, alpha, dx, n); }
