// Element-wise kernels: fill, axpy, activations and their backward rules, and binary
// operations whose second operand repeats along the first (the NHWC bias broadcast).
// Every loop is grid-stride, so any grid size covers any length. Where every pointer is
// 16-byte aligned, the bulk moves as 16-byte packs (4 floats or 2 doubles) and a scalar
// loop finishes the tail.

#include "common.cuh"

__device__ __forceinline__ unsigned first_thread() { return blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ unsigned thread_stride() { return gridDim.x * blockDim.x; }

// ---- fill ----------------------------------------------------------------------------------

template <typename T> __device__ void fill_impl(T* y, T value, int n)
{
    const int L = Pack<T>::Lanes;
    unsigned start = 0;
    if (aligned16(y))
    {
        Pack<T> p;
#pragma unroll
        for (int k = 0; k < L; k++) p.v[k] = value;
        unsigned packs = (unsigned)n / L;
        for (unsigned i = first_thread(); i < packs; i += thread_stride()) reinterpret_cast<Pack<T>*>(y)[i] = p;
        start = packs * L;
    }
    for (unsigned i = start + first_thread(); i < (unsigned)n; i += thread_stride()) y[i] = value;
}

extern "C" __global__ void fill_f32(float* y, float value, int n) { fill_impl(y, value, n); }
extern "C" __global__ void fill_f64(double* y, double value, int n) { fill_impl(y, value, n); }

// ---- axpy: y += alpha * x (fused, as the CPU's vector path) ---------------------------------

template <typename T> __device__ void axpy_impl(T alpha, const T* x, T* y, int n)
{
    const int L = Pack<T>::Lanes;
    unsigned start = 0;
    if (aligned16(x) && aligned16(y))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned i = first_thread(); i < packs; i += thread_stride())
        {
            Pack<T> xv = reinterpret_cast<const Pack<T>*>(x)[i];
            Pack<T> yv = reinterpret_cast<Pack<T>*>(y)[i];
#pragma unroll
            for (int k = 0; k < L; k++) yv.v[k] = fma_t(alpha, xv.v[k], yv.v[k]);
            reinterpret_cast<Pack<T>*>(y)[i] = yv;
        }
        start = packs * L;
    }
    for (unsigned i = start + first_thread(); i < (unsigned)n; i += thread_stride()) y[i] = fma_t(alpha, x[i], y[i]);
}

extern "C" __global__ void axpy_f32(float alpha, const float* x, float* y, int n) { axpy_impl(alpha, x, y, n); }
extern "C" __global__ void axpy_f64(double alpha, const double* x, double* y, int n) { axpy_impl(alpha, x, y, n); }

// ---- unary: y = f(x) ------------------------------------------------------------------------

struct ReluOp
{
    // NaN maps to 0, as the CPU's scalar form (x > 0 ? x : 0) does.
    template <typename T> __device__ static T apply(T x) { return x > T(0) ? x : T(0); }
};

struct SigmoidOp
{
    // exp(-x) overflows to infinity for very negative x, giving exactly 0 rather than NaN.
    template <typename T> __device__ static T apply(T x) { return T(1) / (T(1) + exp_t(-x)); }
};

template <typename T, typename Op> __device__ void unary_impl(const T* x, T* y, int n)
{
    const int L = Pack<T>::Lanes;
    unsigned start = 0;
    if (aligned16(x) && aligned16(y))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned i = first_thread(); i < packs; i += thread_stride())
        {
            Pack<T> v = reinterpret_cast<const Pack<T>*>(x)[i];
#pragma unroll
            for (int k = 0; k < L; k++) v.v[k] = Op::apply(v.v[k]);
            reinterpret_cast<Pack<T>*>(y)[i] = v;
        }
        start = packs * L;
    }
    for (unsigned i = start + first_thread(); i < (unsigned)n; i += thread_stride()) y[i] = Op::apply(x[i]);
}

extern "C" __global__ void relu_f32(const float* x, float* y, int n) { unary_impl<float, ReluOp>(x, y, n); }
extern "C" __global__ void relu_f64(const double* x, double* y, int n) { unary_impl<double, ReluOp>(x, y, n); }
extern "C" __global__ void sigmoid_f32(const float* x, float* y, int n) { unary_impl<float, SigmoidOp>(x, y, n); }
extern "C" __global__ void sigmoid_f64(const double* x, double* y, int n) { unary_impl<double, SigmoidOp>(x, y, n); }

// ---- unary backward: dx (+)= g(dy, y), through the forward output y -------------------------

struct ReluBackwardOp
{
    template <typename T> __device__ static T apply(T dy, T y) { return y > T(0) ? dy : T(0); }
};

struct SigmoidBackwardOp
{
    template <typename T> __device__ static T apply(T dy, T y) { return dy * y * (T(1) - y); }
};

