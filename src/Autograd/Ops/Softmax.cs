using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>Softmax over the last axis: [..., C] -> [..., C], each row summing to 1.</summary>
    public static Variable<T> Softmax<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int classes = x.Shape[-1];
        var y = Tape.Output(Tensor<T>.Empty(x.Shape, x.Value.Device));
        x.Value.Backend.Softmax(x.Value, classes, y.Value);
        Tape.Record(new SoftmaxNode<T>(classes), y, x);
        return y;
    }

    sealed class SoftmaxNode<T>(int classes) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        // dX = Y * (dY - sum(dY * Y)) row by row.
        public override void Backward() =>
            OutputGrad.Backend.SoftmaxBackward(Output.Value, OutputGrad, classes, Inputs[0].EnsureGrad());
    }

    /// <summary>
    /// Mean categorical cross-entropy of softmax(logits) against targets, fused: logits and
    /// targets [..., C] (targets one-hot or any distribution; they get no gradient) -> scalar.
    /// Fusing keeps it stable (log-sum-exp, no log of a probability) and makes the gradient
    /// simply (softmax(logits) - targets) / rows.
    /// </summary>
    public static Variable<T> SoftmaxCrossEntropy<T>(Variable<T> logits, Variable<T> targets) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (logits.Shape != targets.Shape) throw new ArgumentException($"softmax cross-entropy: logits {logits.Shape} vs targets {targets.Shape}");
        if (targets.RequiresGrad) throw new ArgumentException("softmax cross-entropy gives no gradient to its targets; pass them as a constant");
        int classes = logits.Shape[-1];
        int rows = logits.Value.Length / classes;
        var probabilities = Tensor<T>.Empty(logits.Shape, logits.Value.Device);
        var loss = Tape.Output(Tensor<T>.Empty(Shape.Scalar, logits.Value.Device));
        T scale = T.One / T.CreateChecked(rows);
        logits.Value.Backend.SoftmaxCrossEntropy(logits.Value, targets.Value, classes, scale, probabilities, loss.Value);
        if (Tape.ShouldRecord(logits)) Tape.Record(new SoftmaxCrossEntropyNode<T>(classes, scale, probabilities) { Targets = targets.Value }, loss, logits);
        if (!Tape.Adopt(probabilities)) probabilities.Dispose();
        return loss;
    }

    /// <summary>Probabilities and targets stay with the node; the tape owns the probabilities' buffer.</summary>
    sealed class SoftmaxCrossEntropyNode<T>(int classes, T scale, Tensor<T> probabilities) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Tensor<T> Targets { get; init; } = null!;
        public override void Backward() =>
            OutputGrad.Backend.SoftmaxCrossEntropyBackward(probabilities, Targets, classes, OutputGrad, scale, Inputs[0].EnsureGrad());
    }
}
