using Engine.Autograd.Optimizers;
using System.Text.RegularExpressions;
using Engine.Layers;
using Engine.ResNet.Models;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>compile / fit / evaluate / predict on a small residual network and a task it can learn in seconds.</summary>
public class ModelTrainingTests
{
    /// <summary>
    /// 12x12 grey-ish images with a bright 4x4 square in one of four quadrants (the class),
    /// on noise: learnable by a small convolutional network, not by chance.
    /// </summary>
    static (Tensor<float> X, Tensor<float> Y) Quadrants(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var x = Tensor<float>.Empty(new Shape(n, 12, 12, 3));
        var y = Tensor<float>.Zeros(new Shape(n, 4));
        var xs = x.Span;
        for (int i = 0; i < n; i++)
        {
            int label = i % 4, top = label / 2 * 6 + rng.Next(3), left = label % 2 * 6 + rng.Next(3);
            for (int h = 0; h < 12; h++)
                for (int w = 0; w < 12; w++)
                    for (int c = 0; c < 3; c++)
                    {
                        bool inside = h >= top && h < top + 4 && w >= left && w < left + 4;
                        xs[((i * 12 + h) * 12 + w) * 3 + c] = (float)((inside ? 0.8 : 0.3) + rng.Uniform(-0.2, 0.2));
                    }
            y[i, label] = 1;
        }
        return (x, y);
    }

    static Model<float> SmallResNet()
    {
        LayerNames.Reset();
        var input = Functional.Input<float>(new Shape(12, 12, 3));
        var x = new Conv2D<float>(8, 3, padding: "same", seed: 1).Call(input);
        x = new BatchNormalization<float>().Call(x);
        x = new Activation<float>("relu").Call(x);
        x = ResNetModels.ConvolutionalBlock(x, 3, [4, 4, 8], stage: 2, block: "a", s: 2);
        x = ResNetModels.IdentityBlock(x, 3, [4, 4, 8], stage: 2, block: "b");
        x = new AveragePooling2D<float>(2).Call(x);
        x = new Flatten<float>().Call(x);
        x = new Dense<float>(4, "softmax", seed: 2).Call(x);
        return new Model<float>(input, x);
    }

