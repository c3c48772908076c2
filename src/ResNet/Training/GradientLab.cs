using System.Globalization;
using System.Text;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Layers;
using Engine.Tensors;

namespace Engine.ResNet.Training;

/// <summary>
/// Per-layer gradient norms of one network over training: Norms[r][l] is the L2 norm of
/// convolution l's kernel gradient (l = 0 nearest the input) at step Steps[r].
/// </summary>
public sealed record GradientRecord(string Network, IReadOnlyList<string> Layers, IReadOnlyList<int> Steps, IReadOnlyList<double[]> Norms, IReadOnlyList<double> Losses)
{
    /// <summary>Gradient norm of the layer nearest the input over that of the layer nearest the output, at record r.</summary>
    public double FirstOverLast(int r) => Norms[r][0] / Norms[r][^1];
}

/// <summary>
/// The vanishing-gradient lab (the assignment's section 1, shown there only as a figure): a
/// deep plain stack of 3x3 convolutions with ReLUs, and the same stack with an identity skip
/// around every pair, trained side by side from the same seeds on the same batches, recording
/// each convolution's gradient norm as training goes on. No batch norm, so nothing but the skips
/// keeps the gradient's size on its way back to the first layers.
/// </summary>
public static class GradientLab
{
    /// <summary>Filters of every convolution in the stack.</summary>
    public const int Width = 16;

    /// <summary>
    /// x [H,W,3] -> 3x3/2 convolution (16 filters) and ReLU -> 2x2 max-pool -> <paramref name="depth"/>
    /// 3x3 'same' convolutions of 16 filters, each followed by ReLU (residual: every pair wrapped
    /// by an identity skip, ReLU after the sum) -> global average pool -> Dense(classes), logits.
    /// depth must be even for the residual network.
    /// </summary>
    public static Model<float> Build(bool residual, int depth, (int H, int W, int C) input, int classes, ulong seed = 0)
    {
        if (depth < 2 || (residual && depth % 2 != 0)) throw new ArgumentException($"depth {depth}: at least 2, and even for the residual network (skips span pairs)");
        var inputs = Functional.Input<float>(new Shape(input.H, input.W, input.C));
        var x = new Conv2D<float>(Width, 3, strides: 2, padding: "same", seed: seed, name: "stem", activation: "relu").Call(inputs);
        x = new MaxPooling2D<float>(2).Call(x);
        Conv2D<float> Convolution(int l, string activation) => new(Width, 3, padding: "same", seed: seed + (ulong)l, name: $"conv{l}", activation: activation);
        if (!residual)
            for (int l = 1; l <= depth; l++) x = Convolution(l, "relu").Call(x);
        else
            for (int pair = 1; pair <= depth / 2; pair++)
            {
                var shortcut = x;
                x = Convolution(2 * pair - 1, "relu").Call(x);
                x = Convolution(2 * pair, "linear").Call(x);
                x = new Activation<float>("relu", name: $"relu{pair}").Call(new Add<float>(name: $"add{pair}").Call(x, shortcut));
            }
        int side = x.SampleShape[0];
        x = new AveragePooling2D<float>(side, name: "global_pool").Call(x);
        x = new Flatten<float>().Call(x);
        x = new Dense<float>(classes, "linear", seed: seed, name: "logits").Call(x);
        return new Model<float>(inputs, x, residual ? $"residual{depth}" : $"plain{depth}");
    }

