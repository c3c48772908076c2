using System.Numerics;

namespace Engine.Layers;

public sealed partial class Model<T>
{
    /// <summary>
    /// Multiply-adds of one sample's forward pass in the convolutions and dense layers, the
    /// count GFLOP/s figures use (2 FLOPs per multiply-add); batch norm, pooling and
    /// element-wise layers are left out, as PyTorch's and Keras' profilers leave them out.
    /// ResNet-50 at 64x64x3: about 0.308 G.
    /// </summary>
    public long ForwardMacsPerSample => _schedule.Sum(MacsPerSample);

    /// <summary>One node's share of <see cref="ForwardMacsPerSample"/>.</summary>
    internal static long MacsPerSample(SymbolicTensor<T> node) => node.Layer switch
    {
        // Every output position of a convolution is one pass over the whole kernel.
        Conv2D<T> conv => (long)node.SampleShape[0] * node.SampleShape[1] * conv.Kernel.Value.Length,
        Dense<T> dense => dense.Kernel.Value.Length * (node.SampleShape.Size / dense.Units),
        _ => 0,
    };
}