template <typename T, typename Op> __device__ void unary_backward_impl(const T* y, const T* dy, T* dx, int n, int accumulate)
{
    const int L = Pack<T>::Lanes;
    unsigned start = 0;
    if (aligned16(y) && aligned16(dy) && aligned16(dx))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned i = first_thread(); i < packs; i += thread_stride())
        {
            Pack<T> yv = reinterpret_cast<const Pack<T>*>(y)[i];
            Pack<T> gv = reinterpret_cast<const Pack<T>*>(dy)[i];
            Pack<T> out;
            if (accumulate) out = reinterpret_cast<const Pack<T>*>(dx)[i];
#pragma unroll
            for (int k = 0; k < L; k++)
            {
                T v = Op::apply(gv.v[k], yv.v[k]);
                out.v[k] = accumulate ? out.v[k] + v : v;
            }
            reinterpret_cast<Pack<T>*>(dx)[i] = out;
        }
        start = packs * L;
    }
    for (unsigned i = start + first_thread(); i < (unsigned)n; i += thread_stride())
    {
        T v = Op::apply(dy[i], y[i]);
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

extern "C" __global__ void relu_backward_f32(const float* y, const float* dy, float* dx, int n, int accumulate)
{ unary_backward_impl<float, ReluBackwardOp>(y, dy, dx, n, accumulate); }
extern "C" __global__ void relu_backward_f64(const double* y, const double* dy, double* dx, int n, int accumulate)
{ unary_backward_impl<double, ReluBackwardOp>(y, dy, dx, n, accumulate); }
extern "C" __global__ void sigmoid_backward_f32(const float* y, const float* dy, float* dx, int n, int accumulate)
{ unary_backward_impl<float, SigmoidBackwardOp>(y, dy, dx, n, accumulate); }
extern "C" __global__ void sigmoid_backward_f64(const double* y, const double* dy, double* dx, int n, int accumulate)
{ unary_backward_impl<double, SigmoidBackwardOp>(y, dy, dx, n, accumulate); }

// ---- binary: y (+)= op(a[i], b[i mod bn]), bn dividing n ------------------------------------

struct AddOp { template <typename T> __device__ static T apply(T a, T b) { return a + b; } };
struct SubtractOp { template <typename T> __device__ static T apply(T a, T b) { return a - b; } };
struct ReverseSubtractOp { template <typename T> __device__ static T apply(T a, T b) { return b - a; } };
struct MultiplyOp { template <typename T> __device__ static T apply(T a, T b) { return a * b; } };

template <typename T, typename Op> __device__ void binary_impl(const T* a, const T* b, T* y, int n, int bn, int accumulate)
{
    const int L = Pack<T>::Lanes;
    unsigned start = 0;
    // Packs need a pack of b to lie inside one repetition (bn a multiple of the lanes), or b a scalar.
    if (aligned16(a) && aligned16(b) && aligned16(y) && (bn == 1 || bn % L == 0))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned i = first_thread(); i < packs; i += thread_stride())
        {
            Pack<T> av = reinterpret_cast<const Pack<T>*>(a)[i];
            Pack<T> bv;
            if (bn == 1)
            {
#pragma unroll
                for (int k = 0; k < L; k++) bv.v[k] = b[0];
            }
            else bv = *reinterpret_cast<const Pack<T>*>(b + (i * L) % (unsigned)bn);
            Pack<T> out;
            if (accumulate) out = reinterpret_cast<const Pack<T>*>(y)[i];
#pragma unroll
            for (int k = 0; k < L; k++)
            {
                T v = Op::apply(av.v[k], bv.v[k]);
                out.v[k] = accumulate ? out.v[k] + v : v;
            }
            reinterpret_cast<Pack<T>*>(y)[i] = out;
        }
        start = packs * L;
    }
    for (unsigned i = start + first_thread(); i < (unsigned)n; i += thread_stride())
    {
        unsigned j = bn == n ? i : bn == 1 ? 0u : i % (unsigned)bn;
        T v = Op::apply(a[i], b[j]);
        y[i] = accumulate ? y[i] + v : v;
    }
}

#define BINARY_KERNELS(name, Op)                                                                                   \
    extern "C" __global__ void name##_f32(const float* a, const float* b, float* y, int n, int bn, int accumulate)  \
    { binary_impl<float, Op>(a, b, y, n, bn, accumulate); }                                                        \
    extern "C" __global__ void name##_f64(const double* a, const double* b, double* y, int n, int bn, int accumulate) \
    { binary_impl<double, Op>(a, b, y, n, bn, accumulate); }

BINARY_KERNELS(binary_add, AddOp)
BINARY_KERNELS(binary_subtract, SubtractOp)
BINARY_KERNELS(binary_reverse_subtract, ReverseSubtractOp)
BINARY_KERNELS(binary_multiply, MultiplyOp)
