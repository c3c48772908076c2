using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>y = max(x, 0).</summary>
    public static Variable<T> Relu<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => UnaryOp(UnaryFunction.Relu, x);

    /// <summary>y = 1 / (1 + e^-x).</summary>
    public static Variable<T> Sigmoid<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => UnaryOp(UnaryFunction.Sigmoid, x);

    static Variable<T> UnaryOp<T>(UnaryFunction f, Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Tape.Output(Tensor<T>.Empty(x.Shape, x.Value.Device));
        x.Value.Backend.Unary(f, x.Value, y.Value);
        Tape.Record(new UnaryNode<T>(f), y, x);
        return y;
    }

    /// <summary>dX += dY * f'(X), where f' is written in terms of the output Y.</summary>
    sealed class UnaryNode<T>(UnaryFunction f) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        protected internal override bool ReadsInputValue(int index) => false;

        public override void Backward()
        {
            var dx = Inputs[0].GradForWrite(out bool accumulate);
            OutputGrad.Backend.UnaryBackward(f, Output.Value, OutputGrad, dx, accumulate);
        }
    }
}
