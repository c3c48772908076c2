using Engine.Autograd;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

public class TapeTests
{
    [Test]
    public void GradientsAccumulateOverTwoConsumers()
    {
        // y = sum(x * x + x): dy/dx = 2x + 1 exactly.
        var x = new Variable<double>(Tensor<double>.FromArray([1.5, -2.0, 0.25], new Shape(3)), requiresGrad: true);
        using (var tape = new Tape())
        {
            var y = Ops.Sum(Ops.Add(Ops.Multiply(x, x), x));
            Assert.That(y.Value.Span[0], Is.EqualTo(1.5 * 1.5 + 4 + 0.0625 + 1.5 - 2 + 0.25).Within(1e-12));
            tape.Backward(y);
        }
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 4.0, -3.0, 1.5 }).Within(1e-12));
    }

    [Test]
    public void InferenceModeRecordsNothing()
    {
        var w = new Variable<float>(Tensor<float>.Ones(new Shape(2, 2)), requiresGrad: true);
        var x = new Variable<float>(Tensor<float>.Ones(new Shape(1, 2)));
        using var tape = Tape.Inference();
        var y = Ops.MatMul(x, w);
        Assert.That(tape.NodeCount, Is.Zero);
        Assert.That(y.RequiresGrad, Is.False);
        Assert.That(y.Value.ToArray(), Is.EqualTo(new[] { 2f, 2f }));
        Assert.Throws<InvalidOperationException>(() => tape.Backward(Ops.Sum(y)));
    }

    [Test]
    public void ConstantsGetNoGradient()
    {
        var w = new Variable<float>(Tensor<float>.Full(new Shape(2, 2), 0.5f), requiresGrad: true);
        var x = new Variable<float>(Tensor<float>.Ones(new Shape(3, 2)));
        using (var tape = new Tape()) tape.Backward(Ops.Sum(Ops.MatMul(x, w)));
        Assert.That(x.Grad, Is.Null);
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 3f, 3f, 3f, 3f }));
    }

    [Test]
    public void BackwardNeedsAScalarOrASeed()
    {
        var x = new Variable<float>(Tensor<float>.Ones(new Shape(2)), requiresGrad: true);
        using var tape = new Tape();
        var y = Ops.Relu(x);
        Assert.Throws<ArgumentException>(() => tape.Backward(y));
        tape.Backward(y, Tensor<float>.FromArray([2f, 3f], new Shape(2)));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 2f, 3f }));
    }

    [Test]
    public void ASeedIsReadInPlaceAndStaysTheCallers()
    {
        var pool = TensorPool<float>.Shared;
        var x = new Variable<float>(Tensor<float>.FromArray([1f, -2f, 3f], new Shape(3)), requiresGrad: true);
        using var seed = Tensor<float>.FromArray([0.5f, 4f, -1f], new Shape(3));
        void Step()
        {
            x.ReleaseGrad();
            using var tape = new Tape();
            tape.Backward(Ops.Multiply(x, x), seed);
        }

        Step();
        long outstanding = pool.Outstanding;
        for (int i = 0; i < 3; i++) Step();
        // Had the tape returned the seed to the pool, the next step's buffers would reuse and overwrite it.
        Assert.That(seed.ToArray(), Is.EqualTo(new[] { 0.5f, 4f, -1f }));
        Assert.That(pool.Outstanding, Is.EqualTo(outstanding), "the seed went back to the pool or a buffer leaked");
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1f, -16f, -6f }), "d(x*x)/dx = 2x * seed");
    }

    [Test]
    public void AnOutputThatKeepsItsGradientGetsACopyOfTheSeed()
    {
        var x = new Variable<float>(Tensor<float>.FromArray([1f, 2f], new Shape(2)), requiresGrad: true);
        using var seed = Tensor<float>.FromArray([3f, 5f], new Shape(2));
        using var tape = new Tape();
        var y = Ops.Relu(x);
        y.RetainsGrad = true;
        tape.Backward(y, seed);
        Assert.That(y.Grad, Is.Not.SameAs(seed));
        Assert.That(y.Grad!.ToArray(), Is.EqualTo(new[] { 3f, 5f }));
        // Made on another tape, so nothing here releases its gradient: it must own a copy too.
        Variable<float> z;
        using (var first = new Tape())
        {
            z = Ops.Relu(x);
            first.Keep(z);
        }
        using (var second = new Tape()) second.Backward(z, seed);
        Assert.That(z.Grad, Is.Not.SameAs(seed));
        Assert.That(z.Grad!.ToArray(), Is.EqualTo(new[] { 3f, 5f }));
    }

    [Test]
    public void ATrainingStepReusesItsBuffersOnceWarm()
    {
        var pool = TensorPool<float>.Shared;
        var w1 = new Variable<float>(Initializers.GlorotUniform<float>(new Shape(8, 16), new Rng(1)), requiresGrad: true);
        var w2 = new Variable<float>(Initializers.GlorotUniform<float>(new Shape(16, 4), new Rng(2)), requiresGrad: true);
        var x = new Variable<float>(Initializers.Uniform<float>(new Shape(5, 8), -1, 1, new Rng(3)));
        var t = new Variable<float>(Tensor<float>.Zeros(new Shape(5, 4)));

        void Step()
        {
            using var tape = new Tape();
            var loss = Ops.SoftmaxCrossEntropy(Ops.MatMul(Ops.Relu(Ops.MatMul(x, w1)), w2), t);
            tape.Backward(loss);
        }

        Step();
        long outstanding = pool.Outstanding, allocations = pool.Allocations;
        for (int i = 0; i < 5; i++) Step();
        Assert.That(pool.Allocations, Is.EqualTo(allocations), "a warm step allocated new buffers");
        Assert.That(pool.Outstanding, Is.EqualTo(outstanding), "a step kept buffers it should have returned");
    }

    [Test]
    public void IntermediateGradientsAreReleasedAndValuesFreedOnDispose()
    {
        var x = new Variable<float>(Tensor<float>.Ones(new Shape(4)), requiresGrad: true);
        Variable<float> hidden, kept;
        using (var tape = new Tape())
        {
            hidden = Ops.Relu(x);
            kept = Ops.Sigmoid(hidden);
            tape.Keep(kept);
            tape.Backward(Ops.Sum(kept));
            Assert.That(hidden.Grad, Is.Null, "an intermediate gradient outlived its use");
            Assert.That(x.Grad, Is.Not.Null);
        }
        Assert.That(hidden.Value.IsDisposed, Is.True);
        Assert.That(kept.Value.IsDisposed, Is.False);
        Assert.That(kept.Value[0], Is.EqualTo(1 / (1 + MathF.Exp(-1))).Within(1e-6));
    }
}