    /// <summary>
    /// Trains <paramref name="model"/> (logits out) with Adam for <paramref name="steps"/> steps on
    /// random batches of x, y drawn from <paramref name="seed"/>, recording every convolution's
    /// kernel-gradient norm at step 1, every <paramref name="recordEvery"/> steps after and at
    /// the last; with recordEvery 0, at steps 1, 2, 5, 10, 20, 50, 100, ... (early training
    /// changes fastest) and the last.
    /// </summary>
    public static GradientRecord Run(Model<float> model, Tensor<float> x, Tensor<float> y, int steps, int recordEvery = 0, int batchSize = 32,
        double learningRate = 1e-3, ulong seed = 1)
    {
        if (steps < 1 || recordEvery < 0 || batchSize < 1) throw new ArgumentException($"steps {steps}, recordEvery {recordEvery}, batch {batchSize}: steps and batch at least 1, recordEvery at least 0");
        var convolutions = model.Layers.OfType<Conv2D<float>>().ToArray();
        var optimizer = new Adam<float>(model.Parameters, learningRate);
        var rng = new Rng(seed);
        int n = x.Shape[0];
        var recorded = new List<int>();
        var norms = new List<double[]>();
        var losses = new List<double>();
        model.Training = true;
        for (int step = 1; step <= steps; step++)
        {
            var rows = new int[Math.Min(batchSize, n)];
            for (int i = 0; i < rows.Length; i++) rows[i] = rng.Next(n);
            using var xb = x.GatherRows(rows);
            using var yb = y.GatherRows(rows);
            using (var tape = new Tape())
            {
                var loss = Ops.SoftmaxCrossEntropy(model.Call(new Variable<float>(xb)), new Variable<float>(yb));
                losses.Add(loss.Value.ToArray()[0]);
                tape.Backward(loss);
            }
            if (step == 1 || step == steps || (recordEvery > 0 ? step % recordEvery == 0 : IsOneTwoFive(step)))
            {
                recorded.Add(step);
                norms.Add(convolutions.Select(c => Norm(c.Kernel.Grad!)).ToArray());
            }
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        model.Training = false;
        return new GradientRecord(model.Name, convolutions.Select(c => c.Name).ToArray(), recorded, norms, losses);
    }

    /// <summary>1, 2 or 5 times a power of ten.</summary>
    static bool IsOneTwoFive(int step)
    {
        while (step % 10 == 0) step /= 10;
        return step is 1 or 2 or 5;
    }

    static double Norm(Tensor<float> t)
    {
        double sum = 0;
        foreach (float v in t.HostValues) sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// Two panels, one per network, on one logarithmic scale: each convolution's gradient norm
    /// against its depth, a line per recorded step (lighter early, darker late).
    /// </summary>
    public static string Svg(GradientRecord plain, GradientRecord residual, string title)
    {
        var records = new[] { plain, residual };
        var all = records.SelectMany(r => r.Norms.SelectMany(v => v)).Where(v => v > 0 && double.IsFinite(v)).ToArray();
        if (all.Length == 0) throw new ArgumentException("no positive gradient norm to plot");
        double low = Math.Floor(Math.Log10(all.Min())), high = Math.Ceiling(Math.Log10(all.Max()));
        if (high <= low) high = low + 1;
        const int panelWidth = 440, panelHeight = 320, top = 50, marginLeft = 60, marginRight = 20, marginBottom = 40;
        var inv = CultureInfo.InvariantCulture;
        var svg = SvgDocument.Start(2 * panelWidth, top + panelHeight + 58, 12, title, panelWidth, 20);
        for (int p = 0; p < 2; p++)
        {
            var record = records[p];
            int x0 = p * panelWidth, plotWidth = panelWidth - marginLeft - marginRight, plotHeight = panelHeight - marginBottom;
            int layers = record.Layers.Count;
            double X(int layer) => x0 + marginLeft + (layers == 1 ? 0 : (double)layer / (layers - 1) * plotWidth);
            double Y(double norm) => top + plotHeight - (Math.Log10(Math.Max(norm, Math.Pow(10, low))) - low) / (high - low) * plotHeight;
            svg.Append(inv, $"<g class=\"panel\" id=\"{record.Network}\">\n");
            svg.Append(inv, $"<text x=\"{x0 + marginLeft + plotWidth / 2}\" y=\"{top - 10}\" text-anchor=\"middle\" font-size=\"13\">{record.Network}</text>\n");
            svg.Append(inv, $"<rect x=\"{x0 + marginLeft}\" y=\"{top}\" width=\"{plotWidth}\" height=\"{plotHeight}\" fill=\"none\" stroke=\"#444\"/>\n");
            for (double e = low; e <= high + 1e-9; e++)
            {
                double y = Y(Math.Pow(10, e));
                svg.Append(inv, $"<line x1=\"{x0 + marginLeft}\" y1=\"{y:F1}\" x2=\"{x0 + marginLeft + plotWidth}\" y2=\"{y:F1}\" stroke=\"#ddd\"/>\n");
                svg.Append(inv, $"<text x=\"{x0 + marginLeft - 6}\" y=\"{y + 4:F1}\" text-anchor=\"end\">1e{e:0}</text>\n");
            }
            int tick = Math.Max(1, (layers - 1) / 10 + 1);
            for (int l = 0; l < layers; l += tick)
                svg.Append(inv, $"<text x=\"{X(l):F1}\" y=\"{top + plotHeight + 16}\" text-anchor=\"middle\">{l + 1}</text>\n");
            svg.Append(inv, $"<text x=\"{x0 + marginLeft + plotWidth / 2}\" y=\"{top + plotHeight + 34}\" text-anchor=\"middle\">convolution (1 = nearest the input)</text>\n");
            if (p == 0)
                svg.Append(inv, $"<text x=\"14\" y=\"{top + plotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {top + plotHeight / 2})\">kernel gradient norm</text>\n");
            for (int r = 0; r < record.Steps.Count; r++)
            {
                double shade = record.Steps.Count == 1 ? 1 : (double)r / (record.Steps.Count - 1);
                string colour = $"rgb({(int)(160 - 140 * shade)},{(int)(180 - 120 * shade)},{(int)(225 - 85 * shade)})";
                var points = string.Join(" ", record.Norms[r].Select((v, l) => $"{X(l).ToString("F1", inv)},{Y(v).ToString("F1", inv)}"));
                svg.Append(inv, $"<polyline class=\"step{record.Steps[r]}\" points=\"{points}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\"/>\n");
            }
            // Which shade is which step: the first and last recorded.
            svg.Append(inv, $"<text x=\"{x0 + marginLeft + plotWidth - 4}\" y=\"{top + 14}\" text-anchor=\"end\" fill=\"rgb(160,180,225)\">step {record.Steps[0]}</text>\n");
            svg.Append(inv, $"<text x=\"{x0 + marginLeft + plotWidth - 4}\" y=\"{top + 28}\" text-anchor=\"end\" fill=\"rgb(20,60,140)\">step {record.Steps[^1]}</text>\n");
            svg.Append("</g>\n");
        }
        const string note = "a line per recorded step, lighter early, darker late; a norm of 0 (no gradient at all) lies on the bottom edge";
        svg.Append(inv, $"<text x=\"{panelWidth}\" y=\"{top + panelHeight + 50}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">{note}</text>\n");
        svg.Append("</svg>\n");
        return svg.ToString();
    }
}
