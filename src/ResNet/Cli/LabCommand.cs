using System.CommandLine;
using System.Globalization;
using Engine.Layers;
using Engine.ResNet.Data;
using Engine.ResNet.Training;

namespace Engine.ResNet.Cli;

/// <summary>`resnet lab gradients`: the vanishing-gradient lab on SIGNS.</summary>
static class LabCommand
{
    public static Command Create()
    {
        var data = Program.DataOption();
        var depth = Program.WholeNumberOption("--depth", "3x3 convolutions in each network's stack (even: the residual one skips pairs)", defaultValue: 30, minimum: 2);
        var steps = Program.WholeNumberOption("--steps", "Adam steps (batches of 32) each network trains for", defaultValue: 300, minimum: 1);
        var every = Program.WholeNumberOption("--record-every", "record the gradient norms every this many steps (and at the first and last); " +
            "0: at steps 1, 2, 5, 10, 20, 50, 100, ... and the last", defaultValue: 0, minimum: 0);
        var output = new Option<string>("--output", "-o") { Description = "the picture to write (SVG)", DefaultValueFactory = _ => "gradient_lab.svg" };
        var gradients = new Command("gradients",
            "Train a deep plain stack of 3x3 convolutions with ReLUs and the same stack with identity skips around every pair, side by side on SIGNS " +
            "(same seeds, same batches, no batch norm), and draw each convolution's gradient norm over training: without skips the layers near the " +
            "input get a far smaller gradient than those near the output; with them, about the same.")
        { data, depth, steps, every, output };
        gradients.SetAction(parse =>
        {
            int d = parse.GetValue(depth);
            if (d % 2 != 0) return Program.Fail($"--depth must be even (the residual network's skips span pairs of convolutions), not {d}");
            string? folder = Program.ResolveDataFolder(parse.GetValue(data));
            if (folder == null) return 2;
            SignsSplit train;
            try { train = SignsDataset.LoadSplit(Path.Combine(folder, SignsDataset.TrainFileName), "train"); }
            catch (Exception e) when (e is DataFormatException or Hdf5Exception or DllNotFoundException) { return Program.Fail(e.Message); }
            using (train)
            {
                var records = new List<GradientRecord>();
                foreach (bool residual in new[] { false, true })
                {
                    LayerNames.Reset();
                    var model = GradientLab.Build(residual, d, (64, 64, 3), train.Y.Shape[1]);
                    var record = GradientLab.Run(model, train.X, train.Y, parse.GetValue(steps), parse.GetValue(every));
                    records.Add(record);
                    Console.WriteLine($"{record.Network}: first convolution's gradient over the last one's: " +
                        string.Join(", ", record.Steps.Select((s, r) => $"step {s} {Ratio(record.FirstOverLast(r))}")) +
                        $"; mean loss over the last 10 steps {record.Losses.TakeLast(10).Average().ToString("F3", CultureInfo.InvariantCulture)}");
                }
                string path = parse.GetValue(output)!;
                try { File.WriteAllText(path, GradientLab.Svg(records[0], records[1], $"Gradient norms per layer, {d} convolutions deep, SIGNS, Adam 0.001")); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Program.Fail($"could not write {path}: {e.Message}"); }
                Console.WriteLine($"wrote {path}");
            }
            return 0;
        });
        return new Command("lab", "Experiments that show why ResNet works.") { gradients };
    }

    static string Ratio(double value) => double.IsNaN(value) ? "0/0 (no gradient reaches any convolution)"
        : value.ToString(value < 0.01 ? "0.0e+0" : "0.00", CultureInfo.InvariantCulture);
}
