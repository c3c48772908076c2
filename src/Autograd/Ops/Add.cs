using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>y = a + b, with b (or a) broadcast along the other's leading dimensions.</summary>
    public static Variable<T> Add<T>(Variable<T> a, Variable<T> b) where T : unmanaged, IFloatingPointIeee754<T>
        => BroadcastBinary(a, b, "add", BinaryFunction.Add, BinaryFunction.Add, static bc => new AddNode<T>(bc));

    sealed class AddNode<T>(Broadcast bc) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        protected internal override bool ReadsInputValue(int index) => false;
        protected internal override bool ReadsOutputValue => false;

        public override void Backward()
        {
            // dA += dY; dB += dY summed over the repeats of the broadcast operand.
            var (large, small) = bc.LeftIsLarge ? (Inputs[0], Inputs[1]) : (Inputs[1], Inputs[0]);
            AccumulateRepeated(OutputGrad, large, T.One);
            AccumulateReduced(OutputGrad, small, bc, T.One);
        }
    }

    /// <summary>v.Grad += alpha * g, for an operand of the output's full shape.</summary>
    static void AccumulateRepeated<T>(Tensor<T> g, Variable<T> v, T alpha) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!v.RequiresGrad) return;
        var dv = v.GradForWrite(out bool accumulate);
        if (accumulate) g.Backend.Axpy(alpha, g, dv);
        else if (alpha == T.One) g.Backend.Copy(g, dv);
        else
        {
            g.Backend.Fill(dv, T.Zero);
            g.Backend.Axpy(alpha, g, dv);
        }
    }

    /// <summary>v.Grad += alpha * (g summed over the repeats), for the broadcast operand.</summary>
    static void AccumulateReduced<T>(Tensor<T> g, Variable<T> v, Broadcast bc, T alpha) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!v.RequiresGrad) return;
        if (bc.SameShape) AccumulateRepeated(g, v, alpha);
        else g.Backend.SumAxisAccumulate(g, 1, bc.Repeats, bc.SmallLength, alpha, v.EnsureGrad());
    }
}
