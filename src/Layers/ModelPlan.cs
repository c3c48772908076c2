using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// How a model runs its graph: one step per node, in schedule order, planned once for each
/// way of running it. Layers one by one; fused, where a batch norm runs with the ReLU after it,
/// or with the residual Add and ReLU after it; and folded for inference, where a convolution
/// runs its batch norm (and what follows) inside itself.
/// </summary>
public sealed partial class Model<T>
{
    enum StepKind
    {
        /// <summary>The model's input.</summary>
        Input,
        /// <summary>The node's layer, on the values of <see cref="Step.Reads"/>.</summary>
        Layer,
        /// <summary>The node's value is <see cref="Step.Source"/>'s (its work ran there).</summary>
        Pass,
        /// <summary>No value: its work runs in a later node (a batch norm inside its Add).</summary>
        Skip,
        /// <summary>The node's batch norm with its ReLU as one op.</summary>
        BatchNormRelu,
        /// <summary>An Add run as batch norm (node <see cref="Step.Source"/>) + Add + ReLU, reading what the batch norm reads and the other input.</summary>
        BatchNormAddRelu,
        /// <summary>A convolution with its batch norm (node <see cref="Step.Source"/>) folded in, then its ReLU, or the residual (the second read) and the ReLU.</summary>
        FoldedConvolution,
    }

    /// <param name="Reads">The nodes whose values the step reads: their uses are counted, and they are released after their last.</param>
    readonly record struct Step(StepKind Kind, int[] Reads, int Source = -1, bool Relu = false, bool Residual = false);

    Step[] _separate = [], _fused = [];
    /// <summary>Null when no convolution -> batch norm chain folds.</summary>
    Step[]? _folded;

    /// <summary>
    /// Run a batch norm followed only by Activation('relu') or ReLU() as one fused op, and a batch
    /// norm followed only by a two-input Add that only a ReLU follows (a residual block's end)
    /// as batch norm + Add + ReLU (on by default; off runs every layer on its own, which tests
    /// compare against).
    /// </summary>
    public bool FuseBatchNormRelu { get; set; } = true;

    /// <summary>
    /// In inference (no gradients recorded, every layer in inference mode), run each
    /// convolution followed only by a batch norm as one op with the batch norm folded in, and
    /// with the ReLU after it, or the residual Add and ReLU after it, too (on by default; off
    /// runs the layers one by one, which tests compare against). Results agree to rounding.
    /// On the CPU only: the fold's per-filter factors are computed on the host, which on a GPU
    /// would wait for the device at every layer, costing more than the batch norms it saves.
    /// </summary>
    public bool FoldBatchNormForInference { get; set; } = true;

    Step[] PlanFor(Tape? tape) =>
        FoldBatchNormForInference && _folded != null && tape is not { IsRecording: true } && !Training && Device == Device.Cpu ? _folded
        : FuseBatchNormRelu ? _fused
        : _separate;