    [Test]
    public void FitLowersTheLossAndLearnsTheTask()
    {
        var (x, y) = Quadrants(256, 1);
        var (xTest, yTest) = Quadrants(64, 2);
        var model = SmallResNet();
        model.Compile("adam", "categorical_crossentropy", ["accuracy"]);
        var log = new StringWriter();
        var history = model.Fit(x, y, epochs: 15, batchSize: 16, validation: (xTest, yTest), seed: 3, log: log);
        Assert.That(history, Has.Count.EqualTo(15));
        Assert.That(history[^1].Loss, Is.LessThan(0.5 * history[0].Loss), string.Join("\n", history));
        var (loss, accuracy) = model.Evaluate(xTest, yTest);
        Assert.That(accuracy, Is.GreaterThanOrEqualTo(0.9), $"test accuracy {accuracy}, loss {loss}");
        Assert.That(history[^1].ValidationAccuracy, Is.EqualTo(accuracy).Within(1e-12), "the last epoch's validation is the same evaluation");

        var lines = log.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Is.EqualTo("Epoch 1/15"));
        Assert.That(lines[1], Does.Match(@"^256/256 \[={30}\] - \d+s \d+ms/step - loss: \d\.\d{4} - acc: \d\.\d{4} - val_loss: \d\.\d{4} - val_acc: \d\.\d{4}$"));
        Assert.That(lines, Has.Length.EqualTo(30));
    }

    [Test]
    public void EvaluateAndPredictAgree()
    {
        var (x, y) = Quadrants(40, 4);
        var model = SmallResNet();
        model.Compile();
        model.Fit(x, y, epochs: 1, batchSize: 8);
        var p = model.Predict(x, batchSize: 7);
        Assert.That(p.Shape, Is.EqualTo(new Shape(40, 4)));
        double loss = 0;
        int correct = 0;
        for (int i = 0; i < 40; i++)
        {
            var row = p.Span.Slice(i * 4, 4).ToArray();
            Assert.That(row.Sum(), Is.EqualTo(1f).Within(1e-5f));
            int label = i % 4, predicted = Array.IndexOf(row, row.Max());
            if (predicted == label) correct++;
            loss -= Math.Log(row[label]);
        }
        var (evaluatedLoss, accuracy) = model.Evaluate(x, y, batchSize: 9);
        Assert.That(accuracy, Is.EqualTo(correct / 40.0));
        Assert.That(evaluatedLoss, Is.EqualTo(loss / 40).Within(1e-4));
    }

    [Test]
    public void ANonFiniteWeightStopsTrainingAtTheFirstStepNamingItsLayer()
    {
        var (x, y) = Quadrants(32, 6);
        var model = SmallResNet();
        model.Compile();
        // A NaN planted in the classifier's kernel reaches the logits: the first forward's loss is NaN.
        // (Planted in a convolution, a ReLU after it may turn it into 0 for a few steps; the loss
        // shows it once it has spread, and the check at the epoch's end in any case.)
        var layer = model.Layers.OfType<Dense<float>>().Single();
        layer.Kernel.Value.Span[5] = float.NaN;
        int epochsReported = 0;
        var e = Assert.Throws<TrainingDivergedException>(() => model.Fit(x, y, epochs: 2, batchSize: 8, onEpochEnd: _ => epochsReported++))!;
        Assert.That((e.Epoch, e.Step, e.Layer), Is.EqualTo((1, 1, layer.Name)));
        Assert.That(e.Message, Does.Contain("epoch 1, step 1").And.Contain("the loss is NaN").And.Contain(layer.Name));
        Assert.That(epochsReported, Is.Zero);
        Assert.That(model.Training, Is.False);
    }

    [Test]
    public void AnUpdateThatOverflowsTheWeightsStopsTrainingBeforeTheEpochIsReported()
    {
        var (x, y) = Quadrants(16, 7);
        var model = SmallResNet();
        // A learning rate beyond float's range: the first step's loss is finite, its update is not.
        model.Compile(makeOptimizer: ps => new Sgd<float>(ps, learningRate: 1e300));
        int epochsReported = 0;
        var e = Assert.Throws<TrainingDivergedException>(() => model.Fit(x, y, epochs: 1, batchSize: 16, onEpochEnd: _ => epochsReported++))!;
        Assert.That((e.Epoch, e.Step), Is.EqualTo((1, 1)));
        Assert.That(e.Message, Does.Contain("a weight is not finite after the epoch's last update"));
        Assert.That(e.Layer, Is.EqualTo(model.FirstNonFiniteLayer()).And.Not.Null);
        Assert.That(epochsReported, Is.Zero, "no checkpoint callback saw the broken weights");
    }

    [Test]
    public void AHealthyModelHasNoNonFiniteLayer()
    {
        var model = SmallResNet();
        Assert.That(model.FirstNonFiniteLayer(), Is.Null);
        var bn = model.Layers.OfType<BatchNormalization<float>>().First();
        bn.MovingVariance.Span[0] = float.PositiveInfinity;
        Assert.That(model.FirstNonFiniteLayer(), Is.EqualTo(bn.Name), "moving statistics count too");
    }

    [Test]
    public void BadTrainingArgumentsAreClearErrors()
    {
        var (x, y) = Quadrants(8, 5);
        var model = SmallResNet();
        var e = Assert.Throws<InvalidOperationException>(() => model.Fit(x, y))!;
        Assert.That(e.Message, Does.Contain("Compile"));
        Assert.That(Assert.Throws<ArgumentException>(() => model.Compile("adagrad"))!.Message, Does.Contain("adagrad"));
        Assert.That(Assert.Throws<ArgumentException>(() => model.Compile(loss: "mse"))!.Message, Does.Contain("mse"));
        model.Compile();
        var wrongTargets = Tensor<float>.Zeros(new Shape(8, 3));
        Assert.That(Assert.Throws<ArgumentException>(() => model.Fit(x, wrongTargets))!.Message, Does.Contain("[N, 4]"));
        var fewerTargets = Tensor<float>.Zeros(new Shape(7, 4));
        Assert.That(Assert.Throws<ArgumentException>(() => model.Fit(x, fewerTargets))!.Message, Does.Contain("8 inputs but 7 targets"));
    }

    [Test]
    public void AWarmResNet50TrainingStepAllocatesNoBuffersAndKeepsNoGradients()
    {
        var model = ResNetModels.ResNet50<float>((64, 64, 3), 6);
        model.Compile("adam");
        var rng = new Rng(8);
        using var x = Initializers.Uniform<float>(new Shape(32, 64, 64, 3), 0, 1, rng);
        using var y = Tensor<float>.Zeros(new Shape(32, 6));
        for (int i = 0; i < 32; i++) y[i, i % 6] = 1;
        var pool = TensorPool<float>.Shared;
        for (int i = 0; i < 2; i++) model.TrainOnBatch(x, y);
        TestData.SettleDroppedTensors();
        long buffers = pool.Allocations, outstanding = pool.Outstanding;
        long bytes = GC.GetTotalAllocatedBytes(precise: true);
        const int steps = 2;
        for (int i = 0; i < steps; i++) model.TrainOnBatch(x, y);
        long perStep = (GC.GetTotalAllocatedBytes(precise: true) - bytes) / steps;
        Assert.That(pool.Allocations, Is.EqualTo(buffers), "a warm step made new tensor buffers");
        Assert.That(pool.Outstanding, Is.EqualTo(outstanding), "a step kept buffers it should have returned");
        // The smallest activation at batch 32 is 1 MB (2x2x2048 floats an image): any tensor made
        // outside the pool would show. What is left is the tape's bookkeeping.
        Assert.That(perStep, Is.LessThan(1 << 20), $"{perStep} bytes allocated a step");
        Assert.That(model.Parameters.Where(p => p.Grad != null).Select(p => p.Name), Is.Empty, "gradients kept between steps");
    }
}
