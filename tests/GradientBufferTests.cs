using Engine.Autograd;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Backward rules overwrite a gradient they are the first to reach and add to it otherwise
/// (Variable.GradForWrite). These tests prove the first writer covers every element, by
/// filling the pool's free buffers with NaN before the backward pass, and that later writers
/// and leaves still accumulate.
/// </summary>
public class GradientBufferTests
{
    sealed class Net
    {
        public readonly Variable<double> X = Leaf(1, 2, 9, 9, 3);
        public readonly Variable<double> W1 = Leaf(2, 3, 3, 3, 4), B1 = Leaf(3, 4);
        public readonly Variable<double> G1 = Leaf(4, 4), Beta1 = Leaf(5, 4);
        public readonly Variable<double> W2 = Leaf(6, 1, 1, 4, 4);
        public readonly Variable<double> G2 = Leaf(7, 4), Beta2 = Leaf(8, 4);
        public readonly Variable<double> W3 = Leaf(9, 3, 3, 4, 5), W4 = Leaf(10, 3, 3, 5, 5), B4 = Leaf(11, 5);
        public readonly Variable<double> Dense = Leaf(12, 5 * 5 * 5, 3);
        readonly Tensor<double> _mm1 = Tensor<double>.Zeros(new Shape(4)), _mv1 = Tensor<double>.Ones(new Shape(4));
        readonly Tensor<double> _mm2 = Tensor<double>.Zeros(new Shape(4)), _mv2 = Tensor<double>.Ones(new Shape(4));

        static Variable<double> Leaf(ulong seed, params int[] shape) => new(TestData.RandomTensor(seed, shape), requiresGrad: true);

        public Variable<double>[] Leaves => [X, W1, B1, G1, Beta1, W2, G2, Beta2, W3, W4, B4, Dense];

        /// <summary>
        /// Every kind of first write: padding, stride-1 conv (input gradient as a convolution), BN+ReLU
        /// feeding two consumers, 1x1 conv (input gradient as a GEMM), BN, add, ReLU, strided conv
        /// (col2im), conv+ReLU, flatten, matmul.
        /// </summary>
        public Variable<double> Forward()
        {
            var h = Ops.ZeroPad2D(X, (1, 1), (1, 1));
            h = Ops.Conv2D(h, W1, B1, 1, 1, "valid");
            var a = Ops.BatchNormRelu(h, G1, Beta1, _mm1, _mv1, training: true);
            var b = Ops.Conv2D(a, W2, null, 1, 1, "valid");
            b = Ops.BatchNorm(b, G2, Beta2, _mm2, _mv2, training: true);
            h = Ops.Relu(Ops.Add(b, a));
            h = Ops.Conv2D(h, W3, null, 2, 2, "same");
            h = Ops.Conv2DRelu(h, W4, B4, 1, 1, "same");
            return Ops.MatMul(Ops.Flatten(h), Dense);
        }
    }

    static double[][] Gradients(Net net) => net.Leaves.Select(v => v.Grad!.Span.ToArray()).ToArray();

    static double[][] Step(Net net, Tensor<double> upstream)
    {
        using var tape = new Tape();
        tape.Backward(net.Forward(), upstream);
        return Gradients(net);
    }

    [Test]
    public void FirstWritersCoverEveryElementOfAPoisonedBuffer()
    {
        var net = new Net();
        var upstream = TestData.RandomTensor(99, 2, 3);
        var clean = Step(net, upstream);
        foreach (var v in net.Leaves) v.ZeroGrad();
        TensorPool<double>.Shared.FillFree(double.NaN);
        var poisoned = Step(net, upstream);
        for (int i = 0; i < clean.Length; i++)
        {
            Assert.That(poisoned[i].All(double.IsFinite), $"leaf {i}: a NaN from a pooled buffer reached the gradient");
            for (int j = 0; j < clean[i].Length; j++)
                Assert.That(poisoned[i][j], Is.EqualTo(clean[i][j]).Within(1e-12 * (1 + Math.Abs(clean[i][j]))), $"leaf {i}, element {j}");
        }
    }

    [Test]
    public void LeafGradientsAccumulateOverTwoBackwardPasses()
    {
        var net = new Net();
        var upstream = TestData.RandomTensor(98, 2, 3);
        var once = Step(net, upstream);
        var twice = Step(net, upstream);
        for (int i = 0; i < once.Length; i++)
            for (int j = 0; j < once[i].Length; j++)
                Assert.That(twice[i][j], Is.EqualTo(2 * once[i][j]).Within(1e-12 * (1 + Math.Abs(once[i][j]))), $"leaf {i}, element {j}");
    }

    [Test]
    public void AVariableUsedTwiceByOneOpGetsBothContributions()
    {
        var x = new Variable<double>(TestData.RandomTensor(5, 3, 4), requiresGrad: true);
        TensorPool<double>.Shared.FillFree(double.NaN);
        using var tape = new Tape();
        var upstream = TestData.RandomTensor(6, 3, 4);
        tape.Backward(Ops.Add(x, x), upstream);
        for (int i = 0; i < upstream.Length; i++) Assert.That(x.Grad!.Span[i], Is.EqualTo(2 * upstream.Span[i]));
    }
}
