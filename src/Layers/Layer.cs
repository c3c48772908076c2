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
    readonly List<(string Name, Tensor<T> Value)> _state = new();

    protected Layer(string? name) => Name = name ?? GetType().Name.ToLowerInvariant();

    public string Name { get; }
    public bool IsBuilt { get; private set; }
    public IReadOnlyList<Variable<T>> Parameters => _parameters;
    /// <summary>Non-trainable weights (BatchNorm's moving statistics), by name.</summary>
    public IReadOnlyList<(string Name, Tensor<T> Value)> State => _state;

    /// <summary>
    /// Training or inference behaviour (BatchNorm's statistics). Off by default, as a Keras
    /// layer called outside fit() is; a training loop turns it on.
    /// </summary>
    public bool Training { get; set; }

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

    protected Tensor<T> AddState(string name, Tensor<T> value)
    {
        _state.Add(($"{Name}/{name}", value));
        return value;
    }

    protected Variable<T> AddParameter(string name, Tensor<T> value)
    {
        var p = new Variable<T>(value, requiresGrad: true, name: $"{Name}/{name}");
        _parameters.Add(p);
        return p;
    }
}
