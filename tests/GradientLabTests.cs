using System.Xml.Linq;
using Engine.Layers;
using Engine.ResNet.Training;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The vanishing-gradient lab at a small scale, on synthetic images: the plain stack's first
/// convolution gets a vanishing share of the gradient its last one gets, the residual stack's
/// about as much, and the picture holds a line per recorded step for each.
/// </summary>
public class GradientLabTests
{
    /// <summary>Images whose class sets the mean brightness of one colour channel, plus noise.</summary>
    static (Tensor<float> X, Tensor<float> Y) Colours(int n, int classes, ulong seed)
    {
        var rng = new Rng(seed);
        var x = Tensor<float>.Empty(new Shape(n, 16, 16, 3));
        var y = Tensor<float>.Zeros(new Shape(n, classes));
        var xs = x.Span;
        for (int i = 0; i < n; i++)
        {
            int label = i % classes;
            for (int p = 0; p < 16 * 16; p++)
                for (int c = 0; c < 3; c++)
                    xs[(i * 256 + p) * 3 + c] = (float)((c == label % 3 ? 0.3 + 0.2 * (label / 3) : 0.1) + rng.Uniform(-0.1, 0.1));
            y[i, label] = 1;
        }
        return (x, y);
    }

    [Test]
    public void Without_skips_the_first_layers_gradient_vanishes_with_them_it_does_not()
    {
        var (x, y) = Colours(64, 4, 1);
        var records = new Dictionary<bool, GradientRecord>();
        foreach (bool residual in new[] { false, true })
        {
            LayerNames.Reset();
            var model = GradientLab.Build(residual, 20, (16, 16, 3), 4);
            Assert.That(model.Layers.OfType<Conv2D<float>>().Count(), Is.EqualTo(21), "the stem and 20 in the stack");
            records[residual] = GradientLab.Run(model, x, y, steps: 30, recordEvery: 10, batchSize: 16);
        }
        var plain = records[false];
        var skip = records[true];
        Assert.That(plain.Steps, Is.EqualTo(new[] { 1, 10, 20, 30 }));
        Assert.That(plain.Norms.All(r => r.Length == 21), Is.True);
        // After some training the plain stack's first convolution gets (next to) nothing of the
        // gradient its last one gets; the residual stack's gets the same order of magnitude.
        double plainRatio = plain.FirstOverLast(2), skipRatio = skip.FirstOverLast(2);
        TestContext.Out.WriteLine($"first / last: plain {string.Join(", ", plain.Steps.Select((s, r) => plain.FirstOverLast(r)))}; residual {string.Join(", ", skip.Steps.Select((s, r) => skip.FirstOverLast(r)))}");
        Assert.That(double.IsNaN(plainRatio) || plainRatio < 1e-3, Is.True, $"plain: {plainRatio}");
        Assert.That(skipRatio, Is.GreaterThan(0.1), $"residual: {skipRatio}");

        var svg = XDocument.Parse(GradientLab.Svg(plain, skip, "lab"));
        XNamespace ns = "http://www.w3.org/2000/svg";
        foreach (var record in new[] { plain, skip })
        {
            var panel = svg.Descendants(ns + "g").Single(g => (string?)g.Attribute("id") == record.Network);
            var lines = panel.Elements(ns + "polyline").ToArray();
            Assert.That(lines.Select(l => (string)l.Attribute("class")!), Is.EqualTo(record.Steps.Select(s => $"step{s}")));
            Assert.That(lines.All(l => ((string)l.Attribute("points")!).Split(' ').Length == 21), Is.True, "a point per convolution");
        }
    }

    [Test]
    public void The_residual_network_needs_an_even_depth()
    {
        Assert.That(() => GradientLab.Build(true, 7, (16, 16, 3), 4), Throws.ArgumentException.With.Message.Contains("even"));
        Assert.That(GradientLab.Build(false, 7, (16, 16, 3), 4).Layers.OfType<Conv2D<float>>().Count(), Is.EqualTo(8));
    }
}
