using System.Globalization;
using System.Diagnostics;
using Engine.Layers;
using Engine.ResNet.Data;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The `resnet` command as a user runs it, in its own process: every bad option value, unknown
/// model, missing folder or file and non-image photo ends with one line on stderr that names the
/// option or file, exit code 2, nothing on stdout and no file written or overwritten; good
/// commands print what the assignment prints.
/// </summary>
[NonParallelizable]
public class CliTests
{
    TempFolder _temp = null!;

    [SetUp] public void Setup() { _temp = new TempFolder(); LayerNames.Reset(); }
    [TearDown] public void DeleteFolder() => _temp.Dispose();

    sealed record Outcome(int ExitCode, string Out, string Error);

    /// <summary>Runs resnet.dll (copied beside the tests by the project reference) in <paramref name="workingFolder"/>.</summary>
    static Outcome Resnet(string workingFolder, params string[] args)
    {
        using var process = Process.Start(StartInfo(workingFolder, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.That(process.WaitForExit(120_000), Is.True, "resnet did not finish within 2 minutes");
        return new Outcome(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>resnet.dll (copied beside the tests by the project reference) with these arguments, run in <paramref name="workingFolder"/>.</summary>
    static ProcessStartInfo StartInfo(string workingFolder, string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "resnet.dll");
        Assert.That(File.Exists(dll), Is.True, $"{dll} was not built beside the tests");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = workingFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        // The data folder comes from --data in these tests, never from the caller's environment.
        start.Environment.Remove("SIGNS_DIR");
        return start;
    }

    /// <summary>Starts resnet.dll in <paramref name="workingFolder"/> without waiting; its output is discarded.</summary>
    static Process StartResnet(string workingFolder, params string[] args)
    {
        var process = Process.Start(StartInfo(workingFolder, args))!;
        // Drained, so a full pipe never stalls the run.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Exit code 2, nothing on stdout, and exactly one stderr line holding every fragment.</summary>
    static void AssertOneErrorLine(Outcome outcome, params string[] fragments)
    {
        Assert.That(outcome.ExitCode, Is.EqualTo(2), $"exit code; stderr: {outcome.Error}");
        Assert.That(outcome.Out, Is.Empty, "nothing on stdout");
        var lines = outcome.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"one line on stderr, got: {outcome.Error}");
        Assert.That(lines[0], Does.StartWith("error: "));
        foreach (var f in fragments) Assert.That(lines[0], Does.Contain(f));
    }

    [TestCase("train", "--epochs", "abc", "--epochs takes a whole number, not 'abc'", "resnet train --help")]
    [TestCase("train", "--epochs", "0", "--epochs must be at least 1, not 0", "resnet train --help")]
    [TestCase("train", "--batch-size", "-3", "--batch-size must be at least 1, not -3", "resnet train --help")]
    [TestCase("train", "--batch-size", "2.5", "--batch-size takes a whole number, not '2.5'", "resnet train --help")]
    [TestCase("train", "--learning-rate", "fast", "--learning-rate takes a number such as 0.001, not 'fast'", "resnet train --help")]
    [TestCase("train", "--learning-rate", "-0.01", "--learning-rate must be a positive number", "resnet train --help")]
    [TestCase("train", "--learning-rate", "Infinity", "--learning-rate must be a positive number", "resnet train --help")]
    [TestCase("train", "--seed", "-1", "--seed must be at least 0, not -1", "resnet train --help")]
    [TestCase("train", "--lr-schedule", "step", "--lr-schedule must be constant or cosine, not 'step'", "resnet train --help")]
    [TestCase("summary", "--classes", "0", "--classes must be at least 1, not 0", "resnet summary --help")]
    [TestCase("plot", "--classes", "six", "--classes takes a whole number, not 'six'", "resnet plot --help")]
    [TestCase("train", "--epoch", "3", "'--epoch'", "resnet train --help")]
    public void ABadOptionValueIsOneLineNamingTheOption(string command, string option, string value, string message, string help)
    {
        var outcome = Resnet(_temp.Path, command, option, value);
        AssertOneErrorLine(outcome, message, help);
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Is.Empty, "nothing written");
    }

    [TestCase("train")]
    [TestCase("bench")]
    [TestCase("selftest")]
    public void AnUnknownDeviceIsRefusedWhileParsing(string command)
    {
        var outcome = Resnet(_temp.Path, command, "--device", "tpu");
        AssertOneErrorLine(outcome, "--device must be cpu or cuda, not 'tpu'", $"resnet {command} --help");
    }

    [Test]
    public void SelftestOnTheCpuSaysWhatItCompares()
    {
        var outcome = Resnet(_temp.Path, "selftest", "--device", "cpu");
        AssertOneErrorLine(outcome, "selftest compares a device with the CPU", "--device cuda");
    }

    [TestCase("selftest")]
    [TestCase("train", "--device", "cuda")]
    [TestCase("bench", "--device", "cuda", "--no-pytorch")]
    public void WithoutAGpuCudaIsRefusedSayingWhy(params string[] args)
    {
        if (CudaDevice.TryGetDefault(out _, out _)) Assert.Ignore("this machine has a CUDA device");
        CudaDevice.TryGetDefault(out _, out string reason);
        var outcome = Resnet(_temp.Path, args);
        AssertOneErrorLine(outcome, "--device cuda", reason);
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Is.Empty, "nothing written");
    }

    [Test]
    public void TrainingOneEpochSavesTheModelAndItsCharts()
    {
        string? signs = Environment.GetEnvironmentVariable("SIGNS_DIR");
        if (string.IsNullOrWhiteSpace(signs)) Assert.Ignore("SIGNS_DIR is not set: this test trains on SIGNS");
        signs = Path.GetFullPath(signs);
        var outcome = Resnet(_temp.Path, "train", "--model", "resnet18", "--epochs", "1", "--data", signs, "-o", "m.h5");
        Assert.That(outcome.ExitCode, Is.EqualTo(0), outcome.Error);
        Assert.That(outcome.Out, Does.Contain("val_loss:"), "the test set is the validation data");
        foreach (var f in new[] { "m.h5", "m_curves.svg", "m_confusion.svg" })
            Assert.That(File.Exists(_temp.File(f)), Is.True, f);
        // The confusion matrix covers the 120 test images and agrees with the printed accuracy.
        var title = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(_temp.File("m_confusion.svg")), @"(\d+) / (\d+) correct");
        Assert.That(title.Success, Is.True);
        Assert.That(title.Groups[2].Value, Is.EqualTo("120"));
        var accuracy = System.Text.RegularExpressions.Regex.Match(outcome.Out, @"Test Accuracy = ([0-9.]+)");
        Assert.That(double.Parse(accuracy.Groups[1].Value, CultureInfo.InvariantCulture),
            Is.EqualTo(int.Parse(title.Groups[1].Value) / 120.0).Within(1e-6));
        Assert.That(File.ReadAllText(_temp.File("m_curves.svg")), Does.Contain("class=\"validation\""));
    }

