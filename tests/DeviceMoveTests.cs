using Engine.Layers;
using Engine.ResNet.Models;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>Tensors and models moving between devices, checked on the CPU (which every machine has).</summary>
public class DeviceMoveTests
{
    [Test]
    public void MoveTo_keeps_the_tensor_object_and_its_values()
    {
        using var t = Tensor<float>.FromArray([1f, 2f, 3f], new Shape(3));
        var storage = t.Storage;
        t.MoveTo(Device.Cpu);
        Assert.That(t.Storage, Is.SameAs(storage), "already there: nothing moves");
        using var copy = t.To(Device.Cpu);
        Assert.That(copy.Storage, Is.Not.SameAs(storage));
        Assert.That(copy.ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f }));
    }

    [Test]
    public void A_view_cannot_move()
    {
        using var t = Tensor<float>.Zeros(new Shape(2, 3));
        var view = t.Reshape(new Shape(6));
        Assert.That(() => view.MoveTo(new OtherCpu()), Throws.InvalidOperationException.With.Message.Contains("view"));
    }

    [Test]
    public void Model_To_moves_weights_state_and_optimizer_state()
    {
        LayerNames.Reset();
        var model = ResNetModels.Create<float>("resnet18", (64, 64, 3), 6);
        model.Compile("adam");
        var other = new OtherCpu();
        var kernel = model.Parameters.First().Value;
        var before = kernel.ToArray();
        model.To(other);
        Assert.That(model.Device, Is.SameAs(other));
        Assert.That(kernel.Device, Is.SameAs(other), "the same tensor object, moved");
        Assert.That(kernel.ToArray(), Is.EqualTo(before));
        Assert.That(model.Parameters.All(p => p.Value.Device == other), Is.True);
        Assert.That(model.Layers.SelectMany(l => l.State).All(s => s.Value.Device == other), Is.True);
        // Ops allocate on their input's device: a training step's activations and gradients land there.
        OtherCpu.Allocations = 0;
        using var x = Tensor<float>.Zeros(new Shape(2, 64, 64, 3));
        using var y = Tensor<float>.Zeros(new Shape(2, 6));
        y[0, 1] = 1; y[1, 2] = 1;
        var (loss, _) = model.TrainOnBatch(x, y);
        Assert.That(loss, Is.GreaterThan(0).And.LessThan(10));
        Assert.That(OtherCpu.Allocations, Is.GreaterThan(0));
    }

}
