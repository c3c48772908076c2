using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.ResNet.Benchmarking;

namespace Engine.ResNet.Cli;

/// <summary>
/// `resnet bench`: our training step and inference beside PyTorch's, same machine, same run,
/// each configuration in a fresh process so that its peak memory is its own.
/// </summary>
static class BenchCommand
{
    public static Command Create()
    {
        var model = Program.ModelOption();
        var batches = new Option<int[]>("--batch", "-b")
        {
            Description = "batch sizes to measure, each in its own process (repeat the option)",
            DefaultValueFactory = _ => [32, 8],
            AllowMultipleArgumentsPerToken = true,
        };
        batches.Validators.Add(result =>
        {
            foreach (int b in result.GetValueOrDefault<int[]>() ?? [])
                if (b < 1) result.AddError($"--batch must be at least 1, not {b}");
        });
        var steps = Program.WholeNumberOption("--steps", "timed repetitions of each measurement (the median is reported)", defaultValue: 12, minimum: 1);
        var warmup = Program.WholeNumberOption("--warmup", "untimed repetitions before them", defaultValue: 3, minimum: 0);
        var pytorch = new Option<string>("--pytorch")
        {
            Description = "PyTorch's reference script, torch_resnet50.py (skipped, saying why, when it or python3-torch is missing)",
            DefaultValueFactory = _ => Path.Combine("..", "shared", "bench", "torch_resnet50.py"),
        };
        var python = new Option<string>("--python")
        {
            Description = "the python that has torch (Debian's python3-torch installs into /usr/bin/python3)",
            DefaultValueFactory = _ => "/usr/bin/python3",
        };
        var noPytorch = new Option<bool>("--no-pytorch") { Description = "measure only this engine" };
        var peak = new Option<double?>("--peak-gflops")
        {
            Description = "the machine's FMA peak, for the '% of peak' columns (default on the CPU 445: two Zen 5 cores at full AVX-512 width; " +
                "on a GPU none unless given, e.g. 67000 for an H100 SXM's float32)",
        };
        var device = Program.DeviceOption();
        var profile = new Option<int>("--profile")
        {
            Description = "also profile this many more training steps and inference passes, and print the time of each layer and layer type " +
                "(forward, backward, share of the step, GFLOP/s); 0: no profile",
            DefaultValueFactory = _ => 0,
        };
        profile.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0) result.AddError("--profile must be 0 or more");
        });
        var one = new Option<bool>("--one") { Description = "measure one batch size in this process and print it as JSON (what bench runs in each child)", Hidden = true };

        var command = new Command("bench",
            "Time a training step (forward, loss, backward, Adam) and inference of ResNet-50 on 64x64x3 images, and PyTorch's on the " +
            "same machine in the same run: img/s, GFLOP/s, % of peak, peak memory, and our figures over PyTorch's.")
        { model, batches, steps, warmup, pytorch, python, noPytorch, peak, profile, one, device };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(model)!.ToLowerInvariant();
            int[] sizes = parse.GetValue(batches)!;
            int s = parse.GetValue(steps), w = parse.GetValue(warmup), p = parse.GetValue(profile);
            string deviceName = parse.GetValue(device)!;
            if (deviceName != "cpu" && p > 0) return Program.Fail("--profile times layers on the CPU's clock; on a GPU that would measure only the queuing of kernels");
            var runOn = Program.ResolveDevice(deviceName);
            if (runOn == null) return 2;
            double? peakGflops = parse.GetValue(peak) ?? (deviceName == "cpu" ? 445 : null);
            if (parse.GetValue(one))
            {
                var m = StepBenchmark.Run(name, sizes[0], w, s, profilePasses: p, device: runOn);
                Console.WriteLine(JsonSerializer.Serialize(m, MeasurementJson.Default.StepMeasurement));
                return 0;
            }
            string script = parse.GetValue(pytorch)!, py = parse.GetValue(python)!;
            var (version, skip) = parse.GetValue(noPytorch) ? (null, "--no-pytorch")
                : name != "resnet50" ? (null, $"its script builds resnet50 only, not {name}")
                : deviceName != "cpu" ? (null, "its script runs on the CPU; benchmarks/torch_resnet50_cuda.py measures PyTorch on the GPU")
                : PyTorchReference.Probe(py, script);
            int threads = Kernels.ThreadTeam.Shared.Size;
            string where = runOn is Engine.Tensors.CudaDevice cuda ? $"on {cuda.Context.DeviceName}" : $"{threads} threads";
            Console.WriteLine($"{name}, 64x64x3 input, 6 classes, float32, {where}; {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, {CpuName()}; {DateTime.Now:yyyy-MM-dd HH:mm}");
            Console.WriteLine(skip == null ? $"PyTorch {version}: {script}, channels-last, {threads} threads, GLIBC_TUNABLES={PyTorchReference.GlibcTunables}" : $"PyTorch: skipped ({skip})");
            Console.WriteLine($"medians of {s} steps after {w} warm-up ones; a training step counts 3 forward passes of FLOPs, each convolution's as a direct product (the 3x3 Winograd layers do fewer)"
                + (peakGflops is double pk ? $"; peak {pk:F0} GFLOP/s" : ""));
            foreach (int b in sizes)
            {
                StepMeasurement ours;
                try { ours = MeasureInChild(name, b, w, s, p, deviceName); }
                catch (InvalidOperationException e) { return Program.Fail(e.Message); }
                StepMeasurement? theirs = null;
                if (skip == null)
                {
                    try { theirs = PyTorchReference.Run(py, script, b, threads, w, s, ours.ForwardMacsPerImage); }
                    catch (InvalidOperationException e) { Console.WriteLine($"PyTorch at batch {b}: {e.Message}"); }
                }
                Print(ours, theirs, peakGflops);
                if (ours.Profile != null) ProfileReport.Write(Console.Out, ours.Profile, b);
            }
            return 0;
        });
        return command;
    }

    /// <summary>Runs `resnet bench --one` for one batch size in a fresh process.</summary>
    static StepMeasurement MeasureInChild(string model, int batch, int warmup, int steps, int profilePasses, string device)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path to start a measurement process");
        var args = new List<string>();
        // Started as `dotnet resnet.dll`: the host needs the assembly again.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") args.Add(typeof(BenchCommand).Assembly.Location);
        args.AddRange(["bench", "--one", "--model", model, "--batch", Text(batch), "--warmup", Text(warmup), "--steps", Text(steps), "--profile", Text(profilePasses), "--device", device]);
        var (code, output) = ChildProcess.Run(self, args, TimeSpan.FromMinutes(30));
        string? json = output.Split('\n').LastOrDefault(l => l.StartsWith('{'));
        if (code != 0 || json == null)
            throw new InvalidOperationException($"the measurement at batch {batch} failed (exit {code}): {output.Trim()}");
        return JsonSerializer.Deserialize(json, MeasurementJson.Default.StepMeasurement)!;
    }

    static void Print(StepMeasurement ours, StepMeasurement? theirs, double? peak)
    {
        Console.WriteLine();
        Console.WriteLine($"batch {ours.Batch,-14}{"train img/s",12}{"GFLOP/s",9}{"% peak",8}{"infer img/s",13}{"GFLOP/s",9}{"% peak",8}{"peak RSS",11}");
        void Row(string who, StepMeasurement m) => Console.WriteLine(
            $"{who,-20}{m.TrainImagesPerSecond,12:F1}{m.TrainGflops,9:F0}{Percent(m.TrainGflops / peak),8}" +
            $"{m.InferenceImagesPerSecond,13:F1}{m.InferenceGflops,9:F0}{Percent(m.InferenceGflops / peak),8}{Mb(m.PeakRssMb),11}");
        Row("engine", ours);
        if (ours.Tensors is { } t)
            Console.WriteLine($"{"",20}engine's tensors: {t.ParametersMb + t.OptimizerMb + t.StepMb:F0} MB = weights {t.ParametersMb:F0} + Adam {t.OptimizerMb:F0} + training step {t.StepMb:F0}");
        if (theirs == null) return;
        Row("pytorch", theirs);
        Console.WriteLine($"{"engine / pytorch",-20}{ours.TrainImagesPerSecond / theirs.TrainImagesPerSecond,11:F2}x{"",17}" +
            $"{ours.InferenceImagesPerSecond / theirs.InferenceImagesPerSecond,12:F2}x{"",17}" +
            (ours.PeakRssMb is double a && theirs.PeakRssMb is double b ? $"{a / b,10:F2}x" : ""));
    }

    static string Percent(double? fraction) => fraction is double f ? $"{f * 100:F0}%" : "n/a";

    static string Mb(double? value) => value is double v ? $"{v:F0} MB" : "n/a";

    static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The CPU's model name from /proc/cpuinfo, or the architecture where that is not there.</summary>
    static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line != null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return System.Runtime.InteropServices.RuntimeInformation.OSArchitecture.ToString();
    }
}

/// <summary>
/// The measurement's JSON, generated at build time: what a child process prints and the parent
/// reads, without reflection, so a trimmed self-contained build serialises it too.
/// </summary>
[JsonSerializable(typeof(StepMeasurement))]
sealed partial class MeasurementJson : JsonSerializerContext;