    [Test]
    public void ATrainingRunKilledMidEpochAndResumedEndsWithTheSameWeights()
    {
        string? signs = Environment.GetEnvironmentVariable("SIGNS_DIR");
        if (string.IsNullOrWhiteSpace(signs)) Assert.Ignore("SIGNS_DIR is not set: this test trains on SIGNS");
        signs = Path.GetFullPath(signs);
        string[] common = ["train", "--model", "resnet18", "--epochs", "2", "--data", signs];
        var whole = Resnet(_temp.Path, [.. common, "-o", "whole.h5"]);
        Assert.That(whole.ExitCode, Is.EqualTo(0), whole.Error);

        // The same run, killed (SIGKILL) once its first epoch's checkpoint exists and the second epoch has begun.
        string checkpoint = _temp.File("cut_checkpoint.h5");
        using (var cut = StartResnet(_temp.Path, [.. common, "-o", "cut.h5"]))
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(checkpoint) && !cut.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(20);
            Assert.That(File.Exists(checkpoint), Is.True, "the first epoch wrote a checkpoint");
            Thread.Sleep(1000);
            Assert.That(cut.HasExited, Is.False, "still training when killed");
            cut.Kill();
            cut.WaitForExit();
        }
        Assert.That(File.Exists(_temp.File("cut.h5")), Is.False, "the killed run saved no model");
        var resumed = Resnet(_temp.Path, [.. common, "-o", "cut.h5", "--resume"]);
        Assert.That(resumed.ExitCode, Is.EqualTo(0), resumed.Error);
        Assert.That(resumed.Out, Does.Contain("resuming from").And.Contain("1 of 2 epochs done"));
        Assert.That(resumed.Out, Does.Contain("Epoch 2/2").And.Not.Contain("Epoch 1/2"));

