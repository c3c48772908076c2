using System.Numerics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>
    /// 2-D convolution, Keras Conv2D semantics. x: [N,H,W,C] -> [N,H',W',F] with kernel
    /// [KH,KW,C,F] (HWIO) and optional bias [F]; padding "valid" or "same" (TensorFlow's rule:
    /// the odd pixel of padding goes to the bottom / right).
    /// A 1x1 stride-1 convolution is one GEMM on x as it lies ([N*H*W, C] x [C, F]); any other
    /// goes through im2col into a pooled buffer, rebuilt in the backward pass rather than kept,
    /// so a network does not hold a window matrix per layer between forward and backward.
    /// </summary>
    public static Variable<T> Conv2D<T>(Variable<T> x, Variable<T> kernel, Variable<T>? bias, int strideH, int strideW, string padding)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.Rank != 4 || kernel.Shape.Rank != 4 || kernel.Shape[2] != x.Shape[3])
            throw new ArgumentException($"conv2d: input {x.Shape} (need [N,H,W,C]) with kernel {kernel.Shape} (need [KH,KW,C,F])");
        int filters = kernel.Shape[3];
        if (bias != null && bias.Shape != new Shape(filters))
            throw new ArgumentException($"conv2d: bias {bias.Shape} for {filters} filters");
        var g = ConvGeometry.Create(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], kernel.Shape[0], kernel.Shape[1], strideH, strideW, padding);
        var backend = x.Value.Backend;
        var y = Tape.Output(Tensor<T>.Empty(new Shape(g.Batch, g.OutHeight, g.OutWidth, filters), x.Value.Device));
        using (var cols = Columns(g, x.Value))
            backend.MatMul(false, false, g.Rows, filters, g.Patch, T.One, cols ?? x.Value, kernel.Value, T.Zero, y.Value);
        if (bias != null) backend.Binary(BinaryFunction.Add, y.Value, bias.Value, y.Value);
        Variable<T>[] inputs = bias == null ? [x, kernel] : [x, kernel, bias];
        if (Tape.ShouldRecord<T>(inputs)) Tape.Record(new Conv2DNode<T>(g, filters), y, inputs);
        return y;
    }

    static bool IsPointwise(in ConvGeometry g) =>
        g.KernelH == 1 && g.KernelW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadTop + g.PadBottom + g.PadLeft + g.PadRight == 0;

    /// <summary>The im2col matrix of x, or null when x itself is that matrix (pointwise).</summary>
    static Tensor<T>? Columns<T>(in ConvGeometry g, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (IsPointwise(g)) return null;
        var cols = Tensor<T>.Empty(new Shape(g.Rows, g.Patch), x.Device);
        x.Backend.Im2Col(g, x, cols);
        return cols;
    }

    sealed class Conv2DNode<T>(ConvGeometry g, int filters) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override void Backward()
        {
            var (x, kernel) = (Inputs[0], Inputs[1]);
            var dy = OutputGrad;
            var backend = dy.Backend;
            // db += dY summed over every output position.
            if (Inputs.Length > 2 && Inputs[2].RequiresGrad)
                backend.SumAxisAccumulate(dy, 1, g.Rows, filters, T.One, Inputs[2].EnsureGrad());
            // dW[patch, F] += cols^T dY.
            if (kernel.RequiresGrad)
                using (var cols = Columns(g, x.Value))
                    backend.MatMul(true, false, g.Patch, filters, g.Rows, T.One, cols ?? x.Value, dy, T.One, kernel.EnsureGrad());
            if (!x.RequiresGrad) return;
            // dX: dCols = dY W^T, folded back onto the input (directly, when pointwise).
            if (IsPointwise(g))
            {
                backend.MatMul(false, true, g.Rows, g.Patch, filters, T.One, dy, kernel.Value, T.One, x.EnsureGrad());
                return;
            }
            using var dCols = Tensor<T>.Empty(new Shape(g.Rows, g.Patch), dy.Device);
            backend.MatMul(false, true, g.Rows, g.Patch, filters, T.One, dy, kernel.Value, T.Zero, dCols);
            backend.Col2ImAccumulate(g, dCols, x.EnsureGrad());
        }
    }
}
