using System.Numerics;
using Engine.Autograd;

namespace Engine.Layers;

/// <summary>Keras Sequential: layers applied in order.</summary>
public sealed class Sequential<T>(params Layer<T>[] layers) where T : unmanaged, IFloatingPointIeee754<T>
{
    public IReadOnlyList<Layer<T>> Layers { get; } = layers;

    /// <summary>Every trainable parameter, in layer order (valid once the model has been called).</summary>
    public IEnumerable<Variable<T>> Parameters => Layers.SelectMany(l => l.Parameters);

    public Variable<T> Call(Variable<T> x)
    {
        foreach (var layer in Layers) x = layer.Call(x);
        return x;
    }
}
