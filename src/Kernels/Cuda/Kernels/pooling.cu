// Max and average pooling over NHWC windows without padding ('valid'), x [N,H,W,C] ->
// y [N,OH,OW,C]. The forward runs one thread per output element, the backward one thread per
// input element gathering from the windows that cover it: overlapping windows then need no
// atomics, each gradient element is written once, and its contributions are added in the
// order the CPU adds them (windows by output row, then column).

#include "common.cuh"

struct PoolShape
{
    int N, H, W, C, KH, KW, SH, SW, OH, OW;
};

// Channel 0 of the top-left element of output (n, oy, ox)'s window.
__device__ __forceinline__ int window_start(const PoolShape& g, int n, int oy, int ox)
{
    return ((n * g.H + oy * g.SH) * g.W + ox * g.SW) * g.C;
}

// The output rows (or columns) whose windows cover input row h: oy*S <= h < oy*S + K.
__device__ __forceinline__ void covering(int h, int k, int s, int outSize, int& first, int& last)
{
    first = h < k ? 0 : (h - k) / s + 1;
    last = min(h / s, outSize - 1);
}

// Input element k = (n, h, w, c) and the output windows [oy0, oy1] x [ox0, ox1] that cover
// it; false when no window does (a stride longer than the window skips it).
struct CoveredElement
{
    int n, h, w, c, oy0, oy1, ox0, ox1;
};

__device__ __forceinline__ bool covered_by_windows(unsigned k, const PoolShape& g, CoveredElement& e)
{
    e.c = k % g.C;
    int t = k / g.C;
    e.w = t % g.W;
    t /= g.W;
    e.h = t % g.H;
    e.n = t / g.H;
    covering(e.h, g.KH, g.SH, g.OH, e.oy0, e.oy1);
    covering(e.w, g.KW, g.SW, g.OW, e.ox0, e.ox1);
    return e.oy0 <= e.oy1 && e.ox0 <= e.ox1;
}

template <typename T, bool Max> __device__ void pool_forward_impl(const T* x, T* y, PoolShape g)
{
    int total = g.N * g.OH * g.OW * g.C;
    T share = T(1) / T(g.KH * g.KW);
    for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < (unsigned)total; k += gridDim.x * blockDim.x)
    {
        int c = k % g.C, t = k / g.C;
        int ox = t % g.OW;
        t /= g.OW;
        int oy = t % g.OH, n = t / g.OH;
        const T* w = x + window_start(g, n, oy, ox) + c;
        T acc = w[0];
        for (int i = 0; i < g.KH; i++)
            for (int j = 0; j < g.KW; j++)
                if (i + j > 0)
                {
                    T v = w[(i * g.W + j) * g.C];
                    // max_t propagates NaN, as the CPU's T.Max and vector Max do: a window holding a NaN has max NaN.
                    acc = Max ? max_t(acc, v) : acc + v;
                }
        // The mean multiplies by the reciprocal of the window size, as the CPU kernel does.
        y[k] = Max ? acc : acc * share;
    }
}

#define POOL_SHAPE_PARAMS int N, int H, int W, int C, int KH, int KW, int SH, int SW, int OH, int OW
#define POOL_SHAPE PoolShape{N, H, W, C, KH, KW, SH, SW, OH, OW}

extern "C" __global__ void max_pool_forward_f32(const float* x, float* y, POOL_SHAPE_PARAMS) { pool_forward_impl<float, true>(x, y, POOL_SHAPE); }
extern "C" __global__ void max_pool_forward_f64(const double* x, double* y, POOL_SHAPE_PARAMS) { pool_forward_impl<double, true>(x, y, POOL_SHAPE); }
extern "C" __global__ void avg_pool_forward_f32(const float* x, float* y, POOL_SHAPE_PARAMS) { pool_forward_impl<float, false>(x, y, POOL_SHAPE); }
extern "C" __global__ void avg_pool_forward_f64(const double* x, double* y, POOL_SHAPE_PARAMS) { pool_forward_impl<double, false>(x, y, POOL_SHAPE); }

// dx += dy routed to each window's maximal element: the first element, in window order (row
// by row), equal to the forward output y, so a tie (common after a ReLU) sends the gradient
// to one element only. An input element takes a window's gradient when it equals that
// window's maximum and no element before it in the window does. A window whose maximum is
// NaN (it held a NaN) passes no gradient: no element equals NaN, as on the CPU.
template <typename T> __device__ void max_pool_backward_impl(const T* x, const T* y, const T* dy, T* dx, PoolShape g)
{
    int total = g.N * g.H * g.W * g.C;
    for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < (unsigned)total; k += gridDim.x * blockDim.x)
    {
        CoveredElement e;
        if (!covered_by_windows(k, g, e)) continue;
        T xv = x[k];
        T acc = T(0);
        bool taken = false;
        for (int oy = e.oy0; oy <= e.oy1; oy++)
            for (int ox = e.ox0; ox <= e.ox1; ox++)
            {
                int out = ((e.n * g.OH + oy) * g.OW + ox) * g.C + e.c;
                T m = y[out];
                if (!(xv == m)) continue;
                int i0 = e.h - oy * g.SH, j0 = e.w - ox * g.SW;
                const T* window = x + window_start(g, e.n, oy, ox) + e.c;
                bool earlier = false;
                for (int i = 0; i <= i0 && !earlier; i++)
                {
                    int columns = i < i0 ? g.KW : j0;
                    for (int j = 0; j < columns; j++)
                        if (window[(i * g.W + j) * g.C] == m) { earlier = true; break; }
                }
                if (earlier) continue;
                // The first contribution starts from dx's current value, as the CPU's += chain does.
                if (!taken) acc = dx[k];
                acc += dy[out];
                taken = true;
            }
        if (taken) dx[k] = acc;
    }
}

extern "C" __global__ void max_pool_backward_f32(const float* x, const float* y, const float* dy, float* dx, POOL_SHAPE_PARAMS)
{ max_pool_backward_impl(x, y, dy, dx, POOL_SHAPE); }
extern "C" __global__ void max_pool_backward_f64(const double* x, const double* y, const double* dy, double* dx, POOL_SHAPE_PARAMS)
{ max_pool_backward_impl(x, y, dy, dx, POOL_SHAPE); }

// dx += dy / (KH*KW) from every window covering the element, as fused multiply-adds in window
// order (the CPU adds each window's share with its vector axpy).
template <typename T> __device__ void avg_pool_backward_impl(const T* dy, T* dx, PoolShape g)
{
    int total = g.N * g.H * g.W * g.C;
    T share = T(1) / T(g.KH * g.KW);
    for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < (unsigned)total; k += gridDim.x * blockDim.x)
    {
        CoveredElement e;
        if (!covered_by_windows(k, g, e)) continue;
        T acc = dx[k];
        for (int oy = e.oy0; oy <= e.oy1; oy++)
            for (int ox = e.ox0; ox <= e.ox1; ox++)
                acc = fma_t(share, dy[((e.n * g.OH + oy) * g.OW + ox) * g.C + e.c], acc);
        dx[k] = acc;
    }
}

extern "C" __global__ void avg_pool_backward_f32(const float* dy, float* dx, POOL_SHAPE_PARAMS) { avg_pool_backward_impl(dy, dx, POOL_SHAPE); }
extern "C" __global__ void avg_pool_backward_f64(const double* dy, double* dx, POOL_SHAPE_PARAMS) { avg_pool_backward_impl(dy, dx, POOL_SHAPE); }
