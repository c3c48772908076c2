using System.Numerics;

namespace Engine.Tensors;

/// <summary>Parameter updates in place: kernels of optimizers.cu, one pass over w, g and the state.</summary>
public sealed partial class CudaBackend
{
    const string OptimizersSource = "optimizers.cu";

    /// <summary>
    /// Adam as Keras applies it: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    /// w -= stepSize * m / (sqrt(v) + epsilon), stepSize carrying the bias corrections.
    /// </summary>
    public void Adam<T>(Tensor<T> w, Tensor<T> g, Tensor<T> m, Tensor<T> v, T stepSize, T beta1, T beta2, T epsilon) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Kernels.OptimizerKernels.CheckState(w.Length, g.Length, m.Length, v.Length);
        LaunchElements<T>(OptimizersSource, "adam", PackThreads<T>(w.Length),
            Ptr(w), Ptr(g), Ptr(m), Ptr(v), Scalar(stepSize), Scalar(beta1), Scalar(beta2), Scalar(epsilon), w.Length);
    }

    /// <summary>
    /// SGD as Keras applies it. Without momentum w -= lr g (velocity unused: callers pass the
    /// gradient there); with momentum u = momentum u - lr g; w += u, or with Nesterov
    /// w += momentum u - lr g.
    /// </summary>
    public void Sgd<T>(Tensor<T> w, Tensor<T> g, Tensor<T> velocity, T learningRate, T momentum, bool nesterov) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (momentum == T.Zero)
        {
            Axpy(-learningRate, g, w);
            return;
        }
        Kernels.OptimizerKernels.CheckState(w.Length, g.Length, velocity.Length, velocity.Length);
        LaunchElements<T>(OptimizersSource, "sgd", PackThreads<T>(w.Length),
            Ptr(w), Ptr(g), Ptr(velocity), Scalar(learningRate), Scalar(momentum), nesterov ? 1 : 0, w.Length);
    }
}
