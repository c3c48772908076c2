using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Matrix product over the last axis: a [..., K] x b [K, N] -> [..., N]. The leading axes
    /// of a are flattened into the M of one GEMM, which is how Dense and (in NHWC) a 1x1
    /// convolution run.
    /// </summary>
    public static Variable<T> MatMul<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Shape.Rank < 1 || b.Shape.Rank != 2 || a.Shape[-1] != b.Shape[0])
            throw new ArgumentException($"matmul: {a.Shape} x {b.Shape} (need [..., K] x [K, N])");
        int k = b.Shape[0], n = b.Shape[1], m = a.Shape.SizeOf(0, a.Shape.Rank - 1);
        var outDims = a.Shape.ToArray();
        outDims[^1] = n;
        var y = Tape.Output(Tensor<T>.Empty(new Shape(outDims), a.Value.Device));
        a.Value.Backend.MatMul(false, false, m, n, k, T.One, a.Value, b.Value, T.Zero, y.Value);
        Tape.Record(new MatMulNode<T>(m, n, k), y, a, b);
        return y;
    }

    sealed class MatMulNode<T>(int m, int n, int k) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override void Backward()
        {
            var (a, b) = (Inputs[0], Inputs[1]);
            var backend = OutputGrad.Backend;
            // dA[m,k] += dY[m,n] B^T;  dB[k,n] += A^T dY. beta = 1: gradients accumulate.
            if (a.RequiresGrad)
            {
                var da = a.GradForWrite(out bool accumulate);
                backend.MatMul(false, true, m, k, n, T.One, OutputGrad, b.Value, accumulate ? T.One : T.Zero, da);
            }
            if (b.RequiresGrad) backend.MatMul(true, false, k, n, m, T.One, a.Value, OutputGrad, T.One, b.EnsureGrad());
        }
    }
}
