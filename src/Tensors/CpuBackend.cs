using System.Numerics;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>The backend on host memory: every method is one call into src/Kernels.</summary>
public sealed class CpuBackend : IBackend
{
    public static readonly CpuBackend Instance = new();

    public void Fill<T>(Tensor<T> y, T value) where T : unmanaged, IFloatingPointIeee754<T> => Elementwise.FillOnTeam(y.Span, value);
    public void Copy<T>(Tensor<T> source, Tensor<T> destination) where T : unmanaged, IFloatingPointIeee754<T> => Elementwise.CopyOnTeam<T>(source.Span, destination.Span);
    public void Axpy<T>(T alpha, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T> => Elementwise.AxpyOnTeam(alpha, x.Span, y.Span);

    public void Unary<T>(UnaryFunction f, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (f)
        {
            case UnaryFunction.Relu: Elementwise.Map<T, ReluOp<T>>(x.Span, y.Span); break;
            case UnaryFunction.Sigmoid: Elementwise.Map<T, SigmoidOp<T>>(x.Span, y.Span); break;
            default: throw new NotSupportedException(f.ToString());
        }
    }

    public void UnaryBackward<T>(UnaryFunction f, Tensor<T> y, Tensor<T> dy, Tensor<T> dx, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (f)
        {
            case UnaryFunction.Relu: Elementwise.BinaryOnTeam<T, ReluBackwardOp<T>>(dy.Span, y.Span, dx.Span, accumulate); break;
            case UnaryFunction.Sigmoid: Elementwise.BinaryOnTeam<T, SigmoidBackwardOp<T>>(dy.Span, y.Span, dx.Span, accumulate); break;
            default: throw new NotSupportedException(f.ToString());
        }
    }

    public void Binary<T>(BinaryFunction f, Tensor<T> a, Tensor<T> b, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (f)
        {
            case BinaryFunction.Add: Elementwise.Binary<T, AddOp<T>>(a.Span, b.Span, y.Span); break;
            case BinaryFunction.Subtract: Elementwise.Binary<T, SubtractOp<T>>(a.Span, b.Span, y.Span); break;
            case BinaryFunction.ReverseSubtract: Elementwise.Binary<T, ReverseSubtractOp<T>>(a.Span, b.Span, y.Span); break;
            case BinaryFunction.Multiply: Elementwise.Binary<T, MultiplyOp<T>>(a.Span, b.Span, y.Span); break;
            default: throw new NotSupportedException(f.ToString());
        }
    }

    public void MultiplyAccumulate<T>(Tensor<T> a, Tensor<T> b, Tensor<T> acc) where T : unmanaged, IFloatingPointIeee754<T>
        => Elementwise.BinaryAccumulate<T, MultiplyOp<T>>(a.Span, b.Span, acc.Span);

    public void MatMul<T>(bool transA, bool transB, int m, int n, int k, T alpha, Tensor<T> a, Tensor<T> b, T beta, Tensor<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
        // Dense row-major: the leading dimension is the row length, at least 1 as BLAS requires.
        => Gemm.Multiply(transA, transB, m, n, k, alpha, a.Span, Math.Max(1, transA ? m : k), b.Span, Math.Max(1, transB ? k : n), beta, c.Span, Math.Max(1, n));

    public void SumAll<T>(Tensor<T> x, T alpha, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => y.Span[0] = alpha * Reductions.Sum<T>(x.Span);

    public void SumAxisAccumulate<T>(Tensor<T> x, int outer, int axis, int inner, T alpha, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => Reductions.SumAxisAccumulate<T>(x.Span, outer, axis, inner, alpha, y.Span);

    public void BroadcastAxisAccumulate<T>(Tensor<T> dy, int outer, int axis, int inner, T alpha, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
        => Reductions.BroadcastAxisAccumulate<T>(dy.Span, outer, axis, inner, alpha, dx.Span);

    public void Softmax<T>(Tensor<T> x, int classes, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => Kernels.Softmax.Forward<T>(x.Span, classes, y.Span);

    public void SoftmaxBackward<T>(Tensor<T> y, Tensor<T> dy, int classes, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
        => Kernels.Softmax.BackwardAccumulate<T>(y.Span, dy.Span, classes, dx.Span);

    public void SoftmaxCrossEntropy<T>(Tensor<T> logits, Tensor<T> targets, int classes, T scale, Tensor<T> probabilities, Tensor<T> loss)
        where T : unmanaged, IFloatingPointIeee754<T>
        => loss.Span[0] = scale * Kernels.Softmax.CrossEntropyForward<T>(logits.Span, targets.Span, classes, probabilities.Span);

    public void SoftmaxCrossEntropyBackward<T>(Tensor<T> probabilities, Tensor<T> targets, int classes, Tensor<T> upstream, T scale, Tensor<T> dLogits)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Kernels.Softmax.CrossEntropyBackwardAccumulate<T>(probabilities.Span, targets.Span, classes, upstream.Span[0] * scale, dLogits.Span);

    /// <summary>
    /// 3x3 stride-1 'same' layers on images of at least 4x4 by Winograd F(2x2, 3x3) (2.25 times
    /// fewer multiplications); every other shape is an implicit GEMM that reads windows straight
    /// from the (padded) image. Bias and ReLU are applied as outputs are stored and the scale as
    /// the kernel is packed or transformed (a 1x1 stride-1 layer reads x as it lies).
    /// </summary>
    public void Conv2DForward<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> kernel, Tensor<T>? bias, Tensor<T> y, bool relu = false,
        Tensor<T>? scale = null, bool accumulate = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int filters = kernel.Shape[3];
        var b = bias == null ? default : bias.Span;
        var s = scale == null ? default : scale.Span;
        if (WinogradConvolution.Handles<T>(g, filters)) WinogradConvolution.Forward<T>(g, x.Span, kernel.Span, b, filters, y.Span, relu, accumulate, scale: s);
        else if (PolyphaseWinogradConvolution.Handles<T>(g, filters)) PolyphaseWinogradConvolution.Forward<T>(g, x.Span, kernel.Span, b, filters, y.Span, relu, accumulate, scale: s);
        else ImplicitConvolution.Forward<T>(g, x.Span, kernel.Span, b, filters, y.Span, relu, accumulate, scale: s);
    }

    /// <summary>
    /// db sums dy (as dW packs it); dW is windows^T dy packed straight from the image (by Winograd
    /// where the forward is, the dy sums then taken as dy is transformed); dx is dy w^T for 1x1
    /// stride-1 layers, a convolution of dy with the rotated kernel for other stride-1 layers
    /// (by Winograd where the forward would be), and dy w^T folded back by col2im for strided ones.
    /// </summary>
    public void Conv2DBackward<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> kernel, Tensor<T> dy, Tensor<T>? dx, Tensor<T>? dKernel, Tensor<T>? dBias, bool accumulateDx = true,
        bool accumulateDKernel = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int filters = kernel.Shape[3];
        // The bias gradient comes with the weight gradient's pass over dy when there is one.
        if (dKernel != null && WinogradConvolution.Handles<T>(g, filters))
            WinogradConvolution.WeightGradient<T>(g, x.Span, dy.Span, filters, dKernel.Span, accumulateDKernel, dBias: dBias == null ? default : dBias.Span);
        else if (dKernel != null)
            ImplicitConvolution.WeightGradient<T>(g, x.Span, dy.Span, filters, dKernel.Span, accumulateDKernel, dBias: dBias == null ? default : dBias.Span);
        else if (dBias != null) SumAxisAccumulate(dy, 1, g.Rows, filters, T.One, dBias);
        if (dx == null) return;
        if (Convolution.IsPointwise(g))
            MatMul(false, true, g.Rows, g.Patch, filters, T.One, dy, kernel, accumulateDx ? T.One : T.Zero, dx);
        else if (WinogradConvolution.HandlesInputGradient<T>(g, filters))
            WinogradConvolution.BackwardInput<T>(g, dy.Span, kernel.Span, filters, dx.Span, accumulateDx);
        else if (ImplicitConvolution.HandlesInputGradient(g))
            ImplicitConvolution.BackwardInput<T>(g, dy.Span, kernel.Span, filters, dx.Span, accumulateDx);
        else
        {
            // Strided windows overlap or skip input positions: scatter them back. Windows that
            // never overlap (a strided 1x1 layer's) write each value of dx once, zeros included;
            // overlapping ones add into a cleared dx.
            using var dCols = Tensor<T>.Empty(new Shape(g.Rows, g.Patch), dy.Device);
            MatMul(false, true, g.Rows, g.Patch, filters, T.One, dy, kernel, T.Zero, dCols);
            if (g.StrideH >= g.KernelH && g.StrideW >= g.KernelW)
                Convolution.Col2ImDisjoint<T>(g, dCols.Span, dx.Span, accumulateDx);
            else
            {
                if (!accumulateDx) Fill(dx, T.Zero);
                Col2ImAccumulate(g, dCols, dx);
            }
        }
    }

    public void Im2Col<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> cols) where T : unmanaged, IFloatingPointIeee754<T>
        => Convolution.Im2Col<T>(g, x.Span, cols.Span);

    public void Col2ImAccumulate<T>(in ConvGeometry g, Tensor<T> dCols, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
        => Convolution.Col2ImAccumulate<T>(g, dCols.Span, dx.Span);

    public void Pool<T>(PoolFunction f, in ConvGeometry g, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (f == PoolFunction.Max) Pooling.MaxForward<T>(g, x.Span, y.Span);
        else Pooling.AverageForward<T>(g, x.Span, y.Span);
    }

    public void PoolBackward<T>(PoolFunction f, in ConvGeometry g, Tensor<T> x, Tensor<T> y, Tensor<T> dy, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (f == PoolFunction.Max) Pooling.MaxBackwardAccumulate<T>(g, x.Span, y.Span, dy.Span, dx.Span);
        else Pooling.AverageBackwardAccumulate<T>(g, dy.Span, dx.Span);
    }

    public void ZeroPad<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => Padding.ZeroPad<T>(g, x.Span, y.Span);

    public void ZeroPadBackward<T>(in ConvGeometry g, Tensor<T> dy, Tensor<T> dx, bool accumulate = true) where T : unmanaged, IFloatingPointIeee754<T>
        => Padding.ZeroPadBackward<T>(g, dy.Span, dx.Span, accumulate);

    public void BatchNormForward<T>(Tensor<T> x, Tensor<T> gamma, Tensor<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, T momentum, T epsilon, Tensor<T> mean, Tensor<T> invStd, Tensor<T> y, bool relu, Tensor<T>? residual = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = gamma.Length;
        var r = residual == null ? default : residual.Span;
        if (training)
            Kernels.BatchNorm.ForwardTraining<T>(x.Span, channels, gamma.Span, beta.Span, momentum, epsilon, movingMean.Span, movingVariance.Span, mean.Span, invStd.Span, y.Span, relu, r);
        else
        {
            movingMean.Span.CopyTo(mean.Span);
            Kernels.BatchNorm.ForwardInference<T>(x.Span, channels, gamma.Span, beta.Span, movingMean.Span, movingVariance.Span, epsilon, invStd.Span, y.Span, relu, r);
        }
    }

    public void BatchNormBackward<T>(Tensor<T> x, Tensor<T> dy, Tensor<T> gamma, Tensor<T> mean, Tensor<T> invStd, bool training,
        Tensor<T>? dx, Tensor<T>? dGamma, Tensor<T>? dBeta, Tensor<T>? reluOutput, bool accumulateDx = true) where T : unmanaged, IFloatingPointIeee754<T>
        => Kernels.BatchNorm.Backward<T>(x.Span, dy.Span, gamma.Length, gamma.Span, mean.Span, invStd.Span, training,
            dx == null ? default : dx.Span, dGamma == null ? default : dGamma.Span, dBeta == null ? default : dBeta.Span,
            reluOutput == null ? default : reluOutput.Span, accumulateDx);

    public void Adam<T>(Tensor<T> w, Tensor<T> g, Tensor<T> m, Tensor<T> v, T stepSize, T beta1, T beta2, T epsilon) where T : unmanaged, IFloatingPointIeee754<T>
        => OptimizerKernels.AdamOnTeam<T>(w.Span, g.Span, m.Span, v.Span, stepSize, beta1, beta2, epsilon);

    public void Sgd<T>(Tensor<T> w, Tensor<T> g, Tensor<T> velocity, T learningRate, T momentum, bool nesterov) where T : unmanaged, IFloatingPointIeee754<T>
        => OptimizerKernels.Sgd<T>(w.Span, g.Span, velocity.Span, learningRate, momentum, nesterov);
}
