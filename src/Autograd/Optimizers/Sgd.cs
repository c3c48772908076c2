using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd.Optimizers;

/// <summary>
/// Stochastic gradient descent as Keras' SGD: w -= lr * g, or with momentum
/// u = momentum * u - lr * g; w += u (Nesterov: w += momentum * u - lr * g).
/// </summary>
public sealed class Sgd<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly Tensor<T>[] _velocity;

    public Sgd(IEnumerable<Variable<T>> parameters, double learningRate = 0.01, double momentum = 0, bool nesterov = false)
        : base(parameters)
    {
        if (learningRate <= 0 || momentum is < 0 or >= 1) throw new ArgumentException($"SGD: learning rate {learningRate}, momentum {momentum} out of range");
        (LearningRate, Momentum, Nesterov) = (learningRate, momentum, nesterov);
        _velocity = momentum == 0 ? [] : Parameters.Select(p => Tensor<T>.Zeros(p.Shape, p.Value.Device)).ToArray();
    }

    public double LearningRate { get; set; }
    public double Momentum { get; }
    public bool Nesterov { get; }

    protected override void BeginStep() => Iterations++;

    protected override IEnumerable<Tensor<T>> State => _velocity;

    protected override void Update(int index)
    {
        var p = Parameters[index];
        var velocity = Momentum == 0 ? p.Grad! : _velocity[index];
        p.Value.Backend.Sgd(p.Value, p.Grad!, velocity, T.CreateChecked(LearningRate), T.CreateChecked(Momentum), Nesterov);
    }
}
