using System.CommandLine;
using System.Globalization;
using Engine.ResNet.Training;

namespace Engine.ResNet.Cli;

/// <summary>`resnet train`: for now the spiral network; SIGNS training replaces it.</summary>
static class TrainCommand
{
    public static Command Create()
    {
        var epochs = new Option<int>("--epochs") { Description = "passes over the training data", DefaultValueFactory = _ => 30 };
        var batchSize = new Option<int>("--batch-size") { Description = "samples per gradient step", DefaultValueFactory = _ => 32 };
        var learningRate = new Option<double>("--learning-rate") { Description = "Adam learning rate", DefaultValueFactory = _ => 0.01 };
        var seed = new Option<ulong>("--seed") { Description = "seed for data, weights and shuffling (same seed, same run)", DefaultValueFactory = _ => 1UL };

        var train = new Command("train",
            "Train a network and print Keras-style progress per epoch. Until SIGNS loading lands, " +
            "this trains the two-layer network (Dense 64 relu, Dense 3) on a generated 3-class spiral set.")
        { epochs, batchSize, learningRate, seed };
        train.SetAction(parse =>
        {
            int e = parse.GetValue(epochs), b = parse.GetValue(batchSize);
            double lr = parse.GetValue(learningRate);
            if (e < 1) return Program.Fail("--epochs must be at least 1");
            if (b < 1) return Program.Fail("--batch-size must be at least 1");
            if (!(lr > 0) || double.IsInfinity(lr)) return Program.Fail("--learning-rate must be a positive number");
            var net = new SmallNetwork(batchSize: b, learningRate: lr, seed: parse.GetValue(seed));
            Console.WriteLine($"Training a two-layer network on {net.Samples} spiral points (3 classes), batch {b}, Adam lr {lr}");
            for (int i = 1; i <= e; i++)
            {
                var r = net.TrainEpoch(i);
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "Epoch {0}/{1} - {2:F2}s - loss: {3:F4} - accuracy: {4:F4}", i, e, r.Elapsed.TotalSeconds, r.Loss, r.Accuracy));
            }
            return 0;
        });
        return train;
    }
}
