using Engine.Autograd;
using Engine.Layers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Every op's backward against float64 central differences with a random upstream gradient
/// (see GradientCheck), max relative error at most 1e-6.
/// </summary>
public class GradientCheckTests
{
    const double Tolerance = 1e-6;

    static void AssertPasses(GradientCheckReport report, string what)
    {
        TestContext.Out.WriteLine($"{what}\n{report}");
        Assert.That(report.Rows, Is.Not.Empty);
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(Tolerance), $"{what}\n{report}");
    }

    static Tensor<double> R(ulong seed, params int[] shape) => TestData.RandomTensor(seed, shape);

    [Test] public void AddSameShape() => AssertPasses(GradientCheck.Run(v => Ops.Add(v[0], v[1]), R(1, 3, 4), R(2, 3, 4)), "add");
    [Test] public void AddBiasBroadcast() => AssertPasses(GradientCheck.Run(v => Ops.Add(v[0], v[1]), R(1, 2, 3, 5), R(2, 5)), "add [2,3,5] + [5]");
    [Test] public void AddBroadcastOnTheLeft() => AssertPasses(GradientCheck.Run(v => Ops.Add(v[0], v[1]), R(1, 5), R(2, 4, 5)), "add [5] + [4,5]");
    [Test] public void AddScalar() => AssertPasses(GradientCheck.Run(v => Ops.Add(v[0], v[1]), R(1, 3, 4), R(2)), "add [3,4] + scalar");
    [Test] public void SubtractSameShape() => AssertPasses(GradientCheck.Run(v => Ops.Subtract(v[0], v[1]), R(1, 3, 4), R(2, 3, 4)), "subtract");
    [Test] public void SubtractBroadcastRight() => AssertPasses(GradientCheck.Run(v => Ops.Subtract(v[0], v[1]), R(1, 4, 6), R(2, 6)), "subtract [4,6] - [6]");
    [Test] public void SubtractBroadcastLeft() => AssertPasses(GradientCheck.Run(v => Ops.Subtract(v[0], v[1]), R(1, 6), R(2, 4, 6)), "subtract [6] - [4,6]");
    [Test] public void MultiplySameShape() => AssertPasses(GradientCheck.Run(v => Ops.Multiply(v[0], v[1]), R(1, 3, 5), R(2, 3, 5)), "multiply");
    [Test] public void MultiplyBroadcastRight() => AssertPasses(GradientCheck.Run(v => Ops.Multiply(v[0], v[1]), R(1, 2, 3, 4), R(2, 4)), "multiply [2,3,4] * [4]");
    [Test] public void MultiplyBroadcastLeft() => AssertPasses(GradientCheck.Run(v => Ops.Multiply(v[0], v[1]), R(1, 4), R(2, 3, 4)), "multiply [4] * [3,4]");
    [Test] public void MatMul() => AssertPasses(GradientCheck.Run(v => Ops.MatMul(v[0], v[1]), R(1, 5, 7), R(2, 7, 3)), "matmul [5,7] x [7,3]");
    [Test] public void MatMulOverLeadingAxes() => AssertPasses(GradientCheck.Run(v => Ops.MatMul(v[0], v[1]), R(1, 2, 3, 4), R(2, 4, 6)), "matmul [2,3,4] x [4,6]");

    [Test]
    public void Relu()
    {
        var x = Tensor<double>.FromArray(TestData.AwayFromZero<double>(24, 3), new Shape(4, 6));
        AssertPasses(GradientCheck.Run(v => Ops.Relu(v[0]), x), "relu");
    }

    [Test] public void Sigmoid() => AssertPasses(GradientCheck.Run(v => Ops.Sigmoid(v[0]), R(1, 4, 6)), "sigmoid");
    [Test] public void Softmax() => AssertPasses(GradientCheck.Run(v => Ops.Softmax(v[0]), R(1, 4, 6)), "softmax");

    [Test]
    public void SoftmaxCrossEntropy()
    {
        var targets = Tensor<double>.Zeros(new Shape(5, 6));
        for (int r = 0; r < 5; r++) targets[r, (r * 5) % 6] = 1;
        var logits = new Variable<double>(R(4, 5, 6), requiresGrad: true, name: "logits");
        var t = new Variable<double>(targets);
        AssertPasses(GradientCheck.Run(() => Ops.SoftmaxCrossEntropy(logits, t), [logits]), "softmax cross-entropy, one-hot");
    }

    [Test]
    public void SoftmaxCrossEntropySoftTargets()
    {
        var targets = new Variable<double>(Tensor<double>.Full(new Shape(3, 4), 0.25));
        var logits = new Variable<double>(R(5, 3, 4), requiresGrad: true, name: "logits");
        AssertPasses(GradientCheck.Run(() => Ops.SoftmaxCrossEntropy(logits, targets), [logits]), "softmax cross-entropy, soft targets");
    }

    [Test] public void Sum() => AssertPasses(GradientCheck.Run(v => Ops.Sum(v[0]), R(1, 3, 5)), "sum");
    [Test] public void Mean() => AssertPasses(GradientCheck.Run(v => Ops.Mean(v[0]), R(1, 3, 5)), "mean");
    [Test] public void SumOverMiddleAxis() => AssertPasses(GradientCheck.Run(v => Ops.Sum(v[0], 1), R(1, 2, 3, 4)), "sum axis 1");
    [Test] public void MeanOverLastAxis() => AssertPasses(GradientCheck.Run(v => Ops.Mean(v[0], -1), R(1, 2, 3, 4)), "mean axis -1");
    [Test] public void Reshape() => AssertPasses(GradientCheck.Run(v => Ops.Multiply(Ops.Reshape(v[0], 6, -1), v[1]), R(1, 2, 3, 4), R(2, 6, 4)), "reshape");
    [Test] public void Flatten() => AssertPasses(GradientCheck.Run(v => Ops.Flatten(v[0]), R(1, 2, 3, 4, 2)), "flatten");

    [Test]
    public void DenseLayerWithParameters()
    {
        var dense = new Dense<double>(4, "sigmoid", seed: 7, name: "fc");
        var x = new Variable<double>(R(1, 3, 5), requiresGrad: true, name: "x");
        using (Tape.Inference()) dense.Call(x);
        var checkedVars = new List<Variable<double>> { x };
        checkedVars.AddRange(dense.Parameters);
        AssertPasses(GradientCheck.Run(() => dense.Call(x), checkedVars), "dense sigmoid");
    }

    [Test]
    public void ResidualUseOfOneInputTwice()
    {
        // y = relu(x W) + x: x feeds two consumers, so its gradient must be the sum of both paths.
        var w = new Variable<double>(R(2, 4, 4), requiresGrad: true, name: "W");
        var x = new Variable<double>(Tensor<double>.FromArray(TestData.AwayFromZero<double>(12, 9, 0.2), new Shape(3, 4)), requiresGrad: true, name: "x");
        AssertPasses(GradientCheck.Run(() => Ops.Add(Ops.Relu(Ops.MatMul(x, w)), x), [x, w]), "residual");
    }

    [Test]
    public void ACheckFailsOnADeliberatelyWrongBackward()
    {
        // Sigmoid whose backward forgets the (1 - y) factor: the checker must catch it.
        var report = GradientCheck.Run(v => WrongSigmoid(v[0]), R(1, 3, 4));
        TestContext.Out.WriteLine(report);
        Assert.That(report.MaxRelativeError, Is.GreaterThan(1e-2));
        Assert.That(report.Passed(), Is.False);

        // The same custom-op mechanism with a correct backward passes: the failure is the bug.
        AssertPasses(GradientCheck.Run(v => WrongSigmoid(v[0], correct: true), R(1, 3, 4)), "custom sigmoid");
    }

    static Variable<double> WrongSigmoid(Variable<double> x, bool correct = false)
    {
        var y = Tape.Output(Tensor<double>.Empty(x.Shape));
        var xs = x.Value.Span;
        var ys = y.Value.Span;
        for (int i = 0; i < xs.Length; i++) ys[i] = 1 / (1 + Math.Exp(-xs[i]));
        Tape.Record(new SigmoidNode(correct), y, x);
        return y;
    }

    sealed class SigmoidNode(bool correct) : Node<double>
    {
        public override void Backward()
        {
            var dx = Inputs[0].EnsureGrad().Span;
            var y = Output.Value.Span;
            var dy = OutputGrad.Span;
            for (int i = 0; i < dx.Length; i++) dx[i] += dy[i] * y[i] * (correct ? 1 - y[i] : 1);
        }
    }
}
