using System.Diagnostics;
using Engine.Layers;
using Engine.ResNet.Models;
using Engine.Tensors;

namespace Engine.ResNet.Benchmarking;

/// <summary>
/// One configuration measured as torch_resnet50.py measures PyTorch: a training step
/// (forward, categorical cross-entropy, backward, Adam) and an inference pass on one fixed
/// random batch, medians over timed repetitions after warm-up ones, and the process's peak
/// resident memory when training ends.
/// </summary>
/// <param name="TrainStepMs">Median wall time of one training step.</param>
/// <param name="InferenceMs">Median wall time of one forward pass in inference mode.</param>
/// <param name="PeakRssMb">The process's peak resident set after training (null where the OS does not say).</param>
/// <param name="ForwardMacsPerImage">Multiply-adds of one image's forward pass (convolutions and dense).</param>
/// <param name="Tensors">Where the tensor buffers went (null for PyTorch).</param>
public sealed record StepMeasurement(string Model, int Batch, int Threads, double TrainStepMs, double InferenceMs, double? PeakRssMb, long ForwardMacsPerImage,
    TensorMemory? Tensors = null)
{
    public double TrainImagesPerSecond => Batch / TrainStepMs * 1000;
    public double InferenceImagesPerSecond => Batch / InferenceMs * 1000;

    /// <summary>A training step counted as three forward passes (the forward, and backward's dX and dW), 2 FLOPs per multiply-add.</summary>
    public double TrainGflops => 3.0 * 2 * ForwardMacsPerImage * TrainImagesPerSecond / 1e9;
    public double InferenceGflops => 2.0 * ForwardMacsPerImage * InferenceImagesPerSecond / 1e9;
}

/// <summary>Megabytes of tensor buffers: the weights (and batch-norm state), the optimizer's state, and what training steps added (activations, gradients).</summary>
public sealed record TensorMemory(double ParametersMb, double OptimizerMb, double StepMb);

public static class StepBenchmark
{
    /// <summary>
    /// Builds <paramref name="modelName"/> for 64x64x3 images and 6 classes, then times
    /// <paramref name="steps"/> training steps and <paramref name="steps"/> inference passes
    /// at batch <paramref name="batch"/>, each after <paramref name="warmup"/> untimed ones.
    /// Run it in a fresh process for a meaningful <see cref="StepMeasurement.PeakRssMb"/>.
    /// </summary>
    public static StepMeasurement Run(string modelName, int batch, int warmup = 3, int steps = 12, ulong seed = 1)
    {
        if (batch < 1 || warmup < 0 || steps < 1) throw new ArgumentException($"batch {batch}, warm-up {warmup} and steps {steps}: need batch and steps >= 1");
        var pool = TensorPool<float>.Shared;
        double Mb() => pool.BytesAllocated / 1048576.0;
        double before = Mb();
        var model = ResNetModels.Create<float>(modelName, (64, 64, 3), 6);
        double withModel = Mb();
        model.Compile("adam");
        double withOptimizer = Mb();
        var rng = new Rng(seed);
        using var x = Initializers.Uniform<float>(new Shape(batch, 64, 64, 3), 0, 1, rng);
        using var y = Tensor<float>.Zeros(new Shape(batch, 6));
        var ys = y.Span;
        for (int i = 0; i < batch; i++) ys[i * 6 + (int)(rng.NextUInt64() % 6)] = 1;

        double trainMs = Median(warmup, steps, () => model.TrainOnBatch(x, y));
        double? rss = ProcessMemory.PeakResidentMegabytes();
        var tensors = new TensorMemory(withModel - before, withOptimizer - withModel, Mb() - withOptimizer);
        double inferMs = Median(warmup, steps, () => model.Predict(x, batch).Dispose());
        return new StepMeasurement(modelName, batch, Kernels.ThreadTeam.Shared.Size, trainMs, inferMs, rss, model.ForwardMacsPerSample, tensors);
    }

    static double Median(int warmup, int steps, Action step)
    {
        for (int i = 0; i < warmup; i++) step();
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return steps % 2 == 1 ? times[steps / 2] : (times[steps / 2 - 1] + times[steps / 2]) / 2;
    }
}

/// <summary>The process's memory as the OS counts it.</summary>
public static class ProcessMemory
{
    /// <summary>Peak resident set size so far in MB (Linux VmHWM), or null where /proc does not give it.</summary>
    public static double? PeakResidentMegabytes() => Read("VmHWM:");

    /// <summary>Current resident set size in MB (Linux VmRSS), or null.</summary>
    public static double? ResidentMegabytes() => Read("VmRSS:");

    static double? Read(string key)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts.Length > 0 && long.TryParse(parts[0], out long kb) ? kb / 1024.0 : null;
        }
        return null;
    }
}
