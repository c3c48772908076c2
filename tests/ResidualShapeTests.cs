using Engine.Autograd;
using Engine.Layers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The layers composed the way the assignment's ResNet-50 composes them.</summary>
public class ResidualShapeTests
{
    /// <summary>
    /// The convolutional block's main path (1x1/s, f x f 'same', 1x1) and its 1x1/s shortcut,
    /// each conv followed by batch norm, joined by Add and ReLU.
    /// </summary>
    static Variable<T> ConvolutionalBlock<T>(Variable<T> x, int f, int[] filters, int s, bool training = false) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Variable<T> ConvBn(Variable<T> input, int filtersOut, int kernel, int stride, string padding)
        {
            var y = new Conv2D<T>(filtersOut, kernel, stride, padding, seed: 0).Call(input);
            return new BatchNormalization<T> { Training = training }.Call(y);
        }
        var main = Ops.Relu(ConvBn(x, filters[0], 1, s, "valid"));
        main = Ops.Relu(ConvBn(main, filters[1], f, 1, "same"));
        main = ConvBn(main, filters[2], 1, 1, "valid");
        var shortcut = ConvBn(x, filters[2], 1, s, "valid");
        return Ops.Relu(Ops.Add(main, shortcut));
    }

    [Test]
    public void ResNet50ShapesFromInputToPooledFeatures()
    {
        using var tape = Tape.Inference();
        var x = new Variable<float>(Tensor<float>.Zeros(new Shape(1, 64, 64, 3)));
        var h = new ZeroPadding2D<float>((3, 3)).Call(x);
        Assert.That(h.Shape, Is.EqualTo(new Shape(1, 70, 70, 3)));
        h = new Conv2D<float>(64, 7, strides: 2, name: "conv1").Call(h);
        Assert.That(h.Shape, Is.EqualTo(new Shape(1, 32, 32, 64)));
        h = Ops.Relu(new BatchNormalization<float>(name: "bn_conv1").Call(h));
        h = new MaxPooling2D<float>(3, strides: 2).Call(h);
        Assert.That(h.Shape, Is.EqualTo(new Shape(1, 15, 15, 64)));

        (int[] Filters, int Stride, int Size)[] stages =
        [
            ([64, 64, 256], 1, 15), ([128, 128, 512], 2, 8), ([256, 256, 1024], 2, 4), ([512, 512, 2048], 2, 2),
        ];
        foreach (var (filters, stride, size) in stages)
        {
            h = ConvolutionalBlock(h, 3, filters, stride);
            Assert.That(h.Shape, Is.EqualTo(new Shape(1, size, size, filters[2])), $"after the stage with filters {filters[2]}");
        }
        h = new AveragePooling2D<float>(2, name: "avg_pool").Call(h);
        Assert.That(h.Shape, Is.EqualTo(new Shape(1, 1, 1, 2048)));
        var logits = new Dense<float>(6, "softmax", name: "fc6").Call(new Flatten<float>().Call(h));
        Assert.That(logits.Shape, Is.EqualTo(new Shape(1, 6)));
        Assert.That(logits.Value.ToArray().Sum(), Is.EqualTo(1f).Within(1e-5f));
    }

    [TestCase(true), TestCase(false)]
    public void AWholeResidualBlockIsGradientChecked(bool training)
    {
        // Build once (the layers keep their weights), then check input and every parameter.
        var x = new Variable<double>(TestData.RandomTensor(7, 2, 5, 5, 3), requiresGrad: true, name: "x");
        var layers = new List<Layer<double>>();
        Variable<double> Block()
        {
            int i = 0;
            Layer<double> Get(Func<Layer<double>> make)
            {
                if (layers.Count <= i) layers.Add(make());
                return layers[i++];
            }
            Variable<double> ConvBn(Variable<double> input, int filters, int kernel, int stride, string padding)
            {
                ulong seed = (ulong)i + 1;
                var y = Get(() => new Conv2D<double>(filters, kernel, stride, padding, seed: seed)).Call(input);
                return Get(() => new BatchNormalization<double> { Training = training }).Call(y);
            }
            var main = Ops.Relu(ConvBn(x, 2, 1, 2, "valid"));
            main = Ops.Relu(ConvBn(main, 2, 3, 1, "same"));
            main = ConvBn(main, 4, 1, 1, "valid");
            return Ops.Relu(Ops.Add(main, ConvBn(x, 4, 1, 2, "valid")));
        }
        using (Tape.Inference()) Block();
        if (!training)
        {
            // Non-trivial moving statistics, so inference mode is not the identity normalisation.
            var rng = new Rng(3);
            foreach (var bn in layers.OfType<BatchNormalization<double>>())
            {
                var mean = bn.MovingMean.Span;
                var variance = bn.MovingVariance.Span;
                for (int c = 0; c < mean.Length; c++) { mean[c] = rng.Uniform(-0.5, 0.5); variance[c] = rng.Uniform(0.5, 2); }
            }
        }
        var checkedVariables = new List<Variable<double>> { x };
        checkedVariables.AddRange(layers.SelectMany(l => l.Parameters));
        var report = Autograd.GradientCheck.Run(Block, checkedVariables);
        TestContext.Out.WriteLine(report);
        Assert.That(report.Rows.Count, Is.EqualTo(1 + 4 * 4), "x plus kernel, bias, gamma, beta of four conv+BN pairs");
        foreach (var row in report.Rows)
        {
            if (training && row.Name.EndsWith("/bias"))
            {
                // Training-mode batch norm subtracts the batch mean, which cancels a conv bias
                // exactly: its true gradient is zero, and both sides must say so (up to rounding).
                Assert.That(row.Scale, Is.LessThan(1e-9), $"{row.Name} should have a zero gradient\n{report}");
                continue;
            }
            Assert.That(row.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), $"{row.Name}\n{report}");
            Assert.That(row.Scale, Is.GreaterThan(1e-3), $"{row.Name}: a vanishing gradient would make this check empty");
        }
    }
}
