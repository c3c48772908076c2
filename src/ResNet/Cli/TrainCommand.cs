using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Engine.Autograd.Optimizers;
using Engine.Layers;
using Engine.ResNet.Data;
using Engine.ResNet.Training;

namespace Engine.ResNet.Cli;

/// <summary>`resnet train`: the assignment's training run on SIGNS, then the test-set evaluation.</summary>
static class TrainCommand
{
    /// <summary>Where `resnet train` saves ResNet-50, and where evaluate / predict look by default.</summary>
    public const string DefaultModelFile = "resnet50_signs.h5";

    public static Command Create()
    {
        var model = Program.ModelOption();
        var data = Program.DataOption();
        var epochs = Program.WholeNumberOption("--epochs", "passes over the 1080 training images (the assignment runs 20 without the recipe's extras)", defaultValue: 40, minimum: 1);
        var batchSize = Program.WholeNumberOption("--batch-size", "images per gradient step", defaultValue: 32, minimum: 1);
        var learningRate = Program.PositiveNumberOption("--learning-rate", "Adam's learning rate (Keras' default 0.001)", defaultValue: 0.001);
        var output = new Option<string?>("--output", "-o")
        {
            Description = $"file to save the trained model to, in Keras' HDF5 layout (default: <model>_signs.h5, e.g. {DefaultModelFile}); written only when training finishes, and atomically; " +
                "the loss and accuracy curves (<name>_curves.svg) and the test set's confusion matrix (<name>_confusion.svg) go beside it",
        };
        var seed = Program.WholeNumberOption("--seed", "seed for the order of the batches and the augmentation of every epoch (weights start from the assignment's seed 0)", defaultValue: 1, minimum: 0);
        var device = Program.DeviceOption();
        var checkpoint = new Option<string?>("--checkpoint")
        {
            Description = "where to keep the run's checkpoint, rewritten (atomically) after every epoch: the model, Adam's state and the epoch " +
                "(default: <output name>_checkpoint.h5 beside the model file)",
        };
        var schedule = new Option<string>("--lr-schedule")
        {
            Description = "the learning rate over the run: cosine (from --learning-rate down to 0 at the last epoch, set per epoch), or constant (Keras' default)",
            DefaultValueFactory = _ => "cosine",
        };
        schedule.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<string>() is not ("constant" or "cosine")) r.AddError($"--lr-schedule must be constant or cosine, not '{r.GetValueOrDefault<string>()}'");
        });
        var augment = new Option<bool>("--augment")
        {
            Description = "shift (up to 4 pixels), mirror and brighten or darken each training image at random (--augment false: the images as they are)",
            DefaultValueFactory = _ => true,
        };
        var preciseBn = new Option<bool>("--precise-bn")
        {
            Description = "after training, re-estimate batch norm's moving statistics over the training images (the moving averages lag the weights; --precise-bn false: keep them)",
            DefaultValueFactory = _ => true,
        };
        var resume = new Option<bool>("--resume")
        {
            Description = "go on from the checkpoint of an interrupted run with the same settings, to the same result as a run never interrupted " +
                "(a new --learning-rate is taken, e.g. after a run diverged)",
        };

        var command = new Command("train",
            "Train a ResNet on the SIGNS hand-sign photos (6 classes, 64x64x3) as the assignment does (Adam, categorical cross-entropy, " +
            "mini-batches of 32, Keras-style progress per epoch), with the recipe that takes ResNet-50 to 98% in about 6 minutes on 2 cores: " +
            "40 epochs, a cosine learning-rate schedule, augmented images, batch norm statistics re-estimated at the end; then evaluate on the 120 test images. " +
            "The assignment's own run: --epochs 20 --lr-schedule constant --augment false --precise-bn false.")
        { model, data, epochs, batchSize, learningRate, output, seed, device, checkpoint, resume, schedule, augment, preciseBn };
        command.SetAction(parse =>
        {
            int e = parse.GetValue(epochs), b = parse.GetValue(batchSize);
            double lr = parse.GetValue(learningRate);
            string saveTo = parse.GetValue(output) ?? $"{parse.GetValue(model)!.ToLowerInvariant()}_signs.h5";
            string? saveFolder = Path.GetDirectoryName(Path.GetFullPath(saveTo));
            if (saveFolder == null || !Directory.Exists(saveFolder)) return Program.Fail($"--output: folder of '{saveTo}' does not exist");
            if (Directory.Exists(saveTo)) return Program.Fail($"--output: '{saveTo}' is a folder; give a file name such as {DefaultModelFile}");
            var runOn = Program.ResolveDevice(parse.GetValue(device)!);
            if (runOn == null) return 2;
            string? folder = Program.ResolveDataFolder(parse.GetValue(data));
            if (folder == null) return 2;
            SignsDataset signs;
            try { signs = SignsDataset.Load(folder); }
            catch (Exception ex) when (ex is DataFormatException or Hdf5Exception or DllNotFoundException) { return Program.Fail(ex.Message); }
            using (signs)
            {
                string modelName = parse.GetValue(model)!.ToLowerInvariant();
                string checkpointPath = parse.GetValue(checkpoint) ?? Path.Combine(Path.GetDirectoryName(saveTo) ?? "", Path.GetFileNameWithoutExtension(saveTo) + "_checkpoint.h5");
                ulong shuffleSeed = (ulong)parse.GetValue(seed);
                var settings = new TrainingSettings(modelName, e, 0, b, lr, shuffleSeed, Schedule: parse.GetValue(schedule)!, Augment: parse.GetValue(augment));
                Func<IEnumerable<Engine.Autograd.Variable<float>>, Optimizer<float>> adam = ps => new Adam<float>(ps, lr);
                Model<float> m;
                if (parse.GetValue(resume))
                {
                    if (!File.Exists(checkpointPath)) return Program.Fail($"--resume: no checkpoint at {checkpointPath} (pass --checkpoint, or train without --resume)");
                    try
                    {
                        var saved = TrainingCheckpoint.ReadSettings(checkpointPath);
                        string? differs = Differences(saved, settings);
                        if (differs != null) return Program.Fail($"--resume: {checkpointPath} was written by a run with {differs}; resume with the same settings");
                        (m, settings) = TrainingCheckpoint.Load(checkpointPath, adam);
                    }
                    catch (DataFormatException ex) { return Program.Fail(ex.Message); }
                    if (settings.LearningRate != lr)
                        Console.WriteLine($"learning rate {lr.ToString(CultureInfo.InvariantCulture)} from here on, not the checkpoint's {settings.LearningRate.ToString(CultureInfo.InvariantCulture)}: " +
                            "the run goes on differently from the interrupted one");
                    settings = settings with { Epochs = e, LearningRate = lr };
                    Console.WriteLine($"resuming from {checkpointPath}: {settings.EpochsDone} of {e} epochs done");
                }
                else
                {
                    var built = Program.BuildModel(modelName, signs.ClassCount);
                    if (built == null) return 2;
                    m = built;
                }
                Console.WriteLine($"number of training examples = {signs.Train.Count}");
                Console.WriteLine($"number of test examples = {signs.Test.Count}");
                Console.WriteLine($"X_train shape: {Shape(signs.Train.X.Shape)}   Y_train shape: {Shape(signs.Train.Y.Shape)}");
                Console.WriteLine($"{m.Name}: {m.ParameterCount:N0} parameters; Adam lr {lr.ToString(CultureInfo.InvariantCulture)}, batch {b}, {e} epochs"
                    + (runOn is Engine.Tensors.CudaDevice cuda ? $"; on {cuda.Context.DeviceName}" : ""));
                if (!parse.GetValue(resume)) m.Compile(makeOptimizer: adam, metrics: ["accuracy"]);
                m.To(runOn);
                var clock = Stopwatch.StartNew();
                // The test set is the validation data, so the curves show both (as the assignment evaluates on it).
                // Every epoch's figures, those of the run this one resumes first; each epoch's end rewrites the checkpoint.
                var history = new List<EpochLog>(settings.History ?? []);
                // Cosine: each epoch's rate set before it, from the start's at epoch 1 down to 0 after the last.
                void SetRateFor(int epochsDone)
                {
                    if (parse.GetValue(schedule) == "cosine" && m.Optimizer is Adam<float> adamOptimizer)
                        adamOptimizer.LearningRate = lr * 0.5 * (1 + Math.Cos(Math.PI * epochsDone / e));
                }
                SetRateFor(settings.EpochsDone);
                try
                {
                    if (settings.EpochsDone < e)
                        m.Fit(signs.Train.X, signs.Train.Y, epochs: e, batchSize: b, validation: (signs.Test.X, signs.Test.Y),
                        seed: shuffleSeed, log: Console.Out, initialEpoch: settings.EpochsDone,
                        augment: parse.GetValue(augment) ? (batch, shape, rng) => Augmentation.HandPhotos(batch, shape, rng) : null,
                        onEpochEnd: epoch =>
                        {
                            history.Add(epoch);
                            SetRateFor(epoch.Epoch);
                            TrainingCheckpoint.Save(m, settings with { EpochsDone = epoch.Epoch, History = history.ToArray() }, checkpointPath);
                        });
                }
                catch (TrainingDivergedException ex)
                {
                    Console.Out.Flush();
                    return Program.Fail($"{ex.Message}. " + (history.Count > 0
                        ? $"The last good weights are in {checkpointPath} (epoch {history[^1].Epoch}); resume from them with --resume, perhaps with a smaller --learning-rate"
                        : "No epoch had finished, so there is no checkpoint; try a smaller --learning-rate"));
                }
                if (parse.GetValue(preciseBn))
                    Console.WriteLine($"batch norm statistics re-estimated over {m.RecomputeBatchNormStatistics(signs.Train.X, b)} batches of the training images");
                var (loss, accuracy) = m.Evaluate(signs.Test.X, signs.Test.Y);
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Loss = {0:F6}", loss));
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Test Accuracy = {0:F6}", accuracy));
                Console.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F0} s");
                m.To(Engine.Tensors.Device.Cpu);
                try { KerasModelFile.Save(m, saveTo); }
                catch (Exception ex) when (ex is DataFormatException or Hdf5Exception or IOException or UnauthorizedAccessException)
                {
                    return Program.Fail($"could not save the model to {saveTo}: {ex.Message}");
                }
                Console.WriteLine($"saved {saveTo}");
                string stem = Path.Combine(Path.GetDirectoryName(saveTo) ?? "", Path.GetFileNameWithoutExtension(saveTo));
                try
                {
                    if (history.Count > 0)
                        File.WriteAllText(stem + "_curves.svg", TrainingCharts.CurvesSvg(history, $"{m.Name} on SIGNS: Adam lr {lr.ToString(CultureInfo.InvariantCulture)}, batch {b}"));
                    File.WriteAllText(stem + "_confusion.svg", TrainingCharts.ConfusionMatrixSvg(m.ConfusionMatrix(signs.Test.X, signs.Test.Y), $"{m.Name}, SIGNS test set"));
                    Console.WriteLine($"wrote {stem}_curves.svg (loss and accuracy per epoch) and {stem}_confusion.svg (test set)");
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    return Program.Fail($"could not write the training charts beside {saveTo}: {ex.Message}");
                }
            }
            return 0;
        });
        return command;
    }

    static string Shape(Engine.Tensors.Shape s) => $"({string.Join(", ", s.ToArray())})";

    /// <summary>
    /// The settings that would make a resumed run a different run, or null when they agree. The
    /// learning rate may change (the way on after a run diverged), with a note.
    /// </summary>
    static string? Differences(TrainingSettings saved, TrainingSettings asked)
    {
        var differences = new List<string>();
        if (saved.Model != asked.Model) differences.Add($"--model {saved.Model} (not {asked.Model})");
        if (saved.BatchSize != asked.BatchSize) differences.Add($"--batch-size {saved.BatchSize} (not {asked.BatchSize})");
        if (saved.Seed != asked.Seed) differences.Add($"--seed {saved.Seed} (not {asked.Seed})");
        if (saved.Schedule != asked.Schedule) differences.Add($"--lr-schedule {saved.Schedule} (not {asked.Schedule})");
        if (saved.Augment != asked.Augment) differences.Add($"--augment {(saved.Augment ? "true" : "false")} (not {(asked.Augment ? "true" : "false")})");
        if (saved.EpochsDone > asked.Epochs) differences.Add($"{saved.EpochsDone} epochs done already (more than --epochs {asked.Epochs})");
        return differences.Count == 0 ? null : string.Join(", ", differences);
    }
}
