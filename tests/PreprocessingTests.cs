using Engine.ResNet.Data;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The course's <c>X / 255.</c> and <c>convert_to_one_hot</c>.</summary>
public class PreprocessingTests
{
    [Test]
    public void PixelsAreDividedBy255()
    {
        byte[] pixels = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        using var x = Preprocessing.ScalePixels(pixels, new Shape(4, 8, 8));
        Assert.That(x.Shape, Is.EqualTo(new Shape(4, 8, 8)));
        for (int b = 0; b < 256; b++)
            Assert.That(x.Span[b], Is.EqualTo((float)(b / 255.0)), $"pixel {b}: NumPy's float32(X / 255.)");
        Assert.That(x.Span[0], Is.EqualTo(0f));
        Assert.That(x.Span[255], Is.EqualTo(1f));
        Assert.Throws<ArgumentException>(() => Preprocessing.ScalePixels(pixels, new Shape(3, 8, 8)));
    }

    [Test]
    public void LabelsBecomeOneHotRows()
    {
        using var y = Preprocessing.ConvertToOneHot([2, 0, 5, 2], 6);
        Assert.That(y.Shape, Is.EqualTo(new Shape(4, 6)));
        Assert.That(y.ToArray(), Is.EqualTo(new float[]
        {
            0, 0, 1, 0, 0, 0,
            1, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 1,
            0, 0, 1, 0, 0, 0,
        }));
    }

    [Test]
    public void ALabelOutsideTheClassesIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Preprocessing.ConvertToOneHot([0, 6], 6));
        Assert.That(e!.Message, Does.Contain("label 6 at row 1"));
        Assert.Throws<ArgumentOutOfRangeException>(() => Preprocessing.ConvertToOneHot([-1], 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => Preprocessing.ConvertToOneHot([0], 0));
    }
}
