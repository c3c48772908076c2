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
        TestData.SettleDroppedTensors();
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

        // Two warm-up steps: the first may be lent longer free arrays other code left in the
        // shared pool, and the second settles on what every later step reuses.
        Step();
        Step();
        TestData.SettleDroppedTensors();
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

    /// <summary>A conv -> (conv, pad) -> add graph in float64, with the forward giving up every value after its last use or not.</summary>
    static (double[] DKernel, double[] DOther, Variable<double> Padded, Variable<double> Convolved) ConvAddStep(bool release)
    {
        var x = new Variable<double>(Initializers.Uniform<double>(new Shape(2, 5, 5, 3), -1, 1, new Rng(4)));
        var kernel = new Variable<double>(Initializers.GlorotUniform<double>(new Shape(3, 3, 3, 4), new Rng(5)), requiresGrad: true);
        var other = new Variable<double>(Initializers.GlorotUniform<double>(new Shape(1, 1, 3, 4), new Rng(6)), requiresGrad: true);
        var seed = Initializers.Uniform<double>(new Shape(2, 5, 5, 4), -1, 1, new Rng(7));
        using var tape = new Tape();
        var padded = Ops.ZeroPad2D(x, (1, 1), (1, 1));
        var convolved = Ops.Conv2D(padded, kernel, null, 1, 1, "valid");
        var shortcut = Ops.Conv2D(x, other, null, 1, 1, "valid");
        if (release) tape.ReleaseWhenUnneeded(padded);
        var sum = Ops.Add(convolved, shortcut);
        if (release)
        {
            tape.ReleaseWhenUnneeded(convolved);
            tape.ReleaseWhenUnneeded(shortcut);
            // The add reads neither input in its backward; the convolution reads its input.
            Assert.That(convolved.Value.IsDisposed && shortcut.Value.IsDisposed, Is.True, "an add's inputs were kept for a backward that never reads them");
            Assert.That(padded.Value.IsDisposed, Is.False, "a convolution's input was released before its backward");
        }
        tape.Backward(sum, seed);
        if (release) Assert.That(padded.Value.IsDisposed, Is.True, "a convolution's input outlived the backward that read it");
        return (kernel.Grad!.ToArray(), other.Grad!.ToArray(), padded, convolved);
    }

    [Test]
    public void ValuesTheForwardGaveUpAreFreedOnceNoBackwardReadsThem()
    {
        var kept = ConvAddStep(release: false);
        var released = ConvAddStep(release: true);
        Assert.That(released.DKernel, Is.EqualTo(kept.DKernel));
        Assert.That(released.DOther, Is.EqualTo(kept.DOther));
        Assert.That(kept.Padded.Value.IsDisposed, Is.True, "the tape's dispose frees what it owns");
    }

    [Test]
    public void KeptValuesAndViewsAreNeverReleasedEarly()
    {
        var x = new Variable<float>(Tensor<float>.Ones(new Shape(2, 3)), requiresGrad: true);
        using var tape = new Tape();
        var doubled = Ops.Add(x, x);
        var viewed = Ops.Add(x, x);
        var flat = Ops.Flatten(viewed);
        tape.Keep(doubled);
        tape.ReleaseWhenUnneeded(doubled);
        tape.ReleaseWhenUnneeded(viewed);
        Assert.That(doubled.Value.IsDisposed, Is.False);
        Assert.That(viewed.Value.IsDisposed, Is.False, "released a value a reshape view still reads");
        Assert.That(flat.Value.ToArray(), Is.EqualTo(new float[6].Select(_ => 2f)));
    }

    [Test]
    public void ALeafsGradientIsReportedCompleteOnceAfterItsLastContribution()
    {
        var shared = new Variable<float>(Tensor<float>.FromArray([2f, 3f], new Shape(2)), requiresGrad: true);
        var once = new Variable<float>(Tensor<float>.FromArray([5f, 7f], new Shape(2)), requiresGrad: true);
        var unused = new Variable<float>(Tensor<float>.Ones(new Shape(2)), requiresGrad: true);
        var reports = new List<(string Name, float[] Grad)>();
        using var tape = new Tape();
        // shared feeds two products, so its gradient is final only after both backwards.
        var a = Ops.Multiply(shared, once);
        var b = Ops.Multiply(shared, shared);
        var loss = Ops.Sum(Ops.Add(a, b));
        _ = Ops.Multiply(unused, unused);
        tape.Backward(loss, v => reports.Add((v == shared ? "shared" : v == once ? "once" : "unused", v.Grad!.ToArray())));
        Assert.That(reports.Select(r => r.Name), Is.EquivalentTo(new[] { "shared", "once" }));
        // d/dshared (shared * once + shared^2) = once + 2 shared: the full sum, not a part of it.
        Assert.That(reports.Single(r => r.Name == "shared").Grad, Is.EqualTo(new[] { 9f, 13f }));
        Assert.That(reports.Single(r => r.Name == "once").Grad, Is.EqualTo(new[] { 2f, 3f }));
    }
}
