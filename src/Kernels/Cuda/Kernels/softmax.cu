// Row-wise softmax over the last axis and the cross-entropy fused with it, on [rows, classes]
// data. One warp per row: lanes stride along the row (adjacent lanes read adjacent classes)
// and combine their partial maxima and sums with butterfly shuffles, which leave the result
// in every lane in a fixed order. Blocks of 256 threads hold 8 rows and loop over the grid.

#include "common.cuh"

__device__ __forceinline__ float log_t(float x) { return logf(x); }
__device__ __forceinline__ double log_t(double x) { return log(x); }
template <typename T> __device__ __forceinline__ T negative_infinity();
template <> __device__ __forceinline__ float negative_infinity<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double negative_infinity<double>() { return __longlong_as_double(0xfff0000000000000ll); }

template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
#pragma unroll
    for (int mask = 16; mask > 0; mask >>= 1) v += __shfl_xor_sync(0xffffffffu, v, mask);
    return v;
}

template <typename T> __device__ __forceinline__ T warp_max(T v)
{
#pragma unroll
    for (int mask = 16; mask > 0; mask >>= 1) v = max_t(v, __shfl_xor_sync(0xffffffffu, v, mask));
    return v;
}

__device__ __forceinline__ int warp_row() { return blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); }
__device__ __forceinline__ int warp_rows_stride() { return gridDim.x * (blockDim.x >> 5); }

// One row's p[j] = exp(z[j] - m), m the row's maximum (the shift keeps exp from overflowing),
// the warp's lanes striding the row; returns the sum of the p's over the whole warp.
template <typename T> __device__ __forceinline__ T shifted_exponentials(const T* z, T* p, int classes, int lane, T& m)
{
    m = negative_infinity<T>();
    for (int j = lane; j < classes; j += 32) m = max_t(m, z[j]);
    m = warp_max(m);
    T s = T(0);
    for (int j = lane; j < classes; j += 32)
    {
        T e = exp_t(z[j] - m);
        p[j] = e;
        s += e;
    }
    return warp_sum(s);
}

// y = e / sum(e) with e = exp(x - max): the shift keeps exp from overflowing. Scaling by the
// reciprocal (not dividing) is what the CPU kernel does. (max_t propagates NaN; a NaN in a row
// makes every output of the row NaN through the sum whichever maximum is taken.)
template <typename T> __device__ void softmax_forward_impl(const T* x, T* y, int rows, int classes)
{
    int lane = threadIdx.x & 31;
    for (int row = warp_row(); row < rows; row += warp_rows_stride())
    {
        const T* xr = x + (long long)row * classes;
        T* yr = y + (long long)row * classes;
        T m;
        T inv = T(1) / shifted_exponentials(xr, yr, classes, lane, m);
        for (int j = lane; j < classes; j += 32) yr[j] *= inv;
    }
}

extern "C" __global__ void softmax_forward_f32(const float* x, float* y, int rows, int classes) { softmax_forward_impl(x, y, rows, classes); }
extern "C" __global__ void softmax_forward_f64(const double* x, double* y, int rows, int classes) { softmax_forward_impl(x, y, rows, classes); }

// dx += y * (dy - dot(dy, y)) row by row: the softmax Jacobian applied to dy.
template <typename T> __device__ void softmax_backward_impl(const T* y, const T* dy, T* dx, int rows, int classes)
{
    int lane = threadIdx.x & 31;
    for (int row = warp_row(); row < rows; row += warp_rows_stride())
    {
        long long base = (long long)row * classes;
        T dot = T(0);
        for (int j = lane; j < classes; j += 32) dot += dy[base + j] * y[base + j];
        dot = warp_sum(dot);
        for (int j = lane; j < classes; j += 32) dx[base + j] += y[base + j] * (dy[base + j] - dot);
    }
}

extern "C" __global__ void softmax_backward_f32(const float* y, const float* dy, float* dx, int rows, int classes)
{ softmax_backward_impl(y, dy, dx, rows, classes); }
extern "C" __global__ void softmax_backward_f64(const double* y, const double* dy, double* dx, int rows, int classes)
{ softmax_backward_impl(y, dy, dx, rows, classes); }

// probabilities = softmax(logits); rowLoss[r] = -sum_j t[r,j] * log softmax(z)[r,j], taken as
// t * (z - max - log sum exp(z - max)) so no log of a probability rounded to zero is formed,
// and only where t != 0 (a zero target times an infinite log would be NaN). The host sums
// rowLoss afterwards, times the caller's scale, into the one-element loss.
template <typename T> __device__ void softmax_xent_forward_impl(const T* logits, const T* targets, T* probabilities, T* rowLoss, int rows, int classes)
{
    int lane = threadIdx.x & 31;
    for (int row = warp_row(); row < rows; row += warp_rows_stride())
    {
        long long base = (long long)row * classes;
        const T* z = logits + base;
        const T* t = targets + base;
        T* p = probabilities + base;
        T m;
        T s = shifted_exponentials(z, p, classes, lane, m);
        T logSum = log_t(s), inv = T(1) / s;
        T loss = T(0);
        for (int j = lane; j < classes; j += 32)
        {
            T tj = t[j];
            if (tj != T(0)) loss -= tj * (z[j] - m - logSum);
            p[j] *= inv;
        }
        loss = warp_sum(loss);
        if (lane == 0) rowLoss[row] = loss;
    }
}

extern "C" __global__ void softmax_xent_forward_f32(const float* logits, const float* targets, float* probabilities, float* rowLoss, int rows, int classes)
{ softmax_xent_forward_impl(logits, targets, probabilities, rowLoss, rows, classes); }
extern "C" __global__ void softmax_xent_forward_f64(const double* logits, const double* targets, double* probabilities, double* rowLoss, int rows, int classes)
{ softmax_xent_forward_impl(logits, targets, probabilities, rowLoss, rows, classes); }

// dz += upstream[0] * scale * (p * sum(t) - t) row by row. upstream is read here, on the
// device, so the loss gradient never travels to the host.
template <typename T> __device__ void softmax_xent_backward_impl(const T* probabilities, const T* targets, const T* upstream, T scale, T* dLogits, int rows, int classes)
{
    int lane = threadIdx.x & 31;
    T factor = upstream[0] * scale;
    for (int row = warp_row(); row < rows; row += warp_rows_stride())
    {
        long long base = (long long)row * classes;
        T mass = T(0);
        for (int j = lane; j < classes; j += 32) mass += targets[base + j];
        mass = warp_sum(mass);
        for (int j = lane; j < classes; j += 32)
            dLogits[base + j] += factor * (probabilities[base + j] * mass - targets[base + j]);
    }
}

extern "C" __global__ void softmax_xent_backward_f32(const float* probabilities, const float* targets, const float* upstream, float scale, float* dLogits,
    int rows, int classes)
{ softmax_xent_backward_impl(probabilities, targets, upstream, scale, dLogits, rows, classes); }
extern "C" __global__ void softmax_xent_backward_f64(const double* probabilities, const double* targets, const double* upstream, double scale, double* dLogits,
    int rows, int classes)
{ softmax_xent_backward_impl(probabilities, targets, upstream, scale, dLogits, rows, classes); }