        var a = KerasModelFile.Load(_temp.File("whole.h5"));
        var b = KerasModelFile.Load(_temp.File("cut.h5"));
        int compared = 0;
        foreach (var (la, lb) in a.Layers.Zip(b.Layers))
        {
            var wa = la.Parameters.Select(p => p.Value).Concat(la.State.Select(s => s.Value)).ToArray();
            var wb = lb.Parameters.Select(p => p.Value).Concat(lb.State.Select(s => s.Value)).ToArray();
            for (int i = 0; i < wa.Length; i++, compared++)
                Assert.That(wb[i].ToArray(), Is.EqualTo(wa[i].ToArray()), $"{la.Name} weight {i}: bit for bit");
        }
        Assert.That(compared, Is.GreaterThan(50));
        // The same test loss line, and the same curves (the first epoch's figures come from the checkpoint).
        string LossLine(string output) => output.Split('\n').Single(l => l.StartsWith("Loss = ", StringComparison.Ordinal));
        Assert.That(LossLine(resumed.Out), Is.EqualTo(LossLine(whole.Out)));
        Assert.That(File.ReadAllText(_temp.File("cut_curves.svg")).Replace("cut", "whole"), Is.EqualTo(File.ReadAllText(_temp.File("whole_curves.svg"))));
    }

    [Test]
    public void ADivergingRunStopsSayingWhereAndKeepsNoBrokenModel()
    {
        string? signs = Environment.GetEnvironmentVariable("SIGNS_DIR");
        if (string.IsNullOrWhiteSpace(signs)) Assert.Ignore("SIGNS_DIR is not set: this test trains on SIGNS");
        var outcome = Resnet(_temp.Path, "train", "--model", "resnet18", "--epochs", "1", "--data", Path.GetFullPath(signs), "-o", "m.h5", "--learning-rate", "1e30");
        Assert.That(outcome.ExitCode, Is.EqualTo(2), outcome.Out + outcome.Error);
        var error = outcome.Error.Trim();
        Assert.That(error, Does.Match(@"^error: training stopped at epoch 1, step \d+: "));
        Assert.That(error, Does.Contain("the first layer with a weight that is not finite:").And.Contain("no checkpoint"));
        Assert.That(File.Exists(_temp.File("m.h5")) || File.Exists(_temp.File("m_checkpoint.h5")), Is.False, "nothing saved from broken weights");
    }

    [Test]
    public void ResumingWithOtherSettingsIsRefusedNamingThem()
    {
        string? signs = Environment.GetEnvironmentVariable("SIGNS_DIR");
        if (string.IsNullOrWhiteSpace(signs)) Assert.Ignore("SIGNS_DIR is not set: this test trains on SIGNS");
        signs = Path.GetFullPath(signs);
        var none = Resnet(_temp.Path, "train", "--model", "resnet18", "--epochs", "1", "--data", signs, "-o", "m.h5", "--resume");
        AssertOneErrorLine(none, "--resume: no checkpoint at", "m_checkpoint.h5");
        var first = Resnet(_temp.Path, "train", "--model", "resnet18", "--epochs", "1", "--data", signs, "-o", "m.h5");
        Assert.That(first.ExitCode, Is.EqualTo(0), first.Error);
        var other = Resnet(_temp.Path, "train", "--model", "resnet18", "--epochs", "2", "--data", signs, "-o", "m.h5", "--resume", "--seed", "5", "--batch-size", "16", "--augment", "false");
        AssertOneErrorLine(other, "--resume", "--batch-size 32 (not 16)", "--seed 1 (not 5)", "--augment true (not false)");
    }

    [Test]
    public void TheGradientLabRefusesABadDepthAndItsHelpHintNamesTheWholeCommand()
    {
        AssertOneErrorLine(Resnet(_temp.Path, "lab", "gradients", "--depth", "x"), "--depth takes a whole number, not 'x'", "resnet lab gradients --help");
        AssertOneErrorLine(Resnet(_temp.Path, "lab", "gradients", "--depth", "7"), "--depth must be even");
    }

    [Test]
    public void PredictRefusesAnUnknownInterpolation()
    {
        var outcome = Resnet(_temp.Path, "predict", "photo.jpg", "--interpolation", "bicubic");
        AssertOneErrorLine(outcome, "--interpolation must be nearest or bilinear, not 'bicubic'");
    }

    [TestCase("summary")]
    [TestCase("train")] // refused before any data is read: the folder here holds none
    public void AnUnknownModelNameListsTheKnownOnes(string command)
    {
        var outcome = command == "train"
            ? Resnet(_temp.Path, command, "--model", "resnet51", "--data", _temp.Path)
            : Resnet(_temp.Path, command, "--model", "resnet51");
        AssertOneErrorLine(outcome, "--model", "unknown model 'resnet51'", "resnet50", "resnet152", "resnet18", $"resnet {command} --help");
    }

    [Test]
    public void AMissingDataFolderIsNamedWithWhatToDo()
    {
        string missing = _temp.File("no-such-folder");
        var outcome = Resnet(_temp.Path, "train", "--data", missing);
        AssertOneErrorLine(outcome, missing, "--data", "SIGNS_DIR");
    }

    [Test]
    public void ACorruptDataFileIsNamedAndNothingIsSaved()
    {
        File.WriteAllBytes(_temp.File("train_signs.h5"), [0x89, 0x48, 0x44, 0x46, 1, 2, 3]);
        File.WriteAllBytes(_temp.File("test_signs.h5"), [0x89, 0x48, 0x44, 0x46, 1, 2, 3]);
        string output = _temp.File("kept.h5");
        File.WriteAllText(output, "an earlier model");
        var outcome = Resnet(_temp.Path, "train", "--data", _temp.Path, "--output", output, "--epochs", "1");
        AssertOneErrorLine(outcome, "train_signs.h5");
        Assert.That(File.ReadAllText(output), Is.EqualTo("an earlier model"), "the earlier model file is untouched");
        Assert.That(Directory.GetFiles(_temp.Path), Has.Length.EqualTo(3), "no other file written");
    }

    [Test]
    public void BadOptionsNeverTouchAnExistingModelFile()
    {
        string output = _temp.File("resnet50_signs.h5");
        File.WriteAllText(output, "an earlier model");
        AssertOneErrorLine(Resnet(_temp.Path, "train", "--epochs", "0"), "--epochs");
        AssertOneErrorLine(Resnet(_temp.Path, "train", "--output", output, "--data", _temp.File("missing")), "missing");
        AssertOneErrorLine(Resnet(_temp.Path, "train", "--output", _temp.File("no-folder/m.h5")), "--output", "does not exist");
        AssertOneErrorLine(Resnet(_temp.Path, "train", "--output", _temp.Path), "--output", "is a folder");
        Assert.That(File.ReadAllText(output), Is.EqualTo("an earlier model"));
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Has.Length.EqualTo(1));
    }

    [Test]
    public void EvaluateAndPredictNameAMissingModelFile()
    {
        string signs = _temp.File("signs");
        Directory.CreateDirectory(signs);
        File.WriteAllBytes(Path.Combine(signs, "test_signs.h5"), []);
        var evaluate = Resnet(_temp.Path, "evaluate", "--data", signs, "-f", "absent.h5");
        AssertOneErrorLine(evaluate, "test_signs.h5");
        var predict = Resnet(_temp.Path, "predict", "photo.png", "-f", "absent.h5");
        AssertOneErrorLine(predict, "absent.h5", "resnet train", "--model-file");
    }

    /// <summary>A 6-class model on 64x64x3 small enough to save in a moment.</summary>
    string SaveTinyModel()
    {
        var input = Functional.Input<float>(new Shape(64, 64, 3));
        var x = new Conv2D<float>(4, 3, strides: 4, seed: 1, name: "conv1").Call(input);
        x = new MaxPooling2D<float>(4).Call(x);
        x = new Flatten<float>().Call(x);
        x = new Dense<float>(6, "softmax", seed: 2, name: "fc6").Call(x);
        string path = _temp.File("tiny.h5");
        KerasModelFile.Save(new Model<float>(input, x, "tiny"), path);
        return path;
    }

    [Test]
    public void PredictNamesAPhotoThatIsNotAnImage()
    {
        string model = SaveTinyModel();
        string notImage = _temp.File("notes.jpg");
        File.WriteAllText(notImage, "these are notes, not a photo");
        AssertOneErrorLine(Resnet(_temp.Path, "predict", notImage, "-f", model), notImage, "not a JPEG or PNG");
        AssertOneErrorLine(Resnet(_temp.Path, "predict", _temp.File("gone.jpg"), "-f", model), "gone.jpg", "does not exist");
    }

    [Test]
    public void PredictPrintsSixProbabilitiesThatSumToOneAndTheSameEachTime()
    {
        string model = SaveTinyModel();
        var rgb = new byte[20 * 30 * 3];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)(i * 37 % 251);
        string photo = _temp.File("hand.png");
        File.WriteAllBytes(photo, PngWriter.Encode(30, 20, colourType: 2, bitDepth: 8, rgb, filters: [0]));

        var first = Resnet(_temp.Path, "predict", photo, "-f", model);
        Assert.That(first.ExitCode, Is.EqualTo(0), first.Error);
        Assert.That(first.Error, Is.Empty);
        var lines = first.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines[0], Is.EqualTo("Input image shape: (1, 64, 64, 3)"));
        var vector = lines[2].Trim('[', ']', '\r').Split(' ').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.That(vector, Has.Length.EqualTo(6));
        Assert.That(vector.Sum(), Is.EqualTo(1).Within(6e-4), "printed to 4 places, the six still sum to one");
        int best = Array.IndexOf(vector, vector.Max());
        Assert.That(lines[3], Does.StartWith($"predicted sign: {best} "));

        var second = Resnet(_temp.Path, "predict", photo, "-f", model);
        Assert.That(second.Out, Is.EqualTo(first.Out), "the reloaded model predicts the same");
    }

    [Test]
    public void SummaryPrintsKerasTotalsForResNet50()
    {
        var outcome = Resnet(_temp.Path, "summary");
        Assert.That(outcome.ExitCode, Is.EqualTo(0), outcome.Error);
        Assert.That(outcome.Out, Does.Contain("Total params: 23,600,006"));
        Assert.That(outcome.Out, Does.Contain("Trainable params: 23,546,886"));
        Assert.That(outcome.Out, Does.Contain("Non-trainable params: 53,120"));
        Assert.That(outcome.Out, Does.Contain("res2a_branch2a (Conv2D)"));
    }

    [Test]
    public void BenchMeasuresEachBatchSizeInItsOwnProcess()
    {
        var outcome = Resnet(_temp.Path, "bench", "--batch", "2", "--batch", "1", "--steps", "1", "--warmup", "0", "--no-pytorch");
        Assert.That(outcome.ExitCode, Is.EqualTo(0), outcome.Error + outcome.Out);
        Assert.That(outcome.Out, Does.Contain("PyTorch: skipped (--no-pytorch)"));
        var rows = outcome.Out.Split('\n').Where(l => l.StartsWith("engine ")).ToArray();
        Assert.That(rows, Has.Length.EqualTo(2), outcome.Out);
        foreach (var row in rows)
        {
            // img/s, GFLOP/s, % of peak for training and inference, then the peak RSS.
            var cells = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(cells, Has.Length.EqualTo(9), row);
            Assert.That(double.Parse(cells[1], CultureInfo.InvariantCulture), Is.GreaterThan(0), row);
            Assert.That(double.Parse(cells[4], CultureInfo.InvariantCulture), Is.GreaterThan(double.Parse(cells[1], CultureInfo.InvariantCulture)), "inference is faster than a training step");
            Assert.That(cells[8], Is.EqualTo("MB"));
            Assert.That(double.Parse(cells[7], CultureInfo.InvariantCulture), Is.InRange(100, 2000), row);
        }
        // 23.6 M float32 weights and batch-norm statistics, and Adam's two moments of the 23.5 M trainable ones.
        Assert.That(outcome.Out, Does.Contain("= weights 90 + Adam 180 + training step"));
        Assert.That(outcome.Out, Does.Match(@"batch 2 +train img/s"));
        Assert.That(outcome.Out, Does.Match(@"batch 1 +train img/s"));
    }

    [Test]
    public void BenchProfilesEveryLayerAndLayerType()
    {
        var outcome = Resnet(_temp.Path, "bench", "--batch", "1", "--steps", "1", "--warmup", "1", "--no-pytorch", "--profile", "1");
        Assert.That(outcome.ExitCode, Is.EqualTo(0), outcome.Error + outcome.Out);
        var lines = outcome.Out.Split('\n');
        // ResNet-50's 53 convolutions in one row of the type table, with a share of the step and a rate.
        var convolutions = lines.Single(l => l.StartsWith("Conv2D "));
        var cells = convolutions.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(cells[1], Is.EqualTo("53"), convolutions);
        double share = double.Parse(cells[5].TrimEnd('%'), CultureInfo.InvariantCulture);
        Assert.That(share, Is.InRange(20, 100), "convolutions' share of the step");
        Assert.That(double.Parse(cells[6], CultureInfo.InvariantCulture), Is.GreaterThan(0), convolutions);
        Assert.That(lines.Count(l => l.StartsWith("BatchNormalization+ReLU ")), Is.EqualTo(1), "batch norms run with their ReLU are a type of their own");
        var joins = lines.Single(l => l.StartsWith("BatchNormalization+Add+ReLU "));
        Assert.That(joins.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], Is.EqualTo("16"), "each block's end runs as one op");
        Assert.That(lines.Count(l => l.StartsWith("optimizer updates")), Is.EqualTo(1));
        // Every layer that runs, once each, by its Keras name: 53 convolutions, 37 batch norms (33
        // with their ReLU, 4 on the shortcuts), 16 adds (with the batch norm before them and the
        // ReLU after), padding, two poolings, flatten and fc6.
        var layerRows = lines.SkipWhile(l => !l.StartsWith("by layer (run order)")).Skip(1).Where(l => l.Trim().Length > 0).ToArray();
        Assert.That(layerRows, Has.Length.EqualTo(53 + 37 + 16 + 5), outcome.Out);
        Assert.That(layerRows[1], Does.StartWith("conv1 "));
        Assert.That(layerRows[^1], Does.StartWith("fc6 "));
        Assert.That(layerRows.Count(l => l.StartsWith("res5c_branch2c ")), Is.EqualTo(1));
    }

    [Test]
    public void BenchRefusesABatchOfZero() =>
        AssertOneErrorLine(Resnet(_temp.Path, "bench", "--batch", "0"), "--batch must be at least 1, not 0", "resnet bench --help");
}
