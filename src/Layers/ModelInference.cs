using System.Numerics;
using Engine.Autograd;

namespace Engine.Layers;

public sealed partial class Model<T>
{
    /// <summary>
    /// A convolution whose batch norm (and what follows it) runs inside it in inference: the
    /// batch norm as a per-filter scale of the kernel and a shift, the ReLU after it, or the
    /// residual Add and the ReLU after that (into <paramref name="Residual"/>'s buffer).
    /// </summary>
    /// <param name="Residual">The node whose value the result is added to, or -1.</param>
    readonly record struct BatchNormFold(int BatchNorm, bool Relu, int Residual);

    Dictionary<int, BatchNormFold> _folds = new();
    /// <summary>Per node: the convolution that computes its value in a folded inference pass, or -1.</summary>
    int[] _absorbedBy = [];

    /// <summary>
    /// In inference (no gradients recorded, every layer in inference mode), run each
    /// convolution followed only by a batch norm as one op with the batch norm folded in, and
    /// with the ReLU after it, or the residual Add and ReLU after it, too (on by default; off
    /// runs the layers one by one, which tests compare against). Results agree to rounding.
    /// </summary>
    public bool FoldBatchNormForInference { get; set; } = true;

    bool FoldsApply(Tape? tape) => FoldBatchNormForInference && _folds.Count > 0 && tape is not { IsRecording: true } && !Training;

    /// <summary>Finds the convolution -> batch norm chains that fold, and the ReLUs and residual joins that fold with them.</summary>
    void FindBatchNormFolds()
    {
        int count = _schedule.Length;
        var index = new Dictionary<SymbolicTensor<T>, int>();
        for (int n = 0; n < count; n++) index[_schedule[n]] = n;
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

        var folds = new Dictionary<int, BatchNormFold>();
        var absorbedBy = Enumerable.Repeat(-1, count).ToArray();
        // conv -> batch norm, the conv's output read by nothing else.
        var convOf = new Dictionary<int, int>();
        for (int c = 0; c < count; c++)
        {
            if (_schedule[c].Layer is not Conv2D<T> { ActivationName: "linear" } || !OnlyConsumer(c, out int b) || _schedule[b].Layer is not BatchNormalization<T>)
                continue;
            folds[c] = new BatchNormFold(b, Relu: false, Residual: -1);
            absorbedBy[b] = c;
            convOf[b] = c;
            // ... -> ReLU, the batch norm's output read by nothing else.
            if (OnlyConsumer(b, out int r) && IsRelu(r))
            {
                folds[c] = folds[c] with { Relu = true };
                absorbedBy[r] = c;
            }
        }
        // Add(two inputs) -> ReLU, where one input is a folded batch norm without its own ReLU:
        // the later-computed such chain adds itself into the other input's buffer, which is
        // safe when that value was computed before the chain starts, is a buffer of this pass
        // (not the model's input, not a reshaped view) and nothing reads it after the Add.
        for (int a = 0; a < count; a++)
        {
            if (_schedule[a].Layer is not Add<T> || _inputSlots[a].Length != 2 || !OnlyConsumer(a, out int r) || !IsRelu(r) || _schedule[r] == Output) continue;
            int late = -1, other = -1;
            foreach (int input in _inputSlots[a])
                if (convOf.TryGetValue(input, out int c) && !folds[c].Relu && (late < 0 || c > convOf[late])) late = input;
            if (late < 0) continue;
            other = _inputSlots[a][0] == late ? _inputSlots[a][1] : _inputSlots[a][0];
            int conv = convOf[late];
            if (other >= conv || _schedule[other] == Input || _schedule[other].Layer is Flatten<T>) continue;
            // The value itself: a folded node's value is its convolution's output.
            int valueNode = absorbedBy[other] >= 0 ? absorbedBy[other] : other;
            if (_schedule[valueNode].Layer is Flatten<T> || _schedule[valueNode] == Input) continue;
            if (consumers[other].Any(reader => reader != a && reader >= conv)) continue;
            folds[conv] = folds[conv] with { Relu = true, Residual = other };
            absorbedBy[a] = conv;
            absorbedBy[r] = conv;
        }
        _folds = folds;
        _absorbedBy = absorbedBy;
    }

    /// <summary>Runs convolution node <paramref name="n"/> with its batch norm (and ReLU, residual join) folded in.</summary>
    Variable<T> RunFolded(int n, Variable<T> x, Variable<T>[] values)
    {
        var fold = _folds[n];
        var conv = (Conv2D<T>)_schedule[n].Layer;
        var bn = (BatchNormalization<T>)_schedule[fold.BatchNorm].Layer;
        var (scale, shift) = Fusion.BatchNormScaleShift(conv, bn);
        using (scale)
        using (shift)
            return Ops.Conv2DScaled(x, conv.Kernel.Value, scale, shift, conv.Strides.H, conv.Strides.W, conv.Padding, fold.Relu,
                fold.Residual >= 0 ? values[fold.Residual] : null);
    }
}
