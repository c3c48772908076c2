using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// A Keras-style layer: named, built on its first call from the input shape, holding its
/// trainable parameters as variables that require gradients.
/// </summary>
public abstract class Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly List<Variable<T>> _parameters = new();

    protected Layer(string? name) => Name = name ?? GetType().Name.ToLowerInvariant();

    public string Name { get; }
    public bool IsBuilt { get; private set; }
    public IReadOnlyList<Variable<T>> Parameters => _parameters;

    /// <summary>Applies the layer, building it first if needed.</summary>
    public Variable<T> Call(Variable<T> x)
    {
        if (!IsBuilt)
        {
            Build(x.Shape);
            IsBuilt = true;
        }
        return Forward(x);
    }

    protected abstract void Build(Shape inputShape);
    protected abstract Variable<T> Forward(Variable<T> x);

    protected Variable<T> AddParameter(string name, Tensor<T> value)
    {
        var p = new Variable<T>(value, requiresGrad: true, name: $"{Name}/{name}");
        _parameters.Add(p);
        return p;
    }
}
