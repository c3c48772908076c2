using System.Diagnostics;
using System.Numerics;
using System.Text;

namespace Engine.Layers;

/// <summary>
/// Keras' plot_model: the model's graph in Graphviz DOT (one box per layer, "name: Type",
/// optionally with input and output shapes; an arrow per connection), and rendering it
/// to SVG or PNG with Graphviz's `dot` when that program is installed.
/// </summary>
public static class ModelPlot
{
    /// <summary>The graph as DOT text, top to bottom, layers in Keras' order.</summary>
    public static string ToDot<T>(Model<T> model, bool showShapes = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var text = new StringBuilder();
        text.AppendLine($"digraph \"{Escape(model.Name)}\" {{");
        text.AppendLine("  rankdir=TB;");
        text.AppendLine("  node [shape=record, fontname=\"Helvetica\", fontsize=10];");
        var ids = new Dictionary<Layer<T>, string>();
        foreach (var layer in model.Layers)
        {
            string id = $"n{ids.Count}";
            ids[layer] = id;
            string label = $"{Escape(layer.Name)}: {layer.TypeName}";
            if (showShapes && layer.InboundNodes.Count > 0)
            {
                var node = layer.InboundNodes[0];
                string input = node.Inputs.Count == 0 ? node.KerasShape : string.Join(", ", node.Inputs.Select(i => i.KerasShape));
                label = $"{label}|{{input:|output:}}|{{{Escape(input)}|{Escape(node.KerasShape)}}}";
            }
            text.AppendLine($"  {id} [label=\"{label}\"];");
        }
        foreach (var layer in model.Layers)
            foreach (var node in layer.InboundNodes)
                foreach (var input in node.Inputs)
                    if (ids.TryGetValue(input.Layer, out var from)) text.AppendLine($"  {from} -> {ids[layer]};");
        text.AppendLine("}");
        return text.ToString();
    }

    /// <summary>
    /// Writes the plot to <paramref name="path"/>: DOT text for a .dot / .gv file; for .svg or
    /// .png, Graphviz's `dot` renders it (an error saying to install the Debian package
    /// graphviz when it is missing).
    /// </summary>
    public static void Save<T>(Model<T> model, string path, bool showShapes = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        string dot = ToDot(model, showShapes);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".dot" or ".gv")
        {
            File.WriteAllText(path, dot);
            return;
        }
        if (extension is not (".svg" or ".png"))
            throw new ArgumentException($"plot file {path}: use .svg, .png, .dot or .gv");
        var start = new ProcessStartInfo("dot", ["-T" + extension[1..], "-o", path])
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try { process = Process.Start(start) ?? throw new InvalidOperationException("dot did not start"); }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException($"rendering {path} needs Graphviz's `dot` (Debian package graphviz); or write a .dot file");
        }
        using (process)
        {
            process.StandardInput.Write(dot);
            process.StandardInput.Close();
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"dot failed to render {path}: {errors.Trim()}");
        }
    }

    static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("{", "\\{").Replace("}", "\\}").Replace("|", "\\|").Replace("<", "\\<").Replace(">", "\\>");
}
