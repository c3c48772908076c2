using System.Diagnostics;
using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras' functional Model: the graph of layer applications between an input and an output
/// (branches and Add merges allowed), run as one network. Layers are listed in Keras' order
/// (by depth from the output, as model.summary() and model.layers show them).
/// </summary>
public sealed partial class Model<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly SymbolicTensor<T>[] _schedule;
    readonly int[][] _inputSlots;

    /// <param name="input">What <see cref="Functional.Input{T}"/> returned.</param>
    /// <param name="output">The last layer's symbolic output.</param>
    public Model(SymbolicTensor<T> input, SymbolicTensor<T> output, string? name = null)
    {
        if (input.Layer is not InputLayer<T>) throw new ArgumentException($"a model starts at an Input, not at {input.Layer.Name} ({input.Layer.TypeName})");
        Input = input;
        Output = output;
        Name = name ?? LayerNames.Next("model");
        var nodes = Reachable(output);
        foreach (var node in nodes)
            if (node.Inputs.Count == 0 && node != input)
                throw new ArgumentException($"the output depends on {node.Layer.Name}, an input other than the model's {input.Layer.Name}");
        if (!nodes.Contains(input)) throw new ArgumentException($"the output {output.Layer.Name} does not depend on the input {input.Layer.Name}");
        _schedule = nodes.OrderBy(n => n.Sequence).ToArray();
        var slotOf = new Dictionary<SymbolicTensor<T>, int>();
        for (int n = 0; n < _schedule.Length; n++) slotOf[_schedule[n]] = n;
        _inputSlots = [.. _schedule.Select(node => node.Inputs.Select(i => slotOf[i]).ToArray())];
        Layers = KerasLayerOrder(output);
        BuildPlans();
    }

    public string Name { get; }
    public SymbolicTensor<T> Input { get; }
    public SymbolicTensor<T> Output { get; }
    /// <summary>Every layer, the input layer included, in Keras' order.</summary>
    public IReadOnlyList<Layer<T>> Layers { get; }

    /// <summary>The layer called <paramref name="name"/>.</summary>
    public Layer<T> GetLayer(string name) =>
        Layers.FirstOrDefault(l => l.Name == name) ?? throw new KeyNotFoundException($"{Name} has no layer named '{name}'");

    /// <summary>Every trainable weight, layer by layer in <see cref="Layers"/> order.</summary>
    public IEnumerable<Variable<T>> Parameters => Layers.SelectMany(l => l.Parameters);

    public long TrainableParameterCount => Layers.Sum(l => l.TrainableParameterCount);
    public long NonTrainableParameterCount => Layers.Sum(l => l.NonTrainableParameterCount);
    public long ParameterCount => TrainableParameterCount + NonTrainableParameterCount;

    /// <summary>Where the weights live and the network runs (the CPU until <see cref="To"/> moves it).</summary>
    public Device Device { get; private set; } = Device.Cpu;

    /// <summary>
    /// Moves every weight (trainable ones and batch norm's moving statistics) and the
    /// optimizer's state to <paramref name="device"/>, in place, as PyTorch's model.to(device)
    /// does; returns this model. Data given to fit / evaluate / predict may stay on the host:
    /// each batch is copied over as it is taken.
    /// </summary>
    public Model<T> To(Device device)
    {
        foreach (var layer in Layers)
        {
            foreach (var p in layer.Parameters) p.Value.MoveTo(device);
            foreach (var (_, value) in layer.State) value.MoveTo(device);
        }
        _optimizer?.MoveTo(device);
        Device = device;
        return this;
    }

    /// <summary>Training (batch statistics) or inference behaviour for every layer.</summary>
    public bool Training
    {
        get => Layers.Any(l => l.Training);
        set { foreach (var l in Layers) l.Training = value; }
    }

    /// <summary>
    /// Runs the network on a batch x [N, ...input shape] and returns the output's variable.
    /// A batch norm whose only consumer is Activation('relu') or ReLU() runs as the fused
    /// batch-norm + ReLU op, and one feeding a residual Add and ReLU as batch norm + Add + ReLU
    /// (same result, fewer passes each way; see <see cref="FuseBatchNormRelu"/>); in inference
    /// with no gradient recorded, batch norms run inside the convolutions before them (see
    /// <see cref="FoldBatchNormForInference"/>).
    /// </summary>
    public Variable<T> Call(Variable<T> x) => Run(x, logits: false);

    /// <summary>
    /// Runs the graph; with <paramref name="logits"/>, a final Dense softmax layer stops before
    /// its softmax (the loss applies it, fused with the cross-entropy).
    /// </summary>
    internal Variable<T> Run(Variable<T> x, bool logits)
    {
        CheckInput(x.Shape);
        var tape = Tape.Current;
        var profiler = Profiler.Current;
        var plan = PlanFor(tape);
        int count = plan.Length;
        // One slot per scheduled node. A node that passes another's value on shares that
        // node's variable: both slots are one value, whose uses are counted on its owner.
        var values = new Variable<T>[count];
        var owner = new int[count];
        var usesLeft = new int[count];
        for (int n = 0; n < count; n++)
        {
            var step = plan[n];
            if (step.Kind == StepKind.Pass)
            {
                owner[n] = owner[step.Source];
                continue;
            }
            owner[n] = n;
            foreach (int s in step.Reads) usesLeft[owner[s]]++;
            // A convolution that adds itself onto a residual's buffer: from then on its value is that buffer.
            if (step.Residual) owner[n] = owner[step.Reads[1]];
        }
        for (int n = 0; n < count; n++)
        {
            var node = _schedule[n];
            var step = plan[n];
            switch (step.Kind)
            {
                case StepKind.Input: values[n] = x; continue;
                case StepKind.Skip: continue;
                case StepKind.Pass: values[n] = values[step.Source]; continue;
            }
            var inputs = new Variable<T>[step.Reads.Length];
            for (int i = 0; i < inputs.Length; i++) inputs[i] = values[step.Reads[i]];
            long start = 0;
            if (profiler != null)
            {
                profiler.Scope = node.Layer;
                start = Stopwatch.GetTimestamp();
            }
            values[n] = step.Kind switch
            {
                StepKind.BatchNormRelu => ((BatchNormalization<T>)node.Layer).CallWithRelu(inputs[0]),
                StepKind.BatchNormAddRelu => ((BatchNormalization<T>)_schedule[step.Source].Layer).CallWithAddRelu(inputs[0], inputs[1]),
                StepKind.FoldedConvolution => RunFolded(n, step, inputs),
                _ when logits && node == Output && node.Layer is Dense<T> { ActivationName: "softmax" } dense => dense.CallLinear(inputs[0]),
                _ => node.Layer.Invoke(inputs),
            };
            if (profiler != null)
            {
                profiler.AddForward(node.Layer, Stopwatch.GetTimestamp() - start);
                profiler.Scope = null;
            }
            // Outputs this pass will not read again go back to the tape, which frees those
            // that no backward reads (an Add's inputs, a batch norm's output) at once.
            if (tape == null) continue;
            foreach (int s in step.Reads)
                if (--usesLeft[owner[s]] == 0 && _schedule[owner[s]] != Input) tape.ReleaseWhenUnneeded(values[owner[s]]);
        }
        return values[^1];
    }

    /// <summary>Every node between input and output, in an order where inputs come first (the output last).</summary>
    internal IReadOnlyList<SymbolicTensor<T>> Nodes => _schedule;

    /// <summary>Throws, naming the expected shape, unless <paramref name="shape"/> is a batch of this model's input.</summary>
    internal void CheckInput(Engine.Tensors.Shape shape, string? what = null)
    {
        if (shape.Rank != Input.SampleShape.Rank + 1 || !shape.Dims[1..].SequenceEqual(Input.SampleShape.Dims))
            throw new ArgumentException($"{(what == null ? "" : what + ": ")}{Name} takes input of shape {Input.KerasShape}, got {shape}");
    }


    /// <summary>Keras' model.summary() table: layer (type), output shape, parameters, inputs; then the totals.</summary>
    public string Summary() => ModelSummary.Format(this);

    static HashSet<SymbolicTensor<T>> Reachable(SymbolicTensor<T> output)
    {
        var seen = new HashSet<SymbolicTensor<T>>();
        var stack = new Stack<SymbolicTensor<T>>([output]);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (!seen.Add(node)) continue;
            foreach (var i in node.Inputs) stack.Push(i);
        }
        return seen;
    }

    /// <summary>
    /// Keras 2's layer order: a depth-first walk from the output numbers the layers as it
    /// meets them (inputs in order, so the main path before the shortcut); every node's
    /// depth is its longest distance to the output; layers are listed by depth, deepest
    /// first, ties in walk order.
    /// </summary>
    static IReadOnlyList<Layer<T>> KerasLayerOrder(SymbolicTensor<T> output)
    {
        var layerIndex = new Dictionary<Layer<T>, int>();
        var finished = new HashSet<SymbolicTensor<T>>();
        var decreasingDepth = new List<SymbolicTensor<T>>();
        void Visit(SymbolicTensor<T> node)
        {
            if (finished.Contains(node)) return;
            layerIndex.TryAdd(node.Layer, layerIndex.Count);
            foreach (var i in node.Inputs) Visit(i);
            finished.Add(node);
            decreasingDepth.Add(node);
        }
        Visit(output);

        var nodeDepth = new Dictionary<SymbolicTensor<T>, int>();
        var layerDepth = new Dictionary<Layer<T>, int>();
        var layerFirstSeen = new List<Layer<T>>();
        for (int n = decreasingDepth.Count - 1; n >= 0; n--)
        {
            var node = decreasingDepth[n];
            int depth = nodeDepth.GetValueOrDefault(node);
            if (layerDepth.TryGetValue(node.Layer, out int previous)) depth = Math.Max(depth, previous);
            else layerFirstSeen.Add(node.Layer);
            layerDepth[node.Layer] = depth;
            nodeDepth[node] = depth;
            foreach (var i in node.Inputs) nodeDepth[i] = Math.Max(depth + 1, nodeDepth.GetValueOrDefault(i));
        }
        return layerFirstSeen
            .GroupBy(l => layerDepth[l])
            .OrderByDescending(g => g.Key)
            .SelectMany(g => g.OrderBy(l => layerIndex[l]))
            .ToArray();
    }
}
