using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>y = a - b, with either operand broadcast along the other's leading dimensions.</summary>
    public static Variable<T> Subtract<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bc = Broadcast.Resolve(a.Shape, b.Shape, "subtract");
        var (large, small) = bc.LeftIsLarge ? (a, b) : (b, a);
        var y = Tape.Output(Tensor<T>.Empty(large.Shape, large.Value.Device));
        // With a repeating, a - b is computed as ReverseSubtract(b, a).
        large.Value.Backend.Binary(bc.LeftIsLarge ? BinaryFunction.Subtract : BinaryFunction.ReverseSubtract, large.Value, small.Value, y.Value);
        Tape.Record(new SubtractNode<T>(bc), y, a, b);
        return y;
    }

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
