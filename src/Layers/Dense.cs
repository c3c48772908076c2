using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras Dense: y = activation(x W + b). x: [N, in] -> [N, units]; W [in, units] initialised
/// glorot_uniform from the seed, b zeros. activation: "linear" (none), "relu", "sigmoid",
/// "softmax".
/// </summary>
public sealed class Dense<T>(int units, string activation = "linear", bool useBias = true, ulong seed = 0, string? name = null)
    : Layer<T>(name, "dense") where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Units { get; } = units > 0 ? units : throw new ArgumentOutOfRangeException(nameof(units), "Dense needs at least one unit");
    public string ActivationName { get; } = Activation<T>.Validate(activation);
    public bool UseBias { get; } = useBias;
    /// <summary>The kernel initializer's seed (Keras' kernel_initializer seed).</summary>
    public ulong Seed { get; } = seed;
    public Variable<T> Kernel { get; private set; } = null!;
    public Variable<T>? Bias { get; private set; }

    protected override void Build(Shape inputShape)
    {
        int inputs = inputShape[-1];
        Kernel = AddParameter("kernel", Initializers.GlorotUniform<T>(new Shape(inputs, Units), new Rng(Seed)));
        if (UseBias) Bias = AddParameter("bias", Tensor<T>.Zeros(new Shape(Units)));
    }

    /// <summary>[..., inputs] -> [..., units].</summary>
    public override Shape OutputShape(Shape inputShape)
    {
        if (inputShape.Rank < 2) throw new ArgumentException($"{Name}: Dense needs [N, features] input, got {inputShape}");
        if (IsBuilt && inputShape[-1] != Kernel.Shape[0]) throw new ArgumentException($"{Name}: built for {Kernel.Shape[0]} input features, got {inputShape}");
        var dims = inputShape.ToArray();
        dims[^1] = Units;
        return new Shape(dims);
    }

    protected override Variable<T> Forward(Variable<T> x) => Activation<T>.Apply(ActivationName, CallLinear(x));

    /// <summary>
    /// x W + b without the activation: a softmax layer's logits, which the fused softmax
    /// cross-entropy loss takes (stable, and its gradient is simply p - y).
    /// </summary>
    internal Variable<T> CallLinear(Variable<T> x)
    {
        if (!IsBuilt) throw new InvalidOperationException($"{Name} is not built");
        var y = Ops.MatMul(x, Kernel);
        return Bias != null ? Ops.Add(y, Bias) : y;
    }
}

/// <summary>Keras Activation layer: "linear", "relu", "sigmoid" or "softmax" (last axis).</summary>
public sealed class Activation<T>(string activation, string? name = null)
    : Layer<T>(name, "activation") where T : unmanaged, IFloatingPointIeee754<T>
{
    static readonly string[] Known = ["linear", "relu", "sigmoid", "softmax"];

    public string Function { get; } = Validate(activation);

    internal static string Validate(string activation) =>
        Known.Contains(activation) ? activation : throw new ArgumentException($"unknown activation '{activation}'; use one of {string.Join(", ", Known)}");

    internal static Variable<T> Apply(string activation, Variable<T> x) => activation switch
    {
        "relu" => Ops.Relu(x),
        "sigmoid" => Ops.Sigmoid(x),
        "softmax" => Ops.Softmax(x),
        _ => x,
    };

    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Apply(Function, x);
    public override Shape OutputShape(Shape inputShape) => inputShape;
}
