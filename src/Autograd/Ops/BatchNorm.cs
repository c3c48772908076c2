using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Batch normalisation over the last axis (Keras BatchNormalization, axis = channels):
    /// x [..., C] -> same shape; gamma, beta [C] trainable; moving mean / variance [C] are
    /// state, not variables. training: normalise with the batch mean and biased variance and
    /// update the moving statistics (moving = momentum * moving + (1 - momentum) * batch);
    /// otherwise normalise with the moving statistics.
    /// </summary>
    public static Variable<T> BatchNorm<T>(Variable<T> x, Variable<T> gamma, Variable<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, double momentum = 0.99, double epsilon = 1e-3) where T : unmanaged, IFloatingPointIeee754<T>
        => BatchNormCore(x, gamma, beta, movingMean, movingVariance, training, momentum, epsilon, relu: false);

    /// <summary>
    /// relu(BatchNorm(x)) in one pass forward and one backward (the pair every ResNet
    /// convolution is followed by): the ReLU is applied as the output is written, and its mask
    /// gates the gradient inside batch norm's backward, so neither the pre-activation's gradient
    /// nor a separate ReLU pass exists. Same arguments as <see cref="BatchNorm{T}"/>.
    /// </summary>
    public static Variable<T> BatchNormRelu<T>(Variable<T> x, Variable<T> gamma, Variable<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, double momentum = 0.99, double epsilon = 1e-3) where T : unmanaged, IFloatingPointIeee754<T>
        => BatchNormCore(x, gamma, beta, movingMean, movingVariance, training, momentum, epsilon, relu: true);

    /// <summary>
    /// relu(BatchNorm(x) + residual), the end of a ResNet block (batch norm, Add, ReLU), in one
    /// pass forward; backward gates the gradient by the output's mask inside batch norm's
    /// backward and hands the same gated gradient to the residual. Neither the batch norm's
    /// output nor the sum exists. residual: x's shape; other arguments as <see cref="BatchNorm{T}"/>.
    /// </summary>
    public static Variable<T> BatchNormAddRelu<T>(Variable<T> x, Variable<T> gamma, Variable<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, Variable<T> residual, double momentum = 0.99, double epsilon = 1e-3) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (residual.Shape != x.Shape) throw new ArgumentException($"batch norm + add: residual {residual.Shape} differs from x {x.Shape}");
        return BatchNormCore(x, gamma, beta, movingMean, movingVariance, training, momentum, epsilon, relu: true, residual);
    }

    static Variable<T> BatchNormCore<T>(Variable<T> x, Variable<T> gamma, Variable<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, double momentum, double epsilon, bool relu, Variable<T>? residual = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = x.Shape[-1];
        var c = new Shape(channels);
        if (gamma.Shape != c || beta.Shape != c || movingMean.Shape != c || movingVariance.Shape != c)
            throw new ArgumentException($"batch norm over {channels} channels: gamma {gamma.Shape}, beta {beta.Shape}, moving {movingMean.Shape} / {movingVariance.Shape}");
        var device = x.Value.Device;
        var y = Tape.Output(Tensor<T>.Empty(x.Shape, device));
        var mean = Tensor<T>.Empty(c, device);
        var invStd = Tensor<T>.Empty(c, device);
        x.Value.Backend.BatchNormForward(x.Value, gamma.Value, beta.Value, movingMean, movingVariance, training,
            T.CreateChecked(momentum), T.CreateChecked(epsilon), mean, invStd, y.Value, relu, residual?.Value);
        Variable<T>[] inputs = residual == null ? [x, gamma, beta] : [x, gamma, beta, residual];
        if (Tape.ShouldRecord<T>(inputs)) Tape.Record(new BatchNormNode<T>(training, relu, mean, invStd), y, inputs);
        if (!Tape.Adopt(mean)) mean.Dispose();
        if (!Tape.Adopt(invStd)) invStd.Dispose();
        return y;
    }

    /// <summary>The saved statistics' buffers belong to the tape (see Tape.Adopt). A fourth input is the residual added before the ReLU.</summary>
    sealed class BatchNormNode<T>(bool training, bool relu, Tensor<T> mean, Tensor<T> invStd) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        // x and gamma (not beta, not the residual); the output only for a fused ReLU's mask.
        protected internal override bool ReadsInputValue(int index) => index < 2;
        protected internal override bool ReadsOutputValue => relu;

        public override void Backward()
        {
            var (x, gamma, beta) = (Inputs[0], Inputs[1], Inputs[2]);
            bool accumulateDx = false;
            var dx = x.RequiresGrad ? x.GradForWrite(out accumulateDx) : null;
            OutputGrad.Backend.BatchNormBackward(x.Value, OutputGrad, gamma.Value, mean, invStd, training,
                dx, gamma.RequiresGrad ? gamma.EnsureGrad() : null, beta.RequiresGrad ? beta.EnsureGrad() : null,
                relu ? Output.Value : null, accumulateDx);
            // The sum's gradient, gated by the ReLU, is the residual's too.
            if (Inputs.Length > 3 && Inputs[3] is { RequiresGrad: true } residual)
            {
                var dr = residual.GradForWrite(out bool accumulate);
                OutputGrad.Backend.UnaryBackward(UnaryFunction.Relu, Output.Value, OutputGrad, dr, accumulate);
            }
        }
    }
}
