// Zero padding of NHWC images: x [N,H,W,C] -> y [N,OH,OW,C] with OH = H + top + bottom,
// OW = W + left + right, x at rows top.., columns left.. and zeros around it. One thread per
// element of the larger side for the forward (every element of y is written), of x for the
// backward (only the interior of dy has a gradient to pass back).

template <typename T> __device__ void zero_pad_impl(const T* x, T* y, int N, int H, int W, int C, int top, int left, int OH, int OW)
{
    int total = N * OH * OW * C;
    for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < (unsigned)total; k += gridDim.x * blockDim.x)
    {
        int c = k % C, t = k / C;
        int w = t % OW - left;
        t /= OW;
        int h = t % OH - top, n = t / OH;
        y[k] = (unsigned)h < (unsigned)H && (unsigned)w < (unsigned)W ? x[((n * H + h) * W + w) * C + c] : T(0);
    }
}

extern "C" __global__ void zero_pad_f32(const float* x, float* y, int N, int H, int W, int C, int top, int left, int OH, int OW)
{ zero_pad_impl(x, y, N, H, W, C, top, left, OH, OW); }
extern "C" __global__ void zero_pad_f64(const double* x, double* y, int N, int H, int W, int C, int top, int left, int OH, int OW)
{ zero_pad_impl(x, y, N, H, W, C, top, left, OH, OW); }

// dx (+)= the interior of dy; the gradient that reached the padding is dropped.
template <typename T> __device__ void zero_pad_backward_impl(const T* dy, T* dx, int N, int H, int W, int C, int top, int left, int OH, int OW, int accumulate)
{
    int total = N * H * W * C;
    for (unsigned k = blockIdx.x * blockDim.x + threadIdx.x; k < (unsigned)total; k += gridDim.x * blockDim.x)
    {
        int c = k % C, t = k / C;
        int w = t % W;
        t /= W;
        int h = t % H, n = t / H;
        T g = dy[((n * OH + h + top) * OW + w + left) * C + c];
        dx[k] = accumulate ? dx[k] + g : g;
    }
}

extern "C" __global__ void zero_pad_backward_f32(const float* dy, float* dx, int N, int H, int W, int C, int top, int left, int OH, int OW, int accumulate)
{ zero_pad_backward_impl(dy, dx, N, H, W, C, top, left, OH, OW, accumulate); }
extern "C" __global__ void zero_pad_backward_f64(const double* dy, double* dx, int N, int H, int W, int C, int top, int left, int OH, int OW, int accumulate)
{ zero_pad_backward_impl(dy, dx, N, H, W, C, top, left, OH, OW, accumulate); }
