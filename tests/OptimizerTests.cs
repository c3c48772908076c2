using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

public class OptimizerTests
{
    [Test]
    public void AdamFollowsKerasUpdateWithKerasDefaults()
    {
        var w = new Variable<double>(Tensor<double>.FromArray([0.5, -1.0], new Shape(2)), requiresGrad: true);
        var adam = new Adam<double>([w]);
        Assert.That((adam.LearningRate, adam.Beta1, adam.Beta2, adam.Epsilon), Is.EqualTo((0.001, 0.9, 0.999, 1e-7)));

        double[] expected = [0.5, -1.0], m = [0, 0], v = [0, 0];
        double[][] grads = [[0.2, -3.0], [0.1, 1.0], [-0.4, 0.5]];
        for (int t = 1; t <= grads.Length; t++)
        {
            w.EnsureGrad().Span.Clear();
            grads[t - 1].CopyTo(w.Grad!.Span);
            adam.Step();
            double lrT = 0.001 * Math.Sqrt(1 - Math.Pow(0.999, t)) / (1 - Math.Pow(0.9, t));
            for (int i = 0; i < 2; i++)
            {
                double g = grads[t - 1][i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                expected[i] -= lrT * m[i] / (Math.Sqrt(v[i]) + 1e-7);
            }
            Assert.That(w.Value.ToArray(), Is.EqualTo(expected).Within(1e-15), $"after step {t}");
            if (t == 1)
            {
                // Adam's first step moves each weight by almost exactly lr, whatever the gradient's size.
                Assert.That(w.Value[0], Is.EqualTo(0.5 - 0.001).Within(1e-6));
                Assert.That(w.Value[1], Is.EqualTo(-1.0 + 0.001).Within(1e-6));
            }
        }
    }

    [Test]
    public void SgdWithMomentumFollowsKeras()
    {
        var w = new Variable<double>(Tensor<double>.FromArray([1.0], new Shape(1)), requiresGrad: true);
        var sgd = new Sgd<double>([w], learningRate: 0.1, momentum: 0.9);
        w.EnsureGrad().Span[0] = 2;
        sgd.Step();                       // u = -0.2; w = 0.8
        Assert.That(w.Value[0], Is.EqualTo(0.8).Within(1e-15));
        sgd.Step();                       // u = 0.9 * -0.2 - 0.2 = -0.38; w = 0.42
        Assert.That(w.Value[0], Is.EqualTo(0.42).Within(1e-15));
    }

    [Test]
    public void PlainSgdStepsAgainstTheGradient()
    {
        var w = new Variable<float>(Tensor<float>.FromArray([1f, 2f], new Shape(2)), requiresGrad: true);
        var sgd = new Sgd<float>([w], learningRate: 0.5);
        w.EnsureGrad().Span.Fill(1f);
        sgd.Step();
        Assert.That(w.Value.ToArray(), Is.EqualTo(new[] { 0.5f, 1.5f }));
        sgd.ZeroGrad();
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 0f, 0f }));
    }

    [Test]
    public void BadHyperparametersAreRejected()
    {
        var w = new Variable<float>(Tensor<float>.Zeros(new Shape(1)), requiresGrad: true);
        Assert.Throws<ArgumentException>(() => new Adam<float>([w], learningRate: -1));
        Assert.Throws<ArgumentException>(() => new Adam<float>([w], beta1: 1));
        Assert.Throws<ArgumentException>(() => new Sgd<float>([w], momentum: 1.5));
        Assert.Throws<ArgumentException>(() => new Adam<float>([new Variable<float>(Tensor<float>.Zeros(new Shape(1)))]));
    }
}
