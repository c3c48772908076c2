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
    readonly List<SymbolicTensor<T>> _inboundNodes = new();

    /// <param name="name">The layer's name; null for Keras' automatic one, <paramref name="prefix"/>_1, _2, ...</param>
    /// <param name="prefix">Keras' snake_case name of the layer type (conv2d, batch_normalization).</param>
    protected Layer(string? name, string prefix) => Name = name ?? LayerNames.Next(prefix);

    public string Name { get; }

    /// <summary>The class name Keras prints in summary() ("Conv2D", "BatchNormalization").</summary>
    public virtual string TypeName => GetType().Name.Split('`')[0];
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

    /// <summary>
    /// Keras' functional call: records this layer applied to a symbolic input (no data flows)
    /// and returns its symbolic output, building the layer from the input's shape first.
    /// </summary>
    public SymbolicTensor<T> Call(SymbolicTensor<T> x) => Connect([x]);

    /// <summary>Records one application of this layer to symbolic inputs (a node of the graph).</summary>
    protected SymbolicTensor<T> Connect(SymbolicTensor<T>[] inputs)
    {
        var shapes = inputs.Select(i => i.WithBatch(1)).ToArray();
        var output = OutputShapeOf(shapes);
        if (!IsBuilt)
        {
            Build(shapes.Length > 0 ? shapes[0] : output);
            IsBuilt = true;
        }
        var node = new SymbolicTensor<T>(this, inputs, new Shape(output.Dims[1..].ToArray()), _inboundNodes.Count);
        _inboundNodes.Add(node);
        return node;
    }

    /// <summary>The graph nodes this layer produced, in the order it was applied (Keras' node index).</summary>
    public IReadOnlyList<SymbolicTensor<T>> InboundNodes => _inboundNodes;

    /// <summary>Output shape for an input shape (both with the batch axis), without computing anything.</summary>
    public abstract Shape OutputShape(Shape inputShape);

    /// <summary>The output shape for all of a node's inputs; merge layers override it.</summary>
    internal virtual Shape OutputShapeOf(IReadOnlyList<Shape> inputShapes)
    {
        if (inputShapes.Count != 1) throw new ArgumentException($"{Name} ({TypeName}) takes one input, got {inputShapes.Count}");
        return OutputShape(inputShapes[0]);
    }

    /// <summary>Runs the layer on concrete inputs, one per symbolic input of its node.</summary>
    internal virtual Variable<T> Invoke(IReadOnlyList<Variable<T>> inputs) => Call(inputs[0]);

    /// <summary>Trainable weights' element count (Keras' "Trainable params").</summary>
    public long TrainableParameterCount => _parameters.Sum(p => (long)p.Value.Length);

    /// <summary>Non-trainable weights' element count (BatchNorm's moving statistics).</summary>
    public long NonTrainableParameterCount => _state.Sum(s => (long)s.Value.Length);

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
