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

    /// <summary>Three steps of a two-layer net with a weight used twice, by Minimize or by Backward then Step.</summary>
    static double[][] TrainThreeSteps(Func<IEnumerable<Variable<double>>, Optimizer<double>> make, bool minimize)
    {
        var w1 = new Variable<double>(Initializers.GlorotUniform<double>(new Shape(6, 8), new Rng(11)), requiresGrad: true);
        var w2 = new Variable<double>(Initializers.GlorotUniform<double>(new Shape(8, 8), new Rng(12)), requiresGrad: true);
        var w3 = new Variable<double>(Initializers.GlorotUniform<double>(new Shape(8, 3), new Rng(13)), requiresGrad: true);
        var idle = new Variable<double>(Initializers.GlorotUniform<double>(new Shape(3, 3), new Rng(14)), requiresGrad: true);
        var x = new Variable<double>(Initializers.Uniform<double>(new Shape(5, 6), -1, 1, new Rng(15)));
        var t = new Variable<double>(Tensor<double>.FromArray([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0], new Shape(5, 3)));
        var optimizer = make([w1, w2, w3, idle]);
        for (int step = 0; step < 3; step++)
        {
            using var tape = new Tape();
            // w2 twice: its update must wait for both contributions.
            var h = Ops.Relu(Ops.MatMul(Ops.Relu(Ops.MatMul(Ops.Relu(Ops.MatMul(x, w1)), w2)), w2));
            var loss = Ops.SoftmaxCrossEntropy(Ops.MatMul(h, w3), t);
            if (minimize) optimizer.Minimize(tape, loss);
            else
            {
                tape.Backward(loss);
                optimizer.Step();
                optimizer.ZeroGrad();
            }
        }
        Assert.That(optimizer.Iterations, Is.EqualTo(3));
        if (minimize) Assert.That(new[] { w1, w2, w3 }.All(w => w.Grad == null), Is.True, "Minimize kept a gradient");
        return [w1.Value.ToArray(), w2.Value.ToArray(), w3.Value.ToArray(), idle.Value.ToArray()];
    }

    [TestCase("adam")]
    [TestCase("sgd")]
    [TestCase("sgd-momentum")]
    public void MinimizeUpdatesExactlyAsBackwardThenStep(string kind)
    {
        Func<IEnumerable<Variable<double>>, Optimizer<double>> make = kind switch
        {
            "adam" => ps => new Adam<double>(ps, learningRate: 0.01),
            "sgd" => ps => new Sgd<double>(ps, learningRate: 0.1),
            _ => ps => new Sgd<double>(ps, learningRate: 0.1, momentum: 0.9, nesterov: true),
        };
        var stepped = TrainThreeSteps(make, minimize: false);
        var minimized = TrainThreeSteps(make, minimize: true);
        var initial = TrainThreeSteps(ps => new Sgd<double>(ps, learningRate: 1e-300), minimize: false);
        for (int i = 0; i < stepped.Length; i++) Assert.That(minimized[i], Is.EqualTo(stepped[i]), $"weight {i}");
        Assert.That(stepped[1], Is.Not.EqualTo(initial[1]).Within(1e-6), "the twice-used weight did not move");
        Assert.That(stepped[3], Is.EqualTo(initial[3]), "a weight the loss does not reach moved");
    }
}
