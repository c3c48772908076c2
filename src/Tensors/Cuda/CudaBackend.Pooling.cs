using System.Numerics;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>
/// Pooling and zero padding of NHWC images: kernels of pooling.cu and padding.cu, one thread
/// per element written. The backward passes gather from the windows covering each input
/// element, so no two threads write one element and no atomics are needed.
/// </summary>
public sealed partial class CudaBackend
{
    const string PoolingSource = "pooling.cu";
    const string PaddingSource = "padding.cu";

    /// <summary>y [N,OH,OW,C] = max or mean of each 'valid' window of x [N,H,W,C].</summary>
    public void Pool<T>(PoolFunction f, in ConvGeometry g, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Pooling.Check(g, x.Length, y.Length);
        string kernel = f == PoolFunction.Max ? "max_pool_forward" : "avg_pool_forward";
        LaunchElements<T>(PoolingSource, kernel, y.Length, Ptr(x), Ptr(y),
            g.Batch, g.Height, g.Width, g.Channels, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.OutHeight, g.OutWidth);
    }

    /// <summary>
    /// dx += the pooling's gradient. Max: each window's dy goes to its first element (window
    /// order) equal to y, found again from x; average: dy / (KH*KW) to every element of the window.
    /// </summary>
    public void PoolBackward<T>(PoolFunction f, in ConvGeometry g, Tensor<T> x, Tensor<T> y, Tensor<T> dy, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Pooling.Check(g, dx.Length, dy.Length);
        if (f == PoolFunction.Max)
        {
            Pooling.Check(g, x.Length, y.Length);
            LaunchElements<T>(PoolingSource, "max_pool_backward", dx.Length, Ptr(x), Ptr(y), Ptr(dy), Ptr(dx),
                g.Batch, g.Height, g.Width, g.Channels, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.OutHeight, g.OutWidth);
        }
        else
            LaunchElements<T>(PoolingSource, "avg_pool_backward", dx.Length, Ptr(dy), Ptr(dx),
                g.Batch, g.Height, g.Width, g.Channels, g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.OutHeight, g.OutWidth);
    }

    /// <summary>y = x with zero borders (g: a 1x1 stride-1 geometry whose padding is the border); every element of y is written.</summary>
    public void ZeroPad<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Padding.Check(g, x.Length, y.Length);
        LaunchElements<T>(PaddingSource, "zero_pad", y.Length, Ptr(x), Ptr(y),
            g.Batch, g.Height, g.Width, g.Channels, g.PadTop, g.PadLeft, g.OutHeight, g.OutWidth);
    }

    /// <summary>dx (+)= the interior of dy; overwrites dx unless accumulate.</summary>
    public void ZeroPadBackward<T>(in ConvGeometry g, Tensor<T> dy, Tensor<T> dx, bool accumulate = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Padding.Check(g, dx.Length, dy.Length);
        LaunchElements<T>(PaddingSource, "zero_pad_backward", dx.Length, Ptr(dy), Ptr(dx),
            g.Batch, g.Height, g.Width, g.Channels, g.PadTop, g.PadLeft, g.OutHeight, g.OutWidth, accumulate ? 1 : 0);
    }
}
