using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras' ReLU layer with its defaults (max_value None, negative_slope 0, threshold 0):
/// max(x, 0), element-wise. The same function as Activation('relu'), as its own layer type
/// so a model that uses it keeps Keras' layer names ("re_lu_1") and summary rows.
/// </summary>
public sealed class ReLU<T>(string? name = null) : Layer<T>(name, "re_lu") where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.Relu(x);
    public override Shape OutputShape(Shape inputShape) => inputShape;
}
