// Convolution data movement on NHWC: im2col and col2im. (The convolutions themselves are
// implicit GEMMs on gemm.cu's tile engine and never build the window matrix; these serve the
// backend's Im2Col / Col2ImAccumulate.) Window element order is (kh, kw, c), as HWIO kernels'
// rows. Geometry: x [N,H,W,C], window KH x KW moved by (sh, sw), padding pt (top) and pl
// (left) (bottom / right padding only shows in OH, OW), output positions [N,OH,OW].
// Loops are grid-stride, so any grid covers any size.

#define CONV_GEOMETRY_PARAMS int N, int H, int W, int C, int KH, int KW, int sh, int sw, int pt, int pl, int OH, int OW
#define CONV_GEOMETRY N, H, W, C, KH, KW, sh, sw, pt, pl, OH, OW

// cols[row, p] = x at output position row's window element p, zero in the padding.
// Consecutive threads write consecutive p, which within a tap are adjacent channels of x.
template <typename T> __device__ void im2col_impl(const T* x, T* cols, CONV_GEOMETRY_PARAMS)
{
    const int patch = KH * KW * C, pixels = OH * OW;
    const unsigned total = (unsigned)(N * pixels) * (unsigned)patch;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x)
    {
        int row = (int)(i / (unsigned)patch), p = (int)(i - (unsigned)row * (unsigned)patch);
        int tap = p / C, c = p - tap * C, kh = tap / KW, kw = tap - kh * KW;
        int n = row / pixels, rem = row - n * pixels, oy = rem / OW, ox = rem - oy * OW;
        int ih = oy * sh - pt + kh, iw = ox * sw - pl + kw;
        cols[i] = (unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W ? x[((n * H + ih) * W + iw) * C + c] : T(0);
    }
}

extern "C" __global__ void im2col_f32(const float* x, float* cols, CONV_GEOMETRY_PARAMS) { im2col_impl(x, cols, CONV_GEOMETRY); }
extern "C" __global__ void im2col_f64(const double* x, double* cols, CONV_GEOMETRY_PARAMS) { im2col_impl(x, cols, CONV_GEOMETRY); }

// dx[n, ih, iw, c] += the sum of dCols over the windows that read that element: a gather per
// input element (no atomics, each dx element written by one thread). Tap kh reaches input row
// ih from output row oy = (ih + pt - kh) / sh when that division is exact and oy < OH.
template <typename T> __device__ void col2im_accumulate_impl(const T* dCols, T* dx, CONV_GEOMETRY_PARAMS)
{
    const int patch = KH * KW * C;
    const unsigned total = (unsigned)(N * H * W) * (unsigned)C;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x)
    {
        int pixel = (int)(i / (unsigned)C), c = (int)(i - (unsigned)pixel * (unsigned)C);
        int iw = pixel % W, t = pixel / W, ih = t % H, n = t / H;
        T sum = T(0);
        for (int kh = 0; kh < KH; kh++)
        {
            int oyStride = ih + pt - kh;
            if (oyStride < 0) break;  // larger kh only lowers it further
            int oy = oyStride / sh;
            if (oy * sh != oyStride || oy >= OH) continue;
            for (int kw = 0; kw < KW; kw++)
            {
                int oxStride = iw + pl - kw;
                if (oxStride < 0) break;
                int ox = oxStride / sw;
                if (ox * sw != oxStride || ox >= OW) continue;
                sum += dCols[((n * OH + oy) * OW + ox) * patch + (kh * KW + kw) * C + c];
            }
        }
        dx[i] += sum;
    }
}

extern "C" __global__ void col2im_accumulate_f32(const float* dCols, float* dx, CONV_GEOMETRY_PARAMS) { col2im_accumulate_impl(dCols, dx, CONV_GEOMETRY); }
extern "C" __global__ void col2im_accumulate_f64(const double* dCols, double* dx, CONV_GEOMETRY_PARAMS) { col2im_accumulate_impl(dCols, dx, CONV_GEOMETRY); }
