using System.Diagnostics;
using System.Numerics;
using Engine.Autograd;

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
    readonly HashSet<SymbolicTensor<T>> _reluFoldedIntoBatchNorm = new();
    readonly HashSet<SymbolicTensor<T>> _batchNormWithRelu = new();
    /// <summary>Add nodes run as batch norm + Add + ReLU: the batch norm whose output is one of the Add's inputs, what it normalises, and the other input.</summary>
    readonly Dictionary<int, (int BatchNorm, int BatchNormInput, int Other)> _batchNormAddRelu = new();
    /// <summary>Batch norms that run inside their Add, and ReLUs that run inside the Add before them.</summary>
    readonly HashSet<int> _batchNormInAdd = new(), _reluAfterFusedAdd = new();

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
        FindBatchNormRelu();
        FindBatchNormFolds();
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

    /// <summary>Training (batch statistics) or inference behaviour for every layer.</summary>
    public bool Training
    {
        get => Layers.Any(l => l.Training);
        set { foreach (var l in Layers) l.Training = value; }
    }

    /// <summary>
    /// Runs the network on a batch x [N, ...input shape] and returns the output's variable.
    /// A batch norm whose only consumer is Activation('relu') or ReLU() runs as the fused
    /// batch-norm + ReLU op (same result, one pass fewer each way).
    /// </summary>
    public Variable<T> Call(Variable<T> x) => Run(x, logits: false);

    /// <summary>
    /// Runs the graph; with <paramref name="logits"/>, a final Dense softmax layer stops before
    /// its softmax (the loss applies it, fused with the cross-entropy).
    /// </summary>
    internal Variable<T> Run(Variable<T> x, bool logits)
    {
        CheckInput(x.Shape);
        int count = _schedule.Length;
        // One slot per scheduled node; a node's inputs are read from the slots of its inputs.
        var values = new Variable<T>[count];
        // A ReLU folded into its batch norm passes the batch norm's variable on: both slots
        // are one value, whose uses are counted on the batch norm's slot (its owner).
        var owner = new int[count];
        var usesLeft = new int[count];
        var tape = Tape.Current;
        var profiler = Profiler.Current;
        // Folded batch norms (and the ReLUs and Adds folded with them) pass their convolution's
        // value on, as a folded ReLU does its batch norm's; a convolution that adds itself into
        // a residual's buffer reads it, and its value is that buffer from then on.
        bool folding = FoldsApply(tape);
        // Otherwise a batch norm feeding a residual Add runs inside the Add (reading what the
        // batch norm would have), and the ReLU after it passes the Add's value on.
        bool addFusing = !folding && FuseBatchNormRelu;
        for (int n = 0; n < count; n++)
        {
            if (folding && _absorbedBy[n] >= 0) owner[n] = owner[_absorbedBy[n]];
            else if (Folded(_schedule[n]) || addFusing && _reluAfterFusedAdd.Contains(n)) owner[n] = owner[_inputSlots[n][0]];
            else if (addFusing && _batchNormInAdd.Contains(n)) owner[n] = n;
            else
            {
                owner[n] = n;
                foreach (int s in Reads(n, addFusing)) usesLeft[owner[s]]++;
                if (folding && _folds.TryGetValue(n, out var fold) && fold.Residual >= 0)
                {
                    owner[n] = owner[fold.Residual];
                    usesLeft[owner[n]]++;
                }
            }
        }
        for (int n = 0; n < count; n++)
        {
            var node = _schedule[n];
            if (node == Input)
            {
                values[n] = x;
                continue;
            }
            if (folding && _absorbedBy[n] >= 0)
            {
                values[n] = values[_absorbedBy[n]];
                continue;
            }
            if (addFusing && _batchNormInAdd.Contains(n)) continue;
            var slots = Reads(n, addFusing);
            var inputs = new Variable<T>[slots.Length];
            for (int i = 0; i < inputs.Length; i++) inputs[i] = values[slots[i]];
            if (Folded(node) || addFusing && _reluAfterFusedAdd.Contains(n))
            {
                values[n] = inputs[0];
                continue;
            }
            long start = 0;
            if (profiler != null)
            {
                profiler.Scope = node.Layer;
                start = Stopwatch.GetTimestamp();
            }
            int residual = -1;
            if (folding && _folds.TryGetValue(n, out var fold))
            {
                values[n] = RunFolded(n, inputs[0], values);
                residual = fold.Residual;
            }
            else if (logits && node == Output && node.Layer is Dense<T> { ActivationName: "softmax" } dense) values[n] = dense.CallLinear(inputs[0]);
            else if (FuseBatchNormRelu && _batchNormWithRelu.Contains(node)) values[n] = ((BatchNormalization<T>)node.Layer).CallWithRelu(inputs[0]);
            else if (addFusing && _batchNormAddRelu.TryGetValue(n, out var join))
                values[n] = ((BatchNormalization<T>)_schedule[join.BatchNorm].Layer).CallWithAddRelu(inputs[0], inputs[1]);
            else values[n] = node.Layer.Invoke(inputs);
            if (profiler != null)
            {
                profiler.AddForward(node.Layer, Stopwatch.GetTimestamp() - start);
                profiler.Scope = null;
            }
            // Outputs this pass will not read again go back to the tape, which frees those
            // that no backward reads (an Add's inputs, a batch norm's output) at once.
            if (tape == null) continue;
            foreach (int s in slots)
                if (--usesLeft[owner[s]] == 0 && _schedule[owner[s]] != Input) tape.ReleaseWhenUnneeded(values[owner[s]]);
            // The residual's buffer now holds this node's value, which later nodes read.
            if (residual >= 0) --usesLeft[owner[residual]];
        }
        return values[^1];
    }

    bool Folded(SymbolicTensor<T> node) => FuseBatchNormRelu && _reluFoldedIntoBatchNorm.Contains(node);

    /// <summary>The slots node <paramref name="n"/> reads: a fused Add reads its batch norm's input and its other input.</summary>
    int[] Reads(int n, bool addFusing) =>
        addFusing && _batchNormAddRelu.TryGetValue(n, out var join) ? [join.BatchNormInput, join.Other] : _inputSlots[n];

    /// <summary>Every node between input and output, in an order where inputs come first (the output last).</summary>
    internal IReadOnlyList<SymbolicTensor<T>> Nodes => _schedule;

    /// <summary>Throws, naming the expected shape, unless <paramref name="shape"/> is a batch of this model's input.</summary>
    internal void CheckInput(Engine.Tensors.Shape shape, string? what = null)
    {
        if (shape.Rank != Input.SampleShape.Rank + 1 || !shape.Dims[1..].SequenceEqual(Input.SampleShape.Dims))
            throw new ArgumentException($"{(what == null ? "" : what + ": ")}{Name} takes input of shape {Input.KerasShape}, got {shape}");
    }

    /// <summary>
    /// Run a batch norm followed only by Activation('relu') or ReLU() as one fused op, and a batch
    /// norm followed only by a two-input Add that only a ReLU follows (a residual block's end)
    /// as batch norm + Add + ReLU (on by default; off runs every layer on its own, which tests
    /// compare against).
    /// </summary>
    public bool FuseBatchNormRelu { get; set; } = true;

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

    void FindBatchNormRelu()
    {
        var consumers = new Dictionary<SymbolicTensor<T>, int>();
        foreach (var node in _schedule)
            foreach (var i in node.Inputs) consumers[i] = consumers.GetValueOrDefault(i) + 1;
        foreach (var node in _schedule)
        {
            if (node.Layer is not (Activation<T> { Function: "relu" } or ReLU<T>) || node.Inputs[0] is not { Layer: BatchNormalization<T> } bn) continue;
            if (consumers[bn] != 1 || bn == Output) continue;
            _batchNormWithRelu.Add(bn);
            _reluFoldedIntoBatchNorm.Add(node);
        }
        var index = new Dictionary<SymbolicTensor<T>, int>();
        for (int n = 0; n < _schedule.Length; n++) index[_schedule[n]] = n;
        foreach (var relu in _schedule)
        {
            if (relu.Layer is not (Activation<T> { Function: "relu" } or ReLU<T>) || relu.Inputs[0] is not { Layer: Add<T> } add) continue;
            if (add.Inputs.Count != 2 || consumers[add] != 1 || add == Output) continue;
            var bn = add.Inputs.FirstOrDefault(i => i.Layer is BatchNormalization<T> && consumers[i] == 1 && i != Output);
            if (bn == null) continue;
            var other = add.Inputs[0] == bn ? add.Inputs[1] : add.Inputs[0];
            _batchNormAddRelu[index[add]] = (index[bn], index[bn.Inputs[0]], index[other]);
            _batchNormInAdd.Add(index[bn]);
            _reluAfterFusedAdd.Add(index[relu]);
        }
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
