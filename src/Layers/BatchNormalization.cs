using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras BatchNormalization over the channel axis (the last, NHWC): gamma (ones) and beta
/// (zeros) trainable; moving_mean (zeros) and moving_variance (ones) non-trainable, updated
/// while <see cref="Layer{T}.Training"/> is on. Keras' defaults: momentum 0.99, epsilon 1e-3.
/// </summary>
public sealed class BatchNormalization<T>(double momentum = 0.99, double epsilon = 1e-3, string? name = null)
    : Layer<T>(name, "batch_normalization") where T : unmanaged, IFloatingPointIeee754<T>
{
    public double Momentum { get; } = momentum is >= 0 and < 1 ? momentum : throw new ArgumentOutOfRangeException(nameof(momentum), $"momentum {momentum}");
    public double Epsilon { get; } = epsilon > 0 ? epsilon : throw new ArgumentOutOfRangeException(nameof(epsilon), $"epsilon {epsilon}");
    public Variable<T> Gamma { get; private set; } = null!;
    public Variable<T> Beta { get; private set; } = null!;
    public Tensor<T> MovingMean { get; private set; } = null!;
    public Tensor<T> MovingVariance { get; private set; } = null!;

    protected override void Build(Shape inputShape)
    {
        var c = new Shape(inputShape[-1]);
        Gamma = AddParameter("gamma", Tensor<T>.Ones(c));
        Beta = AddParameter("beta", Tensor<T>.Zeros(c));
        MovingMean = AddState("moving_mean", Tensor<T>.Zeros(c));
        MovingVariance = AddState("moving_variance", Tensor<T>.Ones(c));
    }

    public override Shape OutputShape(Shape inputShape)
    {
        if (IsBuilt && inputShape[-1] != Gamma.Shape[0]) throw new ArgumentException($"{Name}: built for {Gamma.Shape[0]} channels, got {inputShape}");
        return inputShape;
    }

    /// <summary>relu(this layer(x)) as one fused op (a model runs BN followed by Activation('relu') this way).</summary>
    internal Variable<T> CallWithRelu(Variable<T> x)
    {
        if (!IsBuilt) throw new InvalidOperationException($"{Name} is not built");
        return Ops.BatchNormRelu(x, Gamma, Beta, MovingMean, MovingVariance, Training, Momentum, Epsilon);
    }

    /// <summary>relu(this layer(x) + residual) as one fused op (a model runs a residual block's BN -> Add -> ReLU this way).</summary>
    internal Variable<T> CallWithAddRelu(Variable<T> x, Variable<T> residual)
    {
        if (!IsBuilt) throw new InvalidOperationException($"{Name} is not built");
        return Ops.BatchNormAddRelu(x, Gamma, Beta, MovingMean, MovingVariance, Training, residual, Momentum, Epsilon);
    }

    protected override Variable<T> Forward(Variable<T> x) =>
        Ops.BatchNorm(x, Gamma, Beta, MovingMean, MovingVariance, Training, Momentum, Epsilon);
}
