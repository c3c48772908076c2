using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>y = a - b, with either operand broadcast along the other's leading dimensions.</summary>
    public static Variable<T> Subtract<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        // With a repeating, a - b is computed as ReverseSubtract(b, a).
        => BroadcastBinary(a, b, "subtract", BinaryFunction.Subtract, BinaryFunction.ReverseSubtract, static bc => new SubtractNode<T>(bc));

    sealed class SubtractNode<T>(Broadcast bc) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override void Backward()
        {
            // dA += dY, dB -= dY, the broadcast one summed over its repeats.
            T minusOne = -T.One;
            if (bc.LeftIsLarge)
            {
                AccumulateRepeated(OutputGrad, Inputs[0], T.One);
                AccumulateReduced(OutputGrad, Inputs[1], bc, minusOne);
            }
            else
            {
                AccumulateReduced(OutputGrad, Inputs[0], bc, T.One);
                AccumulateRepeated(OutputGrad, Inputs[1], minusOne);
            }
        }
    }
}
