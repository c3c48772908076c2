using System.Numerics;
using Engine.Autograd;

namespace Engine.Layers;

/// <summary>
/// One layer's time per pass from a <see cref="Profiler"/>, and the GFLOP/s it reached (2 FLOPs
/// per multiply-add; convolutions and dense layers only, as <see cref="Model{T}.ForwardMacsPerSample"/>
/// counts them). A batch norm run fused with its ReLU carries the ReLU's time; its type reads
/// "BatchNormalization+ReLU"; an Add run with the batch norm before it and the ReLU after it
/// carries both ("BatchNormalization+Add+ReLU").
/// </summary>
/// <param name="ForwardFlops">FLOPs of the layer's forward pass on the profiled batch (0 for layers that are not counted).</param>
/// <param name="BackwardFlops">FLOPs of its backward: dW, plus dX when its input needs a gradient (the stem's does not).</param>
public sealed record LayerTime(string Name, string Type, double ForwardMs, double BackwardMs, double ForwardFlops, double BackwardFlops)
{
    public double TotalMs => ForwardMs + BackwardMs;
    public double? ForwardGflops => Rate(ForwardFlops, ForwardMs);
    public double? BackwardGflops => Rate(BackwardFlops, BackwardMs);
    public double? TotalGflops => Rate(ForwardFlops + BackwardFlops, TotalMs);

    static double? Rate(double flops, double ms) => flops > 0 && ms > 0 ? flops / (ms * 1e6) : null;
}

public sealed partial class Model<T>
{
    /// <summary>
    /// The time <paramref name="profiler"/> charged to each of this model's layers, divided by
    /// <paramref name="passes"/> (the passes profiled, each on a batch of <paramref name="batch"/>),
    /// in the model's run order. Layers that took no time of their own (a ReLU folded into its
    /// batch norm, the input) are left out; time charged outside any layer (a loss, the
    /// optimizer) is the profiler's to report.
    /// </summary>
    public IReadOnlyList<LayerTime> LayerTimes(Profiler profiler, int batch, int passes)
    {
        if (batch < 1 || passes < 1) throw new ArgumentException($"batch {batch} and passes {passes} must be at least 1");
        var charged = profiler.Scopes.ToDictionary(s => s.Scope, s => (s.Forward, s.Backward), ReferenceEqualityComparer.Instance);
        var needsGrad = new bool[_schedule.Length];
        // A layer applied at several nodes gets one row: its time is charged to the layer, so
        // its FLOPs are summed over its nodes.
        var rows = new Dictionary<Layer<T>, LayerTime>();
        var order = new List<Layer<T>>();
        for (int n = 0; n < _schedule.Length; n++)
        {
            var node = _schedule[n];
            var layer = node.Layer;
            bool inputNeedsGrad = _inputSlots[n].Any(s => needsGrad[s]);
            needsGrad[n] = inputNeedsGrad || layer.Parameters.Count > 0;
            if (!charged.TryGetValue(layer, out var time)) continue;
            double macs = (double)MacsPerSample(node) * batch;
            double forwardFlops = 2 * macs, backwardFlops = 2 * macs * (inputNeedsGrad ? 2 : 1);
            if (rows.TryGetValue(layer, out var row))
            {
                rows[layer] = row with { ForwardFlops = row.ForwardFlops + forwardFlops, BackwardFlops = row.BackwardFlops + backwardFlops };
                continue;
            }
            string type = (FuseBatchNormRelu ? _fused : _separate)[n].Kind switch
            {
                StepKind.BatchNormRelu => layer.TypeName + "+ReLU",
                StepKind.BatchNormAddRelu => "BatchNormalization+Add+ReLU",
                _ => layer.TypeName,
            };
            order.Add(layer);
            rows[layer] = new LayerTime(layer.Name, type, time.Forward.TotalMilliseconds / passes, time.Backward.TotalMilliseconds / passes, forwardFlops, backwardFlops);
        }
        return [.. order.Select(l => rows[l])];
    }
}
