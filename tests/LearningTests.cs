using Engine.ResNet.Training;
using NUnit.Framework;

namespace Engine.Tests;

public class LearningTests
{
    [Test]
    public void TwoLayerNetworkLearnsSpirals()
    {
        // Three interleaved spirals are not linearly separable: chance is 1/3, a linear model
        // gets ~0.5, so > 0.9 accuracy needs the hidden ReLU layer and every gradient right.
        var net = new SmallNetwork(seed: 5);
        var first = net.TrainEpoch(1);
        EpochResult last = first;
        for (int e = 2; e <= 30; e++) last = net.TrainEpoch(e);
        TestContext.Out.WriteLine($"loss {first.Loss:F4} -> {last.Loss:F4}, accuracy {last.Accuracy:F4}");
        Assert.That(first.Loss, Is.GreaterThan(0.5), "the first epoch should start near chance (ln 3 = 1.10)");
        Assert.That(last.Loss, Is.LessThan(0.25));
        Assert.That(last.Accuracy, Is.GreaterThan(0.9));
    }

    [Test]
    public void TheSameSeedGivesTheSameRun()
    {
        var a = new SmallNetwork(seed: 9);
        var b = new SmallNetwork(seed: 9);
        for (int e = 1; e <= 3; e++)
            Assert.That(a.TrainEpoch(e).Loss, Is.EqualTo(b.TrainEpoch(e).Loss), $"epoch {e}");
    }
}
