using System.Globalization;
using System.Xml.Linq;
using Engine.Layers;
using Engine.ResNet.Models;
using Engine.ResNet.Training;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The training pictures: well-formed SVG whose lines and cells hold the figures they were given.</summary>
public class TrainingChartsTests
{
    static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    static EpochLog[] History(bool validation) =>
    [
        new(1, 2.0, 0.40, validation ? 1.5 : null, validation ? 0.35 : null, TimeSpan.FromSeconds(9)),
        new(2, 0.6, 0.78, validation ? 0.9 : null, validation ? 0.70 : null, TimeSpan.FromSeconds(8)),
        new(3, 0.3, 0.90, validation ? 0.5 : null, validation ? 0.85 : null, TimeSpan.FromSeconds(8)),
    ];

    [TestCase(true)]
    [TestCase(false)]
    public void Curves_draw_one_point_per_epoch_for_each_series(bool validation)
    {
        var doc = XDocument.Parse(TrainingCharts.CurvesSvg(History(validation), "a & b"));
        Assert.That(doc.Root!.Name, Is.EqualTo(Svg + "svg"));
        foreach (string panel in new[] { "loss", "accuracy" })
        {
            var g = doc.Descendants(Svg + "g").Single(e => (string?)e.Attribute("id") == panel);
            var lines = g.Elements(Svg + "polyline").ToDictionary(e => (string)e.Attribute("class")!, e => Points(e));
            Assert.That(lines.Keys, Is.EquivalentTo(validation ? new[] { "train", "validation" } : new[] { "train" }), panel);
            foreach (var points in lines.Values)
            {
                Assert.That(points, Has.Length.EqualTo(3));
                Assert.That(points.Select(p => p.X), Is.Ordered.Ascending, "epochs left to right");
            }
            // SVG's y grows downwards: a falling loss climbs on the page, a rising accuracy too.
            var train = lines["train"];
            if (panel == "loss") Assert.That(train.Select(p => p.Y), Is.Ordered.Ascending);
            else Assert.That(train.Select(p => p.Y), Is.Ordered.Descending);
        }
        Assert.That(doc.ToString(), Does.Contain("a &amp; b"));
    }

    [Test]
    public void The_accuracy_axis_runs_from_0_to_1_and_the_points_sit_on_it()
    {
        var doc = XDocument.Parse(TrainingCharts.CurvesSvg(History(false), "t"));
        var g = doc.Descendants(Svg + "g").Single(e => (string?)e.Attribute("id") == "accuracy");
        var frame = g.Element(Svg + "rect")!;
        double top = Attr(frame, "y"), height = Attr(frame, "height");
        var points = Points(g.Element(Svg + "polyline")!);
        double[] expected = [0.40, 0.78, 0.90];
        for (int i = 0; i < 3; i++) Assert.That((top + height - points[i].Y) / height, Is.EqualTo(expected[i]).Within(0.005));
    }

    [Test]
    public void The_confusion_matrix_shows_every_count_and_the_total_correct()
    {
        int[,] counts = { { 5, 1, 0 }, { 0, 7, 2 }, { 1, 0, 4 } };
        var doc = XDocument.Parse(TrainingCharts.ConfusionMatrixSvg(counts, "test"));
        var cells = doc.Descendants(Svg + "text").Where(e => (string?)e.Attribute("class") == "count").Select(e => int.Parse(e.Value)).ToArray();
        Assert.That(cells, Is.EqualTo(new[] { 5, 1, 0, 0, 7, 2, 1, 0, 4 }), "row by row: true class, then predicted");
        Assert.That(doc.ToString(), Does.Contain("test: 16 / 20 correct"));
    }

    [Test]
    public void The_confusion_matrix_of_a_model_agrees_with_its_evaluation()
    {
        LayerNames.Reset();
        var model = ResNetModels.Create<float>("resnet18", (64, 64, 3), 6);
        var rng = new Rng(3);
        using var x = Initializers.Uniform<float>(new Shape(12, 64, 64, 3), 0, 1, rng);
        using var y = Tensor<float>.Zeros(new Shape(12, 6));
        for (int i = 0; i < 12; i++) y[i, rng.Next(6)] = 1;
        var counts = model.ConfusionMatrix(x, y);
        int total = 0, correct = 0;
        for (int t = 0; t < 6; t++)
            for (int p = 0; p < 6; p++)
            {
                total += counts[t, p];
                if (t == p) correct += counts[t, p];
            }
        Assert.That(total, Is.EqualTo(12));
        for (int t = 0; t < 6; t++)
        {
            int row = 0;
            for (int p = 0; p < 6; p++) row += counts[t, p];
            int expected = 0;
            for (int i = 0; i < 12; i++) if (y[i, t] == 1) expected++;
            Assert.That(row, Is.EqualTo(expected), $"class {t}'s samples");
        }
        Assert.That(correct / 12.0, Is.EqualTo(model.Evaluate(x, y).Accuracy).Within(1e-12));
    }

    static (double X, double Y)[] Points(XElement polyline) =>
        ((string)polyline.Attribute("points")!).Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split(',')).Select(p => (double.Parse(p[0], CultureInfo.InvariantCulture), double.Parse(p[1], CultureInfo.InvariantCulture))).ToArray();

    static double Attr(XElement e, string name) => double.Parse((string)e.Attribute(name)!, CultureInfo.InvariantCulture);
}
