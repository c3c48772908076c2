using System.Numerics;
using Engine.Kernels;

namespace Engine.Tensors;

/// <summary>Element-wise functions a backend provides.</summary>
public enum UnaryFunction { Relu, Sigmoid }

/// <summary>Two-operand functions; the second operand may repeat along the first (bias broadcast).</summary>
public enum BinaryFunction { Add, Subtract, ReverseSubtract, Multiply }

/// <summary>What a pooling window computes.</summary>
public enum PoolFunction { Max, Average }

/// <summary>
/// The primitive computations ops are built from, on tensors of one device. Every method
/// takes whole tensors so a GPU backend can work on device pointers; "Accumulate" methods add
/// into their output (gradients accumulate), the others overwrite it.
/// </summary>
public interface IBackend
{
    void Fill<T>(Tensor<T> y, T value) where T : unmanaged, IFloatingPointIeee754<T>;
    void Copy<T>(Tensor<T> source, Tensor<T> destination) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y += alpha * x.</summary>
    void Axpy<T>(T alpha, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y = f(x).</summary>
    void Unary<T>(UnaryFunction f, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>dx (+)= dy * f'(x), expressed through the forward output y; overwrites dx unless accumulate.</summary>
    void UnaryBackward<T>(UnaryFunction f, Tensor<T> y, Tensor<T> dy, Tensor<T> dx, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y = f(a, b), b repeating along a (b.Length divides a.Length).</summary>
    void Binary<T>(BinaryFunction f, Tensor<T> a, Tensor<T> b, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>acc += a * b, b repeating along a.</summary>
    void MultiplyAccumulate<T>(Tensor<T> a, Tensor<T> b, Tensor<T> acc) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C on contiguous row-major tensors.</summary>
    void MatMul<T>(bool transA, bool transB, int m, int n, int k, T alpha, Tensor<T> a, Tensor<T> b, T beta, Tensor<T> c) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y (one element) = alpha * sum(x).</summary>
    void SumAll<T>(Tensor<T> x, T alpha, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y[o,i] += alpha * sum_a x[o,a,i].</summary>
    void SumAxisAccumulate<T>(Tensor<T> x, int outer, int axis, int inner, T alpha, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>dx[o,a,i] += alpha * dy[o,i].</summary>
    void BroadcastAxisAccumulate<T>(Tensor<T> dy, int outer, int axis, int inner, T alpha, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>Row-wise softmax over the last `classes` elements.</summary>
    void Softmax<T>(Tensor<T> x, int classes, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    void SoftmaxBackward<T>(Tensor<T> y, Tensor<T> dy, int classes, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>loss (one element) = scale * sum of row cross-entropies of softmax(logits); probabilities written.</summary>
    void SoftmaxCrossEntropy<T>(Tensor<T> logits, Tensor<T> targets, int classes, T scale, Tensor<T> probabilities, Tensor<T> loss) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>dLogits += upstream[0] * scale * (p * sum(t) - t).</summary>
    void SoftmaxCrossEntropyBackward<T>(Tensor<T> probabilities, Tensor<T> targets, int classes, Tensor<T> upstream, T scale, Tensor<T> dLogits) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>
    /// y [N,H',W',F] = (y when accumulating) + conv(x [N,H,W,C], kernel [KH,KW,C,F]) (* scale [F]) (+ bias [F]),
    /// then max(y, 0) when relu.
    /// </summary>
    void Conv2DForward<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> kernel, Tensor<T>? bias, Tensor<T> y, bool relu = false,
        Tensor<T>? scale = null, bool accumulate = false) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>
    /// Accumulates the convolution's gradients into those of dKernel, dBias that are not null, and
    /// into dx; overwrites dx when accumulateDx is false, and dKernel when accumulateDKernel is.
    /// </summary>
    void Conv2DBackward<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> kernel, Tensor<T> dy, Tensor<T>? dx, Tensor<T>? dKernel, Tensor<T>? dBias, bool accumulateDx = true,
        bool accumulateDKernel = true) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>cols[rows, patch] = every output position's window of x (NHWC), zeros in the padding.</summary>
    void Im2Col<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> cols) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>dx += dCols scattered back to the input positions its windows came from.</summary>
    void Col2ImAccumulate<T>(in ConvGeometry g, Tensor<T> dCols, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y = max or mean of each window of x.</summary>
    void Pool<T>(PoolFunction f, in ConvGeometry g, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>dx += the pooling's gradient (max: to the maximal element; average: shared evenly).</summary>
    void PoolBackward<T>(PoolFunction f, in ConvGeometry g, Tensor<T> x, Tensor<T> y, Tensor<T> dy, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>y = x with zero borders (g: a 1x1 stride-1 geometry whose padding is the border).</summary>
    void ZeroPad<T>(in ConvGeometry g, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>dx (+)= the interior of dy; overwrites dx unless accumulate.</summary>
    void ZeroPadBackward<T>(in ConvGeometry g, Tensor<T> dy, Tensor<T> dx, bool accumulate = true) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>
    /// Batch normalisation of x [rows, C] over rows. Training: batch statistics, moving ones
    /// updated with momentum; inference: moving statistics. Writes the mean and 1/std it used.
    /// </summary>
    /// <param name="relu">Fuse a ReLU into the output (y = max(bn(x), 0)).</param>
    /// <param name="residual">Added to bn(x) before the ReLU (a residual join), x's shape.</param>
    void BatchNormForward<T>(Tensor<T> x, Tensor<T> gamma, Tensor<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, T momentum, T epsilon, Tensor<T> mean, Tensor<T> invStd, Tensor<T> y, bool relu, Tensor<T>? residual = null) where T : unmanaged, IFloatingPointIeee754<T>;
    /// <summary>
    /// Accumulates the batch-norm gradients into those of dx, dGamma, dBeta that are not null
    /// (dx is overwritten instead when accumulateDx is false);
    /// reluOutput (the fused forward's y) gates dy where the ReLU was closed.
    /// </summary>
    void BatchNormBackward<T>(Tensor<T> x, Tensor<T> dy, Tensor<T> gamma, Tensor<T> mean, Tensor<T> invStd, bool training,
        Tensor<T>? dx, Tensor<T>? dGamma, Tensor<T>? dBeta, Tensor<T>? reluOutput, bool accumulateDx = true) where T : unmanaged, IFloatingPointIeee754<T>;
    void Adam<T>(Tensor<T> w, Tensor<T> g, Tensor<T> m, Tensor<T> v, T stepSize, T beta1, T beta2, T epsilon) where T : unmanaged, IFloatingPointIeee754<T>;
    void Sgd<T>(Tensor<T> w, Tensor<T> g, Tensor<T> velocity, T learningRate, T momentum, bool nesterov) where T : unmanaged, IFloatingPointIeee754<T>;
}
