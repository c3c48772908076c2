using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd.Optimizers;

/// <summary>
/// Adam with Keras' defaults (learning rate 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7) and
/// Keras' update: w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon).
/// </summary>
public sealed class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly Tensor<T>[] _m, _v;

    public Adam(IEnumerable<Variable<T>> parameters, double learningRate = 0.001, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-7)
        : base(parameters)
    {
        if (learningRate <= 0 || beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1 || epsilon <= 0)
            throw new ArgumentException($"Adam: learning rate {learningRate}, beta1 {beta1}, beta2 {beta2}, epsilon {epsilon} out of range");
        (LearningRate, Beta1, Beta2, Epsilon) = (learningRate, beta1, beta2, epsilon);
        _m = Parameters.Select(p => Tensor<T>.Zeros(p.Shape, p.Value.Device)).ToArray();
        _v = Parameters.Select(p => Tensor<T>.Zeros(p.Shape, p.Value.Device)).ToArray();
    }

    public double LearningRate { get; set; }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }

    double _stepSize;

    protected override IEnumerable<Tensor<T>> State => _m.Concat(_v);

    protected override void BeginStep()
    {
        Iterations++;
        double t = Iterations;
        _stepSize = LearningRate * Math.Sqrt(1 - Math.Pow(Beta2, t)) / (1 - Math.Pow(Beta1, t));
    }

    protected override void Update(int index)
    {
        var p = Parameters[index];
        p.Value.Backend.Adam(p.Value, p.Grad!, _m[index], _v[index], T.CreateChecked(_stepSize), T.CreateChecked(Beta1), T.CreateChecked(Beta2), T.CreateChecked(Epsilon));
    }
}
