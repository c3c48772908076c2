// Device helpers shared by the kernel sources, which include this file (#include "common.cuh").
// NVRTC compiles each .cu on its own; the embedded headers (*.cuh) are handed to every
// compilation as in-memory include files (CudaKernelSources.Headers), so this is one copy.
// Everything here is __forceinline__ or a template: a source that does not use a helper pays
// nothing for it.

#ifndef ENGINE_COMMON_CUH
#define ENGINE_COMMON_CUH

// ---- 16-byte packs ----------------------------------------------------------------------------

// 16 bytes of T (4 floats or 2 doubles), moved with one vector load or store.
template <typename T> struct alignas(16) Pack
{
    static const int Lanes = 16 / sizeof(T);
    T v[Lanes];
};

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<unsigned long long>(p) & 15ull) == 0; }

// ---- arithmetic by element type ------------------------------------------------------------------

// One rounding of a * b + c, whatever the compiler's contraction setting.
__device__ __forceinline__ float fma_t(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double fma_t(double a, double b, double c) { return fma(a, b, c); }

// A product rounded on its own, which the compiler may not fuse into a multiply-add: for
// products the CPU code rounds before adding.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

__device__ __forceinline__ float sqrt_t(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt_t(double x) { return sqrt(x); }
__device__ __forceinline__ float exp_t(float x) { return expf(x); }
__device__ __forceinline__ double exp_t(double x) { return exp(x); }

__device__ __forceinline__ bool sign_bit(float x) { return __float_as_int(x) < 0; }
__device__ __forceinline__ bool sign_bit(double x) { return __double_as_longlong(x) < 0; }

// The maximum as .NET's T.Max and Vector256.Max take it (IEEE 754-2019 maximum): NaN when
// either operand is NaN, and +0 above -0. (fmaxf / fmax would drop a NaN operand.)
template <typename T> __device__ __forceinline__ T max_t(T a, T b)
{
    if (a != a || b != b) return a + b;
    return a > b || (a == b && !sign_bit(a)) ? a : b;
}

#endif
