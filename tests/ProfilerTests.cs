using System.Diagnostics;
using Engine.Autograd;
using Engine.Layers;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The per-layer profile: which layer each forward and backward is charged to, and the FLOPs its rates use.</summary>
public class ProfilerTests
{
    const int Batch = 2;

    static Model<float> SmallNetwork()
    {
        var input = Functional.Input<float>(new Shape(8, 8, 3));
        var x = new Conv2D<float>(4, 3, padding: "same", seed: 1, name: "first").Call(input);
        x = new BatchNormalization<float>(name: "norm").Call(x);
        x = new Activation<float>("relu", name: "relu").Call(x);
        x = new Conv2D<float>(6, 1, seed: 2, name: "second").Call(x);
        x = new Flatten<float>(name: "flat").Call(x);
        x = new Dense<float>(3, "softmax", seed: 3, name: "out").Call(x);
        var model = new Model<float>(input, x);
        model.Compile("adam");
        return model;
    }

    static (Tensor<float> X, Tensor<float> Y) Batch2()
    {
        var x = Tensor<float>.FromArray(TestData.Random<float>(Batch * 8 * 8 * 3, 5), new Shape(Batch, 8, 8, 3));
        var y = Tensor<float>.FromArray([1f, 0, 0, 0, 0, 1], new Shape(Batch, 3));
        return (x, y);
    }

    [Test]
    public void ATrainingStepIsChargedToTheLayersThatRanIt()
    {
        var model = SmallNetwork();
        var (x, y) = Batch2();
        model.TrainOnBatch(x, y); // warm: the profiled step does no first-time work
        var profiler = new Profiler();
        long start = Stopwatch.GetTimestamp();
        using (profiler.Activate()) model.TrainOnBatch(x, y);
        double wallMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;

        var layers = model.LayerTimes(profiler, Batch, passes: 1);
        // The ReLU runs inside its batch norm, which carries its time; the input layer does nothing.
        Assert.That(layers.Select(l => (l.Name, l.Type)), Is.EqualTo(new[]
        {
            ("first", "Conv2D"), ("norm", "BatchNormalization+ReLU"), ("second", "Conv2D"), ("flat", "Flatten"), ("out", "Dense"),
        }));
        foreach (var layer in layers)
        {
            Assert.That(layer.ForwardMs, Is.GreaterThan(0), layer.Name);
            Assert.That(layer.BackwardMs, Is.GreaterThan(0), layer.Name);
        }
        Assert.That(layers.Sum(l => l.TotalMs) + profiler.Updates.TotalMilliseconds, Is.LessThan(wallMs));

        var first = layers[0];
        double firstMacs = 8 * 8 * (3 * 3 * 3 * 4) * Batch;
        Assert.That(first.ForwardFlops, Is.EqualTo(2 * firstMacs));
        Assert.That(first.BackwardFlops, Is.EqualTo(2 * firstMacs), "the input needs no gradient: backward is dW alone");
        var second = layers[2];
        Assert.That(second.ForwardFlops, Is.EqualTo(2.0 * 8 * 8 * 4 * 6 * Batch));
        Assert.That(second.BackwardFlops, Is.EqualTo(2 * second.ForwardFlops), "dX and dW");
        Assert.That(layers[4].ForwardFlops, Is.EqualTo(2.0 * 8 * 8 * 6 * 3 * Batch));
        Assert.That(layers[1].ForwardFlops, Is.Zero, "batch norm is not counted");
        Assert.That(first.ForwardGflops, Is.EqualTo(first.ForwardFlops / (first.ForwardMs * 1e6)).Within(1e-9));

        Assert.That(profiler.Updates, Is.GreaterThan(TimeSpan.Zero), "Adam runs during backward");
        var loss = profiler.Scopes.Single(s => s.Scope == Profiler.Unscoped);
        Assert.That(loss.Backward, Is.GreaterThan(TimeSpan.Zero), "the loss's backward is outside every layer");
        Assert.That(loss.Forward, Is.EqualTo(TimeSpan.Zero), "nothing outside the model charges forward time");
    }

    [Test]
    public void NothingIsChargedWhenTheProfilerIsNotActive()
    {
        var model = SmallNetwork();
        var (x, y) = Batch2();
        var profiler = new Profiler();
        using (profiler.Activate()) model.TrainOnBatch(x, y);
        var before = profiler.Scopes.ToArray();
        model.TrainOnBatch(x, y);
        Assert.That(profiler.Scopes, Is.EqualTo(before));
        Assert.That(Profiler.Current, Is.Null);
    }

    [Test]
    public void PassesDivideTheTotals()
    {
        var model = SmallNetwork();
        var (x, y) = Batch2();
        var profiler = new Profiler();
        using (profiler.Activate())
            for (int i = 0; i < 3; i++) model.TrainOnBatch(x, y);
        var once = model.LayerTimes(profiler, Batch, passes: 1);
        var each = model.LayerTimes(profiler, Batch, passes: 3);
        for (int i = 0; i < once.Count; i++)
        {
            Assert.That(each[i].ForwardMs * 3, Is.EqualTo(once[i].ForwardMs).Within(1e-9));
            Assert.That(each[i].BackwardMs * 3, Is.EqualTo(once[i].BackwardMs).Within(1e-9));
            Assert.That(each[i].ForwardFlops, Is.EqualTo(once[i].ForwardFlops), "FLOPs are per pass");
        }
        Assert.Throws<ArgumentException>(() => model.LayerTimes(profiler, Batch, passes: 0));
    }
}
