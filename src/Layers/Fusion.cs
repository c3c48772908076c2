using System.Numerics;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>Rewrites that make inference cheaper without changing its results.</summary>
public static class Fusion
{
    /// <summary>
    /// Folds an inference-mode batch norm into the convolution before it. Per filter f, with
    /// s = gamma / sqrt(moving_variance + epsilon):
    /// kernel'[..., f] = kernel[..., f] * s and bias'[f] = (bias[f] - moving_mean[f]) * s + beta[f],
    /// so conv'(x) == BN(conv(x)) exactly in real arithmetic. Both layers must be built. Returns
    /// new tensors; the layers are left unchanged.
    /// </summary>
    public static (Tensor<T> Kernel, Tensor<T> Bias) FoldBatchNorm<T>(Conv2D<T> conv, BatchNormalization<T> bn) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (scale, bias) = BatchNormScaleShift(conv, bn);
        using (scale)
        {
            var kernel = conv.Kernel.Value.To(Device.Cpu);
            var k = kernel.Span;
            var s = scale.ToArray();
            int filters = conv.Filters;
            for (int f = 0; f < filters; f++)
                for (int i = f; i < k.Length; i += filters) k[i] *= s[f];
            kernel.MoveTo(conv.Kernel.Value.Device);
            return (kernel, bias);
        }
    }

    /// <summary>
    /// The per-filter scale s = gamma / sqrt(moving_variance + epsilon) and shift
    /// (bias - moving_mean) * s + beta that turn conv(x) into BN(conv(x)) in inference:
    /// BN(conv(x) + bias) == conv(x) * s + shift. [filters] each, new tensors.
    /// </summary>
    public static (Tensor<T> Scale, Tensor<T> Shift) BatchNormScaleShift<T>(Conv2D<T> conv, BatchNormalization<T> bn) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!conv.IsBuilt || !bn.IsBuilt) throw new InvalidOperationException("fold batch norm: both layers must have been called (built) first");
        int filters = conv.Filters;
        if (bn.Gamma.Shape != new Shape(filters)) throw new ArgumentException($"fold batch norm: {bn.Name} has {bn.Gamma.Shape[0]} channels, {conv.Name} {filters} filters");
        var scale = Tensor<T>.Empty(new Shape(filters));
        var shift = Tensor<T>.Empty(new Shape(filters));
        T epsilon = T.CreateChecked(bn.Epsilon);
        // A few hundred values per layer: computed on the host, whatever the device.
        T[] gamma = bn.Gamma.Value.ToArray(), variance = bn.MovingVariance.ToArray(), mean = bn.MovingMean.ToArray(), beta = bn.Beta.Value.ToArray();
        T[]? bias = conv.Bias?.Value.ToArray();
        for (int f = 0; f < filters; f++)
        {
            T s = gamma[f] / T.Sqrt(variance[f] + epsilon);
            scale.Span[f] = s;
            T b = bias?[f] ?? T.Zero;
            shift.Span[f] = (b - mean[f]) * s + beta[f];
        }
        var device = conv.Kernel.Value.Device;
        if (device != Device.Cpu)
        {
            scale.MoveTo(device);
            shift.MoveTo(device);
        }
        return (scale, shift);
    }
}