    void BuildPlans()
    {
        int count = _schedule.Length;
        var consumers = new List<int>[count];
        for (int n = 0; n < count; n++) consumers[n] = new List<int>();
        for (int n = 0; n < count; n++)
            foreach (int s in _inputSlots[n]) consumers[s].Add(n);
        bool OnlyConsumer(int n, out int consumer)
        {
            consumer = consumers[n].Count == 1 ? consumers[n][0] : -1;
            return consumer >= 0 && _schedule[n] != Output;
        }
        bool IsRelu(int n) => _schedule[n].Layer is Activation<T> { Function: "relu" } or ReLU<T>;
        bool IsBatchNorm(int n) => _schedule[n].Layer is BatchNormalization<T>;
        Step Pass(int source) => new(StepKind.Pass, [], source);

        _separate = [.. Enumerable.Range(0, count).Select(n => _schedule[n] == Input ? new Step(StepKind.Input, []) : new Step(StepKind.Layer, _inputSlots[n]))];

        // batch norm -> ReLU, the batch norm's output read by nothing else.
        var withRelu = (Step[])_separate.Clone();
        for (int b = 0; b < count; b++)
            if (IsBatchNorm(b) && OnlyConsumer(b, out int r) && IsRelu(r))
            {
                withRelu[b] = new Step(StepKind.BatchNormRelu, _inputSlots[b]);
                withRelu[r] = Pass(b);
            }

        // batch norm -> Add(two inputs) -> ReLU, the batch norm and the Add read by nothing else.
        _fused = (Step[])withRelu.Clone();
        for (int a = 0; a < count; a++)
        {
            if (_schedule[a].Layer is not Add<T> || _inputSlots[a].Length != 2 || !OnlyConsumer(a, out int r) || !IsRelu(r)) continue;
            int found = Array.FindIndex(_inputSlots[a], i => IsBatchNorm(i) && OnlyConsumer(i, out _));
            if (found < 0) continue;
            int b = _inputSlots[a][found];
            int other = _inputSlots[a][0] == b ? _inputSlots[a][1] : _inputSlots[a][0];
            _fused[a] = new Step(StepKind.BatchNormAddRelu, [_inputSlots[b][0], other], b);
            _fused[b] = new Step(StepKind.Skip, []);
            _fused[r] = Pass(a);
        }

        // Inference: conv -> batch norm, the conv's output read by nothing else, with the ReLU
        // after the batch norm when only it reads the batch norm.
        var folded = (Step[])withRelu.Clone();
        var convOf = new Dictionary<int, int>();
        for (int c = 0; c < count; c++)
        {
            if (_schedule[c].Layer is not Conv2D<T> { ActivationName: "linear" } || !OnlyConsumer(c, out int b) || !IsBatchNorm(b)) continue;
            bool relu = OnlyConsumer(b, out int r) && IsRelu(r);
            folded[c] = new Step(StepKind.FoldedConvolution, _inputSlots[c], b, relu);
            folded[b] = Pass(c);
            if (relu) folded[r] = Pass(c);
            convOf[b] = c;
        }
        // Add(two inputs) -> ReLU, where an input is a folded batch norm without its own ReLU:
        // the later-computed such chain adds itself into the other input's buffer, which is
        // safe when that value was computed before the chain starts, is a buffer of this pass
        // (not the model's input, not a reshaped view) and nothing reads it after the Add.
        for (int a = 0; a < count; a++)
        {
            if (_schedule[a].Layer is not Add<T> || _inputSlots[a].Length != 2 || !OnlyConsumer(a, out int r) || !IsRelu(r) || _schedule[r] == Output) continue;
            int late = -1;
            foreach (int input in _inputSlots[a])
                if (convOf.TryGetValue(input, out int c) && !folded[c].Relu && (late < 0 || c > convOf[late])) late = input;
            if (late < 0) continue;
            int other = _inputSlots[a][0] == late ? _inputSlots[a][1] : _inputSlots[a][0];
            int conv = convOf[late];
            int value = other;
            while (folded[value].Kind == StepKind.Pass) value = folded[value].Source;
            if (other >= conv || folded[value].Kind == StepKind.Input || _schedule[other].Layer is Flatten<T> || _schedule[value].Layer is Flatten<T>) continue;
            if (consumers[other].Any(reader => reader != a && reader >= conv)) continue;
            folded[conv] = folded[conv] with { Reads = [_inputSlots[conv][0], other], Relu = true, Residual = true };
            folded[a] = Pass(conv);
            folded[r] = Pass(conv);
        }
        _folded = convOf.Count > 0 ? folded : null;
    }

    /// <summary>Runs convolution node <paramref name="n"/> with its batch norm folded in (and its ReLU, or the residual and ReLU).</summary>
    Variable<T> RunFolded(int n, Step step, Variable<T>[] inputs)
    {
        var conv = (Conv2D<T>)_schedule[n].Layer;
        var bn = (BatchNormalization<T>)_schedule[step.Source].Layer;
        var (scale, shift) = Fusion.BatchNormScaleShift(conv, bn);
        using (scale)
        using (shift)
            return Ops.Conv2DScaled(inputs[0], conv.Kernel.Value, scale, shift, conv.Strides.H, conv.Strides.W, conv.Padding, step.Relu,
                step.Residual ? inputs[1] : null);
    }
}
