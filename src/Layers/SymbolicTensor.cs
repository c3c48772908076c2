using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// What a layer will output once data flows: a node of a functional model's graph (Keras'
/// symbolic tensor). Made by <see cref="Functional.Input{T}"/> and by calling a layer on
/// another symbolic tensor; a <see cref="Model{T}"/> is built from an input and an output.
/// </summary>
public sealed class SymbolicTensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static long _created;

    internal SymbolicTensor(Layer<T> layer, IReadOnlyList<SymbolicTensor<T>> inputs, Shape sampleShape, int nodeIndex)
    {
        Layer = layer;
        Inputs = inputs;
        SampleShape = sampleShape;
        NodeIndex = nodeIndex;
        Sequence = Interlocked.Increment(ref _created);
    }

    /// <summary>The layer whose application this is.</summary>
    public Layer<T> Layer { get; }
    /// <summary>The symbolic tensors the layer was applied to (none for an input).</summary>
    public IReadOnlyList<SymbolicTensor<T>> Inputs { get; }
    /// <summary>The shape of one sample, without the batch axis: (64, 64, 3).</summary>
    public Shape SampleShape { get; }
    /// <summary>Which application of <see cref="Layer"/> this is (Keras' node index, 0 for most layers).</summary>
    public int NodeIndex { get; }
    /// <summary>Creation order: a node is always made after its inputs, so this order is topological.</summary>
    internal long Sequence { get; }

    /// <summary>The full shape for a batch of <paramref name="batch"/> samples.</summary>
    public Shape WithBatch(int batch) => new([batch, .. SampleShape.Dims]);

    /// <summary>The shape as Keras prints it: (None, 64, 64, 3).</summary>
    public string KerasShape => $"(None, {string.Join(", ", SampleShape.ToArray())})";

    public override string ToString() => $"{Layer.Name}[{NodeIndex}][0] {KerasShape}";
}

/// <summary>Keras InputLayer: the start of a functional model; passes its input through.</summary>
public sealed class InputLayer<T>(Shape sampleShape, string? name = null) : Layer<T>(name, "input") where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The shape of one sample, without the batch axis.</summary>
    public Shape SampleShape { get; } = sampleShape;

    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => x;
    public override Shape OutputShape(Shape inputShape) => inputShape;

    internal SymbolicTensor<T> Start()
    {
        if (InboundNodes.Count > 0) throw new InvalidOperationException($"{Name} already has its tensor");
        return Connect([]);
    }

    internal override Shape OutputShapeOf(IReadOnlyList<Shape> inputShapes) => new([1, .. SampleShape.Dims]);
}

/// <summary>Entry points of the functional API.</summary>
public static class Functional
{
    /// <summary>
    /// Keras Input(shape): a symbolic batch of samples of <paramref name="sampleShape"/> (no
    /// batch axis), e.g. Input(new Shape(64, 64, 3)).
    /// </summary>
    public static SymbolicTensor<T> Input<T>(Shape sampleShape, string? name = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (sampleShape.Rank == 0 || sampleShape.Dims.ToArray().Any(d => d < 1))
            throw new ArgumentException($"input shape {sampleShape}: every dimension must be at least 1");
        return new InputLayer<T>(sampleShape, name).Start();
    }
}
