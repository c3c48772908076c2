using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>Sum of every element -> scalar.</summary>
    public static Variable<T> Sum<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T> => ReduceAll(x, T.One);

    /// <summary>Mean of every element -> scalar.</summary>
    public static Variable<T> Mean<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => ReduceAll(x, T.One / T.CreateChecked(x.Value.Length));

    /// <summary>Sum over one axis, which is removed: [.., d, ..] -> [.., ..].</summary>
    public static Variable<T> Sum<T>(Variable<T> x, int axis) where T : unmanaged, IFloatingPointIeee754<T> => ReduceAxis(x, axis, mean: false);

    /// <summary>Mean over one axis, which is removed.</summary>
    public static Variable<T> Mean<T>(Variable<T> x, int axis) where T : unmanaged, IFloatingPointIeee754<T> => ReduceAxis(x, axis, mean: true);

    static Variable<T> ReduceAll<T>(Variable<T> x, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var y = Tape.Output(Tensor<T>.Empty(Shape.Scalar, x.Value.Device));
        x.Value.Backend.SumAll(x.Value, scale, y.Value);
        Tape.Record(new ReduceAllNode<T>(scale), y, x);
        return y;
    }

    sealed class ReduceAllNode<T>(T scale) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        // dX += scale * dY, dY a scalar broadcast over X: the [1, n, 1] view of the axis rule.
        public override void Backward() =>
            OutputGrad.Backend.BroadcastAxisAccumulate(OutputGrad, 1, Inputs[0].Value.Length, 1, scale, Inputs[0].EnsureGrad());
    }

    static Variable<T> ReduceAxis<T>(Variable<T> x, int axis, bool mean) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rank = x.Shape.Rank;
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} for shape {x.Shape}");
        int outer = x.Shape.SizeOf(0, axis), size = x.Shape[axis], inner = x.Shape.SizeOf(axis + 1, rank);
        var dims = x.Shape.ToArray().ToList();
        dims.RemoveAt(axis);
        T scale = mean ? T.One / T.CreateChecked(size) : T.One;
        var y = Tape.Output(Tensor<T>.Zeros(new Shape(dims.ToArray()), x.Value.Device));
        x.Value.Backend.SumAxisAccumulate(x.Value, outer, size, inner, scale, y.Value);
        Tape.Record(new ReduceAxisNode<T>(outer, size, inner, scale), y, x);
        return y;
    }

    sealed class ReduceAxisNode<T>(int outer, int size, int inner, T scale) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override void Backward() =>
            OutputGrad.Backend.BroadcastAxisAccumulate(OutputGrad, outer, size, inner, scale, Inputs[0].EnsureGrad());
    }
}
