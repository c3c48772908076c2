using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>y = a * b element-wise, with either operand broadcast along the other's leading dimensions.</summary>
    public static Variable<T> Multiply<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => BroadcastBinary(a, b, "multiply", BinaryFunction.Multiply, BinaryFunction.Multiply, static bc => new MultiplyNode<T>(bc));

    sealed class MultiplyNode<T>(Broadcast bc) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override void Backward()
        {
            var (large, small) = bc.LeftIsLarge ? (Inputs[0], Inputs[1]) : (Inputs[1], Inputs[0]);
            var g = OutputGrad;
            var backend = g.Backend;
            // dLarge += dY * small (small repeating).
            if (large.RequiresGrad) backend.MultiplyAccumulate(g, small.Value, large.EnsureGrad());
            if (!small.RequiresGrad) return;
            // dSmall += sum over repeats of dY * large.
            if (bc.SameShape)
            {
                backend.MultiplyAccumulate(g, large.Value, small.EnsureGrad());
                return;
            }
            using var product = Tensor<T>.Empty(g.Shape, g.Device);
            backend.Binary(BinaryFunction.Multiply, g, large.Value, product);
            backend.SumAxisAccumulate(product, 1, bc.Repeats, bc.SmallLength, T.One, small.EnsureGrad());
        }
    }
}
