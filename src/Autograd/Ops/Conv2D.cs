using System.Numerics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>
    /// 2-D convolution, Keras Conv2D semantics. x: [N,H,W,C] -> [N,H',W',F] with kernel
    /// [KH,KW,C,F] (HWIO) and optional bias [F]; padding "valid" or "same" (TensorFlow's rule:
    /// the odd pixel of padding goes to the bottom / right). The backend chooses how to compute
    /// it; the CPU's ways are described on CpuBackend.Conv2DForward.
    /// </summary>
    public static Variable<T> Conv2D<T>(Variable<T> x, Variable<T> kernel, Variable<T>? bias, int strideH, int strideW, string padding)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Conv2DCore(x, kernel, bias, strideH, strideW, padding, relu: false);

    /// <summary>
    /// relu(Conv2D(...)) with the ReLU applied to each output tile in registers as it is stored: with
    /// a batch norm folded into kernel and bias (Fusion.FoldBatchNorm), the whole
    /// conv -> BN -> ReLU of an inference pass in one op. Its backward masks dY, then runs the
    /// convolution's.
    /// </summary>
    public static Variable<T> Conv2DRelu<T>(Variable<T> x, Variable<T> kernel, Variable<T>? bias, int strideH, int strideW, string padding)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Conv2DCore(x, kernel, bias, strideH, strideW, padding, relu: true);

    /// <summary>
    /// Inference only (it records no gradient): y = conv(x, kernel) * scale + shift per filter,
    /// then max(y, 0) when <paramref name="relu"/>. With <paramref name="residual"/>, the result
    /// is added to it in its own buffer, before the ReLU, and residual is returned: a ResNet
    /// block's last conv -> batch norm -> Add -> ReLU as one pass over the output, the batch norm
    /// (scale gamma / sqrt(moving variance + epsilon)) applied to the kernel as it is packed.
    /// The caller must not read residual's old value again.
    /// x: [N,H,W,C], kernel [KH,KW,C,F], scale and shift [F], residual [N,H',W',F].
    /// </summary>
    public static Variable<T> Conv2DScaled<T>(Variable<T> x, Tensor<T> kernel, Tensor<T> scale, Tensor<T> shift, int strideH, int strideW, string padding,
        bool relu, Variable<T>? residual = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Tape.ShouldRecord(x)) throw new InvalidOperationException("Conv2DScaled has no backward: use Conv2D and BatchNorm while recording gradients");
        if (x.Shape.Rank != 4 || kernel.Shape.Rank != 4 || kernel.Shape[2] != x.Shape[3])
            throw new ArgumentException($"conv2d: input {x.Shape} (need [N,H,W,C]) with kernel {kernel.Shape} (need [KH,KW,C,F])");
        int filters = kernel.Shape[3];
        if (scale.Shape != new Shape(filters) || shift.Shape != new Shape(filters))
            throw new ArgumentException($"conv2d: scale {scale.Shape} and shift {shift.Shape} for {filters} filters");
        var g = ConvGeometry.Create(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], kernel.Shape[0], kernel.Shape[1], strideH, strideW, padding);
        var shape = new Shape(g.Batch, g.OutHeight, g.OutWidth, filters);
        if (residual != null && residual.Shape != shape) throw new ArgumentException($"conv2d: residual {residual.Shape} for output {shape}");
        var y = residual ?? Tape.Output(Tensor<T>.Empty(shape, x.Value.Device));
        x.Value.Backend.Conv2DForward(g, x.Value, kernel, shift, y.Value, relu, scale, accumulate: residual != null);
        return y;
    }

    static Variable<T> Conv2DCore<T>(Variable<T> x, Variable<T> kernel, Variable<T>? bias, int strideH, int strideW, string padding, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.Rank != 4 || kernel.Shape.Rank != 4 || kernel.Shape[2] != x.Shape[3])
            throw new ArgumentException($"conv2d: input {x.Shape} (need [N,H,W,C]) with kernel {kernel.Shape} (need [KH,KW,C,F])");
        int filters = kernel.Shape[3];
        if (bias != null && bias.Shape != new Shape(filters))
            throw new ArgumentException($"conv2d: bias {bias.Shape} for {filters} filters");
        var g = ConvGeometry.Create(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], kernel.Shape[0], kernel.Shape[1], strideH, strideW, padding);
        var y = Tape.Output(Tensor<T>.Empty(new Shape(g.Batch, g.OutHeight, g.OutWidth, filters), x.Value.Device));
        x.Value.Backend.Conv2DForward(g, x.Value, kernel.Value, bias?.Value, y.Value, relu);
        Variable<T>[] inputs = bias == null ? [x, kernel] : [x, kernel, bias];
        if (Tape.ShouldRecord<T>(inputs)) Tape.Record(new Conv2DNode<T>(g, relu), y, inputs);
        return y;
    }

    sealed class Conv2DNode<T>(ConvGeometry g, bool relu) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        // dX needs the kernel, dW the input; the output only for a fused ReLU's mask.
        protected internal override bool ReadsInputValue(int index) => index < 2;
        protected internal override bool ReadsOutputValue => relu;

        public override void Backward()
        {
            var (x, kernel) = (Inputs[0], Inputs[1]);
            var bias = Inputs.Length > 2 ? Inputs[2] : null;
            var backend = OutputGrad.Backend;
            // A fused ReLU passes the gradient only where it was open.
            using var masked = relu ? Tensor<T>.Empty(OutputGrad.Shape, OutputGrad.Device) : null;
            if (masked != null) backend.UnaryBackward(UnaryFunction.Relu, Output.Value, OutputGrad, masked, accumulate: false);
            bool accumulateDx = false, accumulateDKernel = false;
            var dx = x.RequiresGrad ? x.GradForWrite(out accumulateDx) : null;
            // A fresh kernel gradient (each step's, once the optimizer released the last) is
            // written, not cleared and added to.
            var dKernel = kernel.RequiresGrad ? kernel.GradForWrite(out accumulateDKernel) : null;
            backend.Conv2DBackward(g, x.Value, kernel.Value, masked ?? OutputGrad, dx, dKernel,
                bias is { RequiresGrad: true } ? bias.EnsureGrad() : null, accumulateDx, accumulateDKernel);
        }
    }
}
