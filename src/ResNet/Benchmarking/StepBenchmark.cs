using System.Diagnostics;
using Engine.Autograd;
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
/// <param name="Profile">Per-layer times, when asked for (null for PyTorch).</param>
public sealed record StepMeasurement(string Model, int Batch, int Threads, double TrainStepMs, double InferenceMs, double? PeakRssMb, long ForwardMacsPerImage,
    TensorMemory? Tensors = null, StepProfile? Profile = null)
{
    public double TrainImagesPerSecond => Batch / TrainStepMs * 1000;
    public double InferenceImagesPerSecond => Batch / InferenceMs * 1000;

    /// <summary>A training step counted as three forward passes (the forward, and backward's dX and dW), 2 FLOPs per multiply-add.</summary>
    public double TrainGflops => 3.0 * 2 * ForwardMacsPerImage * TrainImagesPerSecond / 1e9;
    public double InferenceGflops => 2.0 * ForwardMacsPerImage * InferenceImagesPerSecond / 1e9;
}

/// <summary>Megabytes of tensor buffers: the weights (and batch-norm state), the optimizer's state, and what training steps added (activations, gradients).</summary>
public sealed record TensorMemory(double ParametersMb, double OptimizerMb, double StepMb);

/// <summary>
/// Where the time of a training step and of an inference pass went, per layer, from
/// <paramref name="Passes"/> profiled repetitions of each (after the timed ones).
/// </summary>
/// <param name="TrainStepMs">Mean wall time of a profiled training step (timing adds a few microseconds per layer).</param>
/// <param name="Training">Each layer's forward and backward time in a training step.</param>
/// <param name="OutsideLayersMs">Backward of ops recorded outside the model's layers (the loss).</param>
/// <param name="UpdatesMs">Optimizer updates, made during backward as each parameter's gradient completes.</param>
/// <param name="InferenceMs">Mean wall time of a profiled inference pass.</param>
/// <param name="Inference">Each layer's time in an inference pass (batch norm with moving statistics).</param>
public sealed record StepProfile(int Passes, double TrainStepMs, IReadOnlyList<LayerTime> Training, double OutsideLayersMs, double UpdatesMs,
    double InferenceMs, IReadOnlyList<LayerTime> Inference)
{
    /// <summary>Step time no layer, loss or update accounts for: the loss's forward, the tape's bookkeeping, releasing buffers.</summary>
    public double OtherMs => TrainStepMs - Training.Sum(l => l.TotalMs) - OutsideLayersMs - UpdatesMs;
}

public static class StepBenchmark
{
    /// <summary>
    /// Builds <paramref name="modelName"/> for 64x64x3 images and 6 classes, then times
    /// <paramref name="steps"/> training steps and <paramref name="steps"/> inference passes
    /// at batch <paramref name="batch"/>, each after <paramref name="warmup"/> untimed ones.
    /// Run it in a fresh process for a meaningful <see cref="StepMeasurement.PeakRssMb"/>.
    /// </summary>
    /// <param name="profilePasses">When above 0, that many more training steps and inference passes run under a
    /// <see cref="Engine.Autograd.Profiler"/> for <see cref="StepMeasurement.Profile"/>.</param>
    /// <param name="device">Where the model and the batch live (the CPU when null). On a GPU every timed step ends
    /// with its results on the host (the loss, the predictions), so a time covers the work, not just its queuing.</param>
    public static StepMeasurement Run(string modelName, int batch, int warmup = 3, int steps = 12, ulong seed = 1, int profilePasses = 0, Device? device = null)
    {
        if (batch < 1 || warmup < 0 || steps < 1) throw new ArgumentException($"batch {batch}, warm-up {warmup} and steps {steps}: need batch and steps >= 1");
        device ??= Device.Cpu;
        var pool = TensorPool<float>.Shared;
        // Tensor memory where the tensors are: the host pool's high-water marks, or what the GPU's allocator holds.
        double Mb() => (device is CudaDevice cuda ? cuda.Context.BytesReserved : pool.BytesAllocated) / 1048576.0;
        double before = Mb();
        if (device != Device.Cpu && profilePasses > 0)
            throw new ArgumentException("the per-layer profile reads the CPU's clock: on a GPU it would time the queuing of kernels, not their work");
        var model = ResNetModels.Create<float>(modelName, (64, 64, 3), 6).To(device);
        double withModel = Mb();
        model.Compile("adam");
        double withOptimizer = Mb();
        var rng = new Rng(seed);
        using var x = Initializers.Uniform<float>(new Shape(batch, 64, 64, 3), 0, 1, rng);
        using var y = Tensor<float>.Zeros(new Shape(batch, 6));
        var ys = y.Span;
        for (int i = 0; i < batch; i++) ys[i * 6 + (int)(rng.NextUInt64() % 6)] = 1;
        // The batch stays where the model is, as a benchmark's fixed batch does in PyTorch.
        x.MoveTo(device);
        y.MoveTo(device);

        // On a GPU, launches return at once: a timed step ends when the device has done its work.
        Action finish = device is CudaDevice gpu ? gpu.Synchronize : static () => { };
        double trainMs = Median(warmup, steps, () => { model.TrainOnBatch(x, y); finish(); });
        double? rss = ProcessMemory.PeakResidentMegabytes();
        var tensors = new TensorMemory(withModel - before, withOptimizer - withModel, Mb() - withOptimizer);
        double inferMs = Median(warmup, steps, () => { model.Predict(x, batch).Dispose(); finish(); });
        var profile = profilePasses > 0 ? Profile(model, x, y, profilePasses) : null;
        return new StepMeasurement(modelName, batch, Kernels.ThreadTeam.Shared.Size, trainMs, inferMs, rss, model.ForwardMacsPerSample, tensors, profile);
    }

    static StepProfile Profile(Model<float> model, Tensor<float> x, Tensor<float> y, int passes)
    {
        int batch = x.Shape[0];
        var training = new Profiler();
        long start = Stopwatch.GetTimestamp();
        using (training.Activate())
            for (int i = 0; i < passes; i++) model.TrainOnBatch(x, y);
        double stepMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds / passes;
        var outside = training.Scopes.Where(s => s.Scope == Profiler.Unscoped).Sum(s => (s.Forward + s.Backward).TotalMilliseconds) / passes;

        var inference = new Profiler();
        start = Stopwatch.GetTimestamp();
        using (inference.Activate())
            for (int i = 0; i < passes; i++) model.Predict(x, batch).Dispose();
        double inferMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds / passes;
        return new StepProfile(passes, stepMs, model.LayerTimes(training, batch, passes), outside, training.Updates.TotalMilliseconds / passes,
            inferMs, model.LayerTimes(inference, batch, passes));
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
