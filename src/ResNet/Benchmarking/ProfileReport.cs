using Engine.Layers;

namespace Engine.ResNet.Benchmarking;

/// <summary>The tables `resnet bench --profile` prints: time per layer type, then per layer, of a training step and an inference pass.</summary>
public static class ProfileReport
{
    public static void Write(TextWriter output, StepProfile profile, int batch)
    {
        output.WriteLine();
        output.WriteLine($"profile at batch {batch}: a training step of {profile.TrainStepMs:F1} ms and an inference pass of {profile.InferenceMs:F1} ms " +
            $"(means of {profile.Passes} profiled repetitions); GFLOP/s count convolutions and dense layers only, as direct products (the 3x3 Winograd layers do fewer)");
        output.WriteLine($"{"by layer type",-26}{"layers",7}{"fwd ms",9}{"bwd ms",9}{"step ms",9}{"share",7}{"GFLOP/s",9}{"infer ms",10}{"share",7}{"GFLOP/s",9}");
        var inferenceByType = profile.Inference.GroupBy(l => l.Type).ToDictionary(g => g.Key, g => Sum(g));
        foreach (var group in profile.Training.GroupBy(l => l.Type).OrderByDescending(g => g.Sum(l => l.TotalMs)))
        {
            var train = Sum(group);
            inferenceByType.TryGetValue(group.Key, out var infer);
            output.WriteLine($"{group.Key,-26}{group.Count(),7}{train.ForwardMs,9:F1}{train.BackwardMs,9:F1}{train.TotalMs,9:F1}{Share(train.TotalMs, profile.TrainStepMs),7}{Rate(train.TotalGflops),9}" +
                $"{infer?.ForwardMs ?? 0,10:F1}{Share(infer?.ForwardMs ?? 0, profile.InferenceMs),7}{Rate(infer?.ForwardGflops),9}");
        }
        void Extra(string what, double ms) => output.WriteLine($"{what,-51}{ms,9:F1}{Share(ms, profile.TrainStepMs),7}");
        Extra("optimizer updates (during backward)", profile.UpdatesMs);
        Extra("backward outside the layers (the loss)", profile.OutsideLayersMs);
        Extra("the rest (loss forward, tape, releases)", profile.OtherMs);
        double inferenceRest = profile.InferenceMs - profile.Inference.Sum(l => l.ForwardMs);
        output.WriteLine($"{"the rest of inference (copying the batch in and out)",-85}{inferenceRest,10:F1}{Share(inferenceRest, profile.InferenceMs),7}");

        output.WriteLine();
        output.WriteLine($"{"by layer (run order)",-22}{"type",-24}{"fwd ms",8}{"GFLOP/s",9}{"bwd ms",8}{"GFLOP/s",9}{"share",7}{"infer ms",10}{"GFLOP/s",9}");
        var inferenceByName = profile.Inference.ToDictionary(l => l.Name);
        foreach (var layer in profile.Training)
        {
            inferenceByName.TryGetValue(layer.Name, out var infer);
            output.WriteLine($"{layer.Name,-22}{layer.Type,-24}{layer.ForwardMs,8:F2}{Rate(layer.ForwardGflops),9}{layer.BackwardMs,8:F2}{Rate(layer.BackwardGflops),9}" +
                $"{Share(layer.TotalMs, profile.TrainStepMs),7}{infer?.ForwardMs ?? 0,10:F2}{Rate(infer?.ForwardGflops),9}");
        }
    }

    static LayerTime Sum(IEnumerable<LayerTime> layers) => layers.Aggregate((a, b) => new LayerTime(a.Name, a.Type,
        a.ForwardMs + b.ForwardMs, a.BackwardMs + b.BackwardMs, a.ForwardFlops + b.ForwardFlops, a.BackwardFlops + b.BackwardFlops));

    static string Share(double ms, double of) => of > 0 ? $"{ms / of * 100:F1}%" : "";

    static string Rate(double? gflops) => gflops is double g ? $"{g:F0}" : "";
}
