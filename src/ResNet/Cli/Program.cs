using System.CommandLine;
using System.Globalization;
using System.Numerics;
using Engine.Layers;
using Engine.ResNet.Models;

namespace Engine.ResNet.Cli;

static class Program
{
    static int Main(string[] args)
    {
        var root = new RootCommand(
            "resnet: ResNet from first principles, in the shape of the deeplearning.ai Residual Networks assignment. " +
            "Build a model and print its Keras summary, plot its graph, train it on the SIGNS hand signs, evaluate it, " +
            "and predict the sign in your own photo.")
        {
            SummaryCommand(),
            PlotCommand(),
            TrainCommand.Create(),
            PredictCommand.Evaluate(),
            PredictCommand.Predict(),
            BenchCommand.Create(),
            SelfTestCommand.Create(),
            LabCommand.Create(),
        };
        var parsed = root.Parse(args);
        // System.CommandLine would print the whole help after a parse error; one line saying which
        // option is wrong, and where the help is, is easier to act on.
        if (parsed.Errors.Count > 0)
        {
            // The whole path of the command the error is in ("resnet lab gradients"), for its help.
            var names = new List<string>();
            for (var result = parsed.CommandResult; result != null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
                if (result.Command != root) names.Insert(0, result.Command.Name);
            string help = names.Count == 0 ? "resnet --help" : $"resnet {string.Join(' ', names)} --help";
            return Fail($"{parsed.Errors[0].Message} (see `{help}`)");
        }
        return parsed.Invoke();
    }

    /// <summary>A whole-number option that rejects text and values below <paramref name="minimum"/> while parsing.</summary>
    internal static Option<int> WholeNumberOption(string name, string description, int defaultValue, int minimum) =>
        NumberOption(name, description, defaultValue, "a whole number", v => v >= minimum, $"must be at least {minimum}");

    /// <summary>A number option that must be positive and finite (a learning rate).</summary>
    internal static Option<double> PositiveNumberOption(string name, string description, double defaultValue) =>
        NumberOption(name, description, defaultValue, $"a number such as {defaultValue.ToString(CultureInfo.InvariantCulture)}",
            v => v > 0 && double.IsFinite(v), "must be a positive number");

    /// <summary>
    /// An option parsed (invariant culture) and checked while the command line is parsed, so a bad
    /// value is one error line: "{name} takes {kind}, not 'x'" or "{name} {rule}, not x".
    /// </summary>
    static Option<T> NumberOption<T>(string name, string description, T defaultValue, string kind, Func<T, bool> accept, string rule)
        where T : INumber<T> => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
            if (!T.TryParse(token, CultureInfo.InvariantCulture, out T? value))
                result.AddError($"{name} takes {kind}, not '{token}'");
            else if (!accept(value))
                result.AddError($"{name} {rule}, not {token}");
            return value ?? defaultValue;
        },
    };

    internal static Option<string> ModelOption()
    {
        var option = new Option<string>("--model", "-m")
        {
            Description = $"which network: {string.Join(", ", ResNetModels.ModelNames)} (resnet50-assignment is ResNet-50 exactly as the assignment's text builds it)",
            DefaultValueFactory = _ => "resnet50",
        };
        // Checked while parsing, so `train` refuses a misspelt name before it reads any data.
        option.Validators.Add(result =>
        {
            string? name = result.GetValueOrDefault<string>();
            if (name != null && !ResNetModels.ModelNames.Contains(name.ToLowerInvariant()))
                result.AddError($"--model: unknown model '{name}'; choose one of {string.Join(", ", ResNetModels.ModelNames)}");
        });
        return option;
    }

    internal static Option<string> DeviceOption(string defaultValue = "cpu")
    {
        var option = new Option<string>("--device")
        {
            Description = "where the network runs: cpu, or cuda (the first NVIDIA GPU, through the driver and NVRTC)",
            DefaultValueFactory = _ => defaultValue,
        };
        option.Validators.Add(result =>
        {
            string? name = result.GetValueOrDefault<string>();
            if (name is not ("cpu" or "cuda")) result.AddError($"--device must be cpu or cuda, not '{name}'");
        });
        return option;
    }

    /// <summary>The named device, or prints why it cannot be had (no GPU, no driver, no NVRTC) and returns null.</summary>
    internal static Engine.Tensors.Device? ResolveDevice(string name)
    {
        if (name == "cpu") return Engine.Tensors.Device.Cpu;
        if (Engine.Tensors.CudaDevice.TryGetDefault(out var cuda, out string reason)) return cuda;
        Fail($"--device cuda: {reason}");
        return null;
    }

    internal static Option<int> ClassesOption() =>
        WholeNumberOption("--classes", "number of output classes (SIGNS has 6)", defaultValue: 6, minimum: 1);

    internal static Option<string?> DataOption() => new("--data", "-d")
    {
        Description = "folder holding train_signs.h5 and test_signs.h5 (default: $SIGNS_DIR, else ./datasets)",
    };

    /// <summary>--data, else $SIGNS_DIR, else ./datasets; prints what is wrong and returns null if it is not a folder.</summary>
    internal static string? ResolveDataFolder(string? option)
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("SIGNS_DIR");
        string folder = option ?? (string.IsNullOrEmpty(fromEnvironment) ? "datasets" : fromEnvironment);
        if (Directory.Exists(folder)) return folder;
        Fail($"SIGNS data folder '{folder}' does not exist: pass --data <folder with train_signs.h5 and test_signs.h5> or set SIGNS_DIR");
        return null;
    }

    /// <summary>Builds the named model, or prints why it cannot and returns null.</summary>
    internal static Model<float>? BuildModel(string name, int classes)
    {
        try { return ResNetModels.Create<float>(name, (64, 64, 3), classes); }
        catch (ArgumentException e) { Fail($"--model: {e.Message}"); return null; }
    }

    static Command SummaryCommand()
    {
        var model = ModelOption();
        var classes = ClassesOption();
        var command = new Command("summary",
            "Print the model's layers as Keras' model.summary() does: name (type), output shape, parameter count, " +
            "the layers each one reads from, and the totals (ResNet-50 at 64x64x3 with 6 classes: 23,600,006 parameters).")
        { model, classes };
        command.SetAction(parse =>
        {
            var m = BuildModel(parse.GetValue(model)!, parse.GetValue(classes));
            if (m == null) return 2;
            Console.Write(m.Summary());
            return 0;
        });
        return command;
    }

    static Command PlotCommand()
    {
        var model = ModelOption();
        var classes = ClassesOption();
        var output = new Option<string>("--output", "-o")
        {
            Description = "file to write: .svg or .png (rendered by Graphviz's dot, Debian package graphviz) or .dot / .gv (the graph as text)",
            DefaultValueFactory = _ => "model.dot",
        };
        var shapes = new Option<bool>("--show-shapes") { Description = "write each layer's input and output shapes in its box" };
        var command = new Command("plot", "Draw the model's graph, like Keras' plot_model: one box per layer, an arrow per connection.")
        { model, classes, output, shapes };
        command.SetAction(parse =>
        {
            var m = BuildModel(parse.GetValue(model)!, parse.GetValue(classes));
            if (m == null) return 2;
            string path = parse.GetValue(output)!;
            try { ModelPlot.Save(m, path, parse.GetValue(shapes)); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                return Fail(e.Message);
            }
            Console.WriteLine($"wrote {path}");
            return 0;
        });
        return command;
    }

    internal static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }
}
