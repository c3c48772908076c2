using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras Add: the element-wise sum of inputs of one shape (the residual join, main path plus
/// shortcut).
/// </summary>
public sealed class Add<T>(string? name = null) : Layer<T>(name, "add") where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Add()([x, shortcut]) in Keras.</summary>
    public SymbolicTensor<T> Call(params SymbolicTensor<T>[] inputs) => Connect(inputs);

    /// <summary>The sum of concrete inputs (at least two, of one shape).</summary>
    public Variable<T> Call(params Variable<T>[] inputs)
    {
        if (inputs.Length < 2) throw new ArgumentException($"{Name}: Add needs at least two inputs, got {inputs.Length}");
        OutputShapeOf(inputs.Select(i => i.Shape).ToArray());
        var sum = Ops.Add(inputs[0], inputs[1]);
        for (int i = 2; i < inputs.Length; i++) sum = Ops.Add(sum, inputs[i]);
        return sum;
    }

    internal override Shape OutputShapeOf(IReadOnlyList<Shape> inputShapes)
    {
        if (inputShapes.Count < 2) throw new ArgumentException($"{Name}: Add needs at least two inputs, got {inputShapes.Count}");
        foreach (var s in inputShapes)
            if (s != inputShapes[0]) throw new ArgumentException($"{Name}: Add needs inputs of one shape, got {string.Join(" and ", inputShapes)}");
        return inputShapes[0];
    }

    internal override Variable<T> Invoke(IReadOnlyList<Variable<T>> inputs) => Call(inputs.ToArray());

    public override Shape OutputShape(Shape inputShape) => inputShape;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => throw new InvalidOperationException($"{Name}: Add takes a list of inputs");
}
