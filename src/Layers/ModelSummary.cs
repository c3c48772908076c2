using System.Globalization;
using System.Numerics;
using System.Text;

namespace Engine.Layers;

/// <summary>
/// model.summary() as Keras 2 prints a functional model: 98 columns, fields cut at 33%,
/// 55% and 67% of the line (each field's last column is kept blank), one row per layer and
/// one more for every further input of a merge, then the parameter totals.
/// </summary>
static class ModelSummary
{
    const int LineLength = 98;
    static readonly int[] Positions = [.. new[] { 0.33, 0.55, 0.67, 1.0 }.Select(p => (int)(LineLength * p))];

    public static string Format<T>(Model<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var text = new StringBuilder();
        var rule = new string('_', LineLength);
        text.AppendLine(rule);
        Row(text, "Layer (type)", "Output Shape", "Param #", "Connected to");
        text.AppendLine(new string('=', LineLength));
        var inModel = model.Nodes.ToHashSet();
        for (int l = 0; l < model.Layers.Count; l++)
        {
            var layer = model.Layers[l];
            var nodes = layer.InboundNodes.Where(inModel.Contains).ToArray();
            var connections = nodes.SelectMany(n => n.Inputs).Select(i => $"{i.Layer.Name}[{i.NodeIndex}][0]").ToArray();
            string shape = nodes.Length == 1 ? nodes[0].KerasShape : "multiple";
            long parameters = layer.TrainableParameterCount + layer.NonTrainableParameterCount;
            Row(text, $"{layer.Name} ({layer.TypeName})", shape, parameters.ToString(CultureInfo.InvariantCulture), connections.FirstOrDefault() ?? "");
            for (int c = 1; c < connections.Length; c++) Row(text, "", "", "", connections[c]);
            text.AppendLine(l == model.Layers.Count - 1 ? new string('=', LineLength) : rule);
        }
        text.AppendLine($"Total params: {Thousands(model.ParameterCount)}");
        text.AppendLine($"Trainable params: {Thousands(model.TrainableParameterCount)}");
        text.AppendLine($"Non-trainable params: {Thousands(model.NonTrainableParameterCount)}");
        text.AppendLine(rule);
        return text.ToString();
    }

    static string Thousands(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    static void Row(StringBuilder text, params string[] fields)
    {
        var line = new StringBuilder();
        for (int i = 0; i < fields.Length; i++)
        {
            if (i > 0) line[^1] = ' ';
            line.Append(fields[i]);
            if (line.Length > Positions[i]) line.Length = Positions[i];
            line.Append(' ', Positions[i] - line.Length);
        }
        text.AppendLine(line.ToString().TrimEnd());
    }
}
