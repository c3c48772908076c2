// In-place parameter updates, one pass over parameter, gradient and state, with the CPU
// vector path's arithmetic: fused multiply-adds where it fuses, separately rounded products
// (mul_rn, which the compiler may not fuse) where it does not. 16-byte packs where every
// pointer allows, a scalar loop for the rest.

#include "common.cuh"

// Adam as Keras applies it: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// w -= stepSize * m / (sqrt(v) + eps), the caller having folded the bias corrections into
// stepSize = lr * sqrt(1 - b2^t) / (1 - b1^t).
template <typename T> __device__ __forceinline__ void adam_element(T& w, T g, T& m, T& v, T stepSize, T beta1, T beta2, T epsilon)
{
    T c1 = T(1) - beta1, c2 = T(1) - beta2;
    m = fma_t(beta1, m, mul_rn(c1, g));
    v = fma_t(beta2, v, mul_rn(mul_rn(c2, g), g));
    w = w - mul_rn(stepSize, m) / (sqrt_t(v) + epsilon);
}

template <typename T> __device__ void adam_impl(T* w, const T* g, T* m, T* v, T stepSize, T beta1, T beta2, T epsilon, int n)
{
    const int L = Pack<T>::Lanes;
    unsigned stride = gridDim.x * blockDim.x, first = blockIdx.x * blockDim.x + threadIdx.x, start = 0;
    if (aligned16(w) && aligned16(g) && aligned16(m) && aligned16(v))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned p = first; p < packs; p += stride)
        {
            Pack<T> wv = reinterpret_cast<Pack<T>*>(w)[p], gv = reinterpret_cast<const Pack<T>*>(g)[p];
            Pack<T> mv = reinterpret_cast<Pack<T>*>(m)[p], vv = reinterpret_cast<Pack<T>*>(v)[p];
#pragma unroll
            for (int k = 0; k < L; k++) adam_element(wv.v[k], gv.v[k], mv.v[k], vv.v[k], stepSize, beta1, beta2, epsilon);
            reinterpret_cast<Pack<T>*>(w)[p] = wv;
            reinterpret_cast<Pack<T>*>(m)[p] = mv;
            reinterpret_cast<Pack<T>*>(v)[p] = vv;
        }
        start = packs * L;
    }
    for (unsigned i = start + first; i < (unsigned)n; i += stride) adam_element(w[i], g[i], m[i], v[i], stepSize, beta1, beta2, epsilon);
}

extern "C" __global__ void adam_f32(float* w, const float* g, float* m, float* v, float stepSize, float beta1, float beta2, float epsilon, int n)
{ adam_impl(w, g, m, v, stepSize, beta1, beta2, epsilon, n); }
extern "C" __global__ void adam_f64(double* w, const double* g, double* m, double* v, double stepSize, double beta1, double beta2, double epsilon, int n)
{ adam_impl(w, g, m, v, stepSize, beta1, beta2, epsilon, n); }

// SGD as Keras applies it, with momentum > 0: u = momentum u - lr g; w += u, or with Nesterov
// w += momentum u - lr g. (Without momentum the host runs an axpy instead, and velocity may
// be the gradient itself.)
template <typename T> __device__ __forceinline__ void sgd_element(T& w, T g, T& u, T learningRate, T momentum, int nesterov)
{
    T step = mul_rn(learningRate, g);
    u = mul_rn(momentum, u) - step;
    w = w + (nesterov ? mul_rn(momentum, u) - step : u);
}

template <typename T> __device__ void sgd_impl(T* w, const T* g, T* u, T learningRate, T momentum, int nesterov, int n)
{
    const int L = Pack<T>::Lanes;
    unsigned stride = gridDim.x * blockDim.x, first = blockIdx.x * blockDim.x + threadIdx.x, start = 0;
    if (aligned16(w) && aligned16(g) && aligned16(u))
    {
        unsigned packs = (unsigned)n / L;
        for (unsigned p = first; p < packs; p += stride)
        {
            Pack<T> wv = reinterpret_cast<Pack<T>*>(w)[p], gv = reinterpret_cast<const Pack<T>*>(g)[p], uv = reinterpret_cast<Pack<T>*>(u)[p];
#pragma unroll
            for (int k = 0; k < L; k++) sgd_element(wv.v[k], gv.v[k], uv.v[k], learningRate, momentum, nesterov);
            reinterpret_cast<Pack<T>*>(w)[p] = wv;
            reinterpret_cast<Pack<T>*>(u)[p] = uv;
        }
        start = packs * L;
    }
    for (unsigned i = start + first; i < (unsigned)n; i += stride) sgd_element(w[i], g[i], u[i], learningRate, momentum, nesterov);
}

extern "C" __global__ void sgd_f32(float* w, const float* g, float* u, float learningRate, float momentum, int nesterov, int n)
{ sgd_impl(w, g, u, learningRate, momentum, nesterov, n); }
extern "C" __global__ void sgd_f64(double* w, const double* g, double* u, double learningRate, double momentum, int nesterov, int n)
{ sgd_impl(w, g, u, learningRate, momentum, nesterov, n); }
