// The smallest real kernel: a context runs it once when it is created, to prove that this
// NVRTC's PTX loads and runs on the device, and the device tests check it element by element.

// It includes the shared header too, so a context that passes its check also knows that the
// embedded headers reach the compiler.

#include "common.cuh"

// y[i] = a * x[i] + b for i < n. x and y are n elements; a grid-stride loop, so any grid covers n.
template <typename T>
__device__ void axpb_impl(const T* x, T* y, T a, T b, int n)
{
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = fma_t(a, x[i], b);  // one rounding, as the host's Math.FusedMultiplyAdd
}

extern "C" __global__ void axpb_f32(const float* x, float* y, float a, float b, int n) { axpb_impl(x, y, a, b, n); }
extern "C" __global__ void axpb_f64(const double* x, double* y, double a, double b, int n) { axpb_impl(x, y, a, b, n); }
