using System.Globalization;
using System.Text;
using Engine.Layers;

namespace Engine.ResNet.Training;

/// <summary>
/// Pictures of a training run, as SVG (plain text any browser shows, no plotting library):
/// the loss and accuracy curves per epoch, and the confusion matrix of a model on a test set.
/// </summary>
public static class TrainingCharts
{
    const string Train = "#1f77b4", Validation = "#ff7f0e";

    /// <summary>
    /// Two panels side by side, loss and accuracy against the epoch: the training figures
    /// (Keras' running means over each epoch) and, where the history has them, the
    /// validation figures at each epoch's end.
    /// </summary>
    public static string CurvesSvg(IReadOnlyList<EpochLog> history, string title)
    {
        if (history.Count == 0) throw new ArgumentException("no epochs to plot");
        const int panelWidth = 420, panelHeight = 300, top = 55;
        var svg = SvgDocument.Start(2 * panelWidth, panelHeight + top + 30, 12, title, panelWidth, 22);
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var loss = history.Select(h => h.Loss).ToArray();
        var accuracy = history.Select(h => h.Accuracy).ToArray();
        double[]? validationLoss = history.All(h => h.ValidationLoss.HasValue) ? history.Select(h => h.ValidationLoss!.Value).ToArray() : null;
        double[]? validationAccuracy = history.All(h => h.ValidationAccuracy.HasValue) ? history.Select(h => h.ValidationAccuracy!.Value).ToArray() : null;
        double lossTop = Math.Max(loss.Where(double.IsFinite).DefaultIfEmpty(1).Max(), validationLoss?.Where(double.IsFinite).DefaultIfEmpty(0).Max() ?? 0);
        Panel(svg, 0, top, panelWidth, panelHeight, "loss", epochs, 0, NiceCeiling(lossTop), [("train", loss, Train), ("validation", validationLoss, Validation)]);
        Panel(svg, panelWidth, top, panelWidth, panelHeight, "accuracy", epochs, 0, 1, [("train", accuracy, Train), ("validation", validationAccuracy, Validation)]);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>The confusion matrix as a grid: rows the true class, columns the predicted one, each cell its count, shaded by its share of the row.</summary>
    public static string ConfusionMatrixSvg(int[,] counts, string title)
    {
        int classes = counts.GetLength(0);
        if (classes == 0 || counts.GetLength(1) != classes) throw new ArgumentException("a confusion matrix is square, with at least one class");
        const int cell = 48, left = 90, top = 70;
        int size = classes * cell;
        int correct = 0, total = 0;
        for (int t = 0; t < classes; t++)
            for (int p = 0; p < classes; p++)
            {
                total += counts[t, p];
                if (t == p) correct += counts[t, p];
            }
        var svg = SvgDocument.Start(left + size + 30, top + size + 60, 13, $"{title}: {correct} / {total} correct", left + size / 2, 22);
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + size / 2}\" y=\"{top - 28}\" text-anchor=\"middle\">predicted class</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"20\" y=\"{top + size / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {top + size / 2})\">true class</text>\n");
        for (int c = 0; c < classes; c++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left + c * cell + cell / 2}\" y=\"{top - 8}\" text-anchor=\"middle\">{c}</text>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 10}\" y=\"{top + c * cell + cell / 2 + 5}\" text-anchor=\"end\">{c}</text>\n");
        }
        for (int t = 0; t < classes; t++)
        {
            int row = 0;
            for (int p = 0; p < classes; p++) row += counts[t, p];
            for (int p = 0; p < classes; p++)
            {
                double share = row == 0 ? 0 : (double)counts[t, p] / row;
                // Correct cells in blue, mistakes in red, darker for a larger share of the class.
                string colour = t == p ? $"rgb({Shade(share, 31)},{Shade(share, 119)},{Shade(share, 180)})" : $"rgb({Shade(share, 214)},{Shade(share, 39)},{Shade(share, 40)})";
                int x = left + p * cell, y = top + t * cell;
                svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{colour}\" stroke=\"#999\"/>\n");
                string ink = share > 0.5 ? "white" : "black";
                svg.Append(CultureInfo.InvariantCulture, $"<text class=\"count\" x=\"{x + cell / 2}\" y=\"{y + cell / 2 + 5}\" text-anchor=\"middle\" fill=\"{ink}\">{counts[t, p]}</text>\n");
            }
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>A colour component from white (share 0) to <paramref name="full"/> (share 1).</summary>
    static int Shade(double share, int full) => (int)Math.Round(255 - (255 - full) * share);

    static void Panel(StringBuilder svg, int x0, int y0, int width, int height, string name, double[] epochs, double low, double high,
        (string Label, double[]? Values, string Colour)[] series)
    {
        const int marginLeft = 55, marginRight = 20, marginBottom = 35;
        int plotWidth = width - marginLeft - marginRight, plotHeight = height - marginBottom;
        double first = epochs[0], last = Math.Max(epochs[^1], first + 1);
        double X(double epoch) => x0 + marginLeft + (epoch - first) / (last - first) * plotWidth;
        double Y(double value) => y0 + plotHeight - (Math.Clamp(value, low, high) - low) / (high - low) * plotHeight;
        var inv = CultureInfo.InvariantCulture;
        svg.Append(inv, $"<g class=\"panel\" id=\"{name}\">\n");
        svg.Append(inv, $"<rect x=\"{x0 + marginLeft}\" y=\"{y0}\" width=\"{plotWidth}\" height=\"{plotHeight}\" fill=\"none\" stroke=\"#444\"/>\n");
        for (int i = 0; i <= 4; i++)
        {
            double v = low + (high - low) * i / 4;
            double y = Y(v);
            svg.Append(inv, $"<line x1=\"{x0 + marginLeft}\" y1=\"{y:F1}\" x2=\"{x0 + marginLeft + plotWidth}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>\n");
            svg.Append(inv, $"<text x=\"{x0 + marginLeft - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">{v:0.##}</text>\n");
        }
        foreach (double e in EpochTicks(first, last))
            svg.Append(inv, $"<text x=\"{X(e):F1}\" y=\"{y0 + plotHeight + 16}\" text-anchor=\"middle\">{e:0}</text>\n");
        svg.Append(inv, $"<text x=\"{x0 + marginLeft + plotWidth / 2}\" y=\"{y0 + plotHeight + 32}\" text-anchor=\"middle\">epoch</text>\n");
        svg.Append(inv, $"<text x=\"{x0 + 14}\" y=\"{y0 + plotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 {x0 + 14} {y0 + plotHeight / 2})\">{name}</text>\n");
        int legend = 0;
        foreach (var (label, values, colour) in series)
        {
            if (values == null) continue;
            var points = string.Join(" ", values.Select((v, i) => double.IsFinite(v) ? $"{X(epochs[i]).ToString("F1", inv)},{Y(v).ToString("F1", inv)}" : null).Where(p => p != null));
            svg.Append(inv, $"<polyline class=\"{label}\" points=\"{points}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n");
            foreach (var (v, i) in values.Select((v, i) => (v, i)).Where(p => double.IsFinite(p.v)))
                svg.Append(inv, $"<circle cx=\"{X(epochs[i]):F1}\" cy=\"{Y(v):F1}\" r=\"2.5\" fill=\"{colour}\"/>\n");
            // The legend sits above the frame, where no curve can run under it.
            int lx = x0 + marginLeft + legend++ * 110, ly = y0 - 8;
            svg.Append(inv, $"<line x1=\"{lx}\" y1=\"{ly - 4}\" x2=\"{lx + 20}\" y2=\"{ly - 4}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n");
            svg.Append(inv, $"<text x=\"{lx + 25}\" y=\"{ly}\">{label}</text>\n");
        }
        svg.Append("</g>\n");
    }

    /// <summary>At most about ten whole-epoch ticks.</summary>
    static IEnumerable<double> EpochTicks(double first, double last)
    {
        double step = Math.Max(1, Math.Ceiling((last - first) / 10));
        for (double e = first; e <= last + 1e-9; e += step) yield return e;
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="value"/> (an axis top).</summary>
    static double NiceCeiling(double value)
    {
        if (!(value > 0)) return 1;
        double power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (double m in new[] { 1.0, 2, 5, 10 })
            if (m * power >= value) return m * power;
        return 10 * power;
    }

}
