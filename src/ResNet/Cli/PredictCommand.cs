using System.CommandLine;
using System.Globalization;
using Engine.Layers;
using Engine.ResNet.Data;

namespace Engine.ResNet.Cli;

/// <summary>`resnet evaluate` and `resnet predict`: a saved model on the test set, or on your own photo.</summary>
static class PredictCommand
{
    internal static Option<string> ModelFileOption() => new("--model-file", "-f")
    {
        Description = "the saved model (Keras HDF5 layout, as `resnet train` writes it or Keras' model.save())",
        DefaultValueFactory = _ => TrainCommand.DefaultModelFile,
    };

    /// <summary>Loads a saved model, or prints why it cannot and returns null.</summary>
    internal static Model<float>? LoadModel(string path)
    {
        try { return KerasModelFile.Load(path); }
        catch (Exception e) when (e is DataFormatException or Hdf5Exception or DllNotFoundException)
        {
            Program.Fail(e.Message + (File.Exists(path) ? "" : " (train one with `resnet train`, or pass --model-file)"));
            return null;
        }
    }

    public static Command Evaluate()
    {
        var modelFile = ModelFileOption();
        var data = Program.DataOption();
        var device = Program.DeviceOption();
        var command = new Command("evaluate",
            "Evaluate a saved model on the 120 SIGNS test images: prints the categorical cross-entropy (Loss) and the Test Accuracy, as the assignment's model.evaluate does.")
        { modelFile, data, device };
        command.SetAction(parse =>
        {
            var runOn = Program.ResolveDevice(parse.GetValue(device)!);
            if (runOn == null) return 2;
            string? folder = Program.ResolveDataFolder(parse.GetValue(data));
            if (folder == null) return 2;
            SignsSplit test;
            try { test = SignsDataset.LoadSplit(Path.Combine(folder, SignsDataset.TestFileName), "test"); }
            catch (Exception e) when (e is DataFormatException or Hdf5Exception or DllNotFoundException) { return Program.Fail(e.Message); }
            using (test)
            {
                var model = LoadModel(parse.GetValue(modelFile)!);
                if (model == null) return 2;
                if (model.Output.SampleShape.Size != test.Y.Shape[1])
                    return Program.Fail($"{model.Name} has {model.Output.SampleShape.Size} outputs but the test set {test.Y.Shape[1]} classes");
                model.To(runOn);
                var (loss, accuracy) = model.Evaluate(test.X, test.Y);
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "{0}/{0} images", test.Count));
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Loss = {0:F6}", loss));
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "Test Accuracy = {0:F6}", accuracy));
            }
            return 0;
        });
        return command;
    }

    public static Command Predict()
    {
        var image = new Argument<string>("image") { Description = "your photo: a JPEG or PNG file (any size; it is resized to the model's 64x64)" };
        var modelFile = ModelFileOption();
        var interpolation = new Option<string>("--interpolation")
        {
            Description = "how the photo is resized: nearest (Keras' load_img default) or bilinear",
            DefaultValueFactory = _ => "nearest",
        };
        var device = Program.DeviceOption();
        var command = new Command("predict",
            "Predict the hand sign (0 to 5 fingers) in your own photo with a saved model: the photo is read as RGB, " +
            "resized to 64x64, divided by 255 like the training images, and the six class probabilities are printed.")
        { image, modelFile, interpolation, device };
        command.SetAction(parse =>
        {
            string mode = parse.GetValue(interpolation)!;
            if (mode is not ("nearest" or "bilinear")) return Program.Fail($"--interpolation must be nearest or bilinear, not '{mode}'");
            var runOn = Program.ResolveDevice(parse.GetValue(device)!);
            if (runOn == null) return 2;
            var model = LoadModel(parse.GetValue(modelFile)!);
            if (model == null) return 2;
            var shape = model.Input.SampleShape;
            if (shape.Rank != 3 || shape[2] != 3) return Program.Fail($"{model.Name} takes input {model.Input.KerasShape}, not an RGB image");
            Engine.Tensors.Tensor<float> x;
            try
            {
                x = ImageFile.LoadModelInput(parse.GetValue(image)!, shape[0], shape[1],
                    mode == "nearest" ? Interpolation.Nearest : Interpolation.Bilinear);
            }
            catch (Exception e) when (e is ImageFormatException or DllNotFoundException) { return Program.Fail(e.Message); }
            using (x)
            {
                model.To(runOn);
                using var p = model.Predict(x);
                var probabilities = p.Span.ToArray();
                int best = Array.IndexOf(probabilities, probabilities.Max());
                Console.WriteLine($"Input image shape: ({string.Join(", ", x.Shape.ToArray())})");
                Console.WriteLine($"class prediction vector [{string.Join(", ", Enumerable.Range(0, probabilities.Length).Select(i => $"p({i})"))}] =");
                Console.WriteLine("[" + string.Join(" ", probabilities.Select(v => v.ToString("F4", CultureInfo.InvariantCulture))) + "]");
                Console.WriteLine($"predicted sign: {best} (probability {probabilities[best].ToString("F4", CultureInfo.InvariantCulture)})");
            }
            return 0;
        });
        return command;
    }
}
