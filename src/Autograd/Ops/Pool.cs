using System.Numerics;
using Engine.Kernels;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>Keras MaxPooling2D ('valid'): x [N,H,W,C] -> [N,H',W',C], the largest value of each window.</summary>
    public static Variable<T> MaxPool2D<T>(Variable<T> x, (int H, int W) pool, (int H, int W) strides) where T : unmanaged, IFloatingPointIeee754<T>
        => Pool(PoolFunction.Max, x, pool, strides);

    /// <summary>Keras AveragePooling2D ('valid'): x [N,H,W,C] -> [N,H',W',C], the mean of each window.</summary>
    public static Variable<T> AveragePool2D<T>(Variable<T> x, (int H, int W) pool, (int H, int W) strides) where T : unmanaged, IFloatingPointIeee754<T>
        => Pool(PoolFunction.Average, x, pool, strides);

    static Variable<T> Pool<T>(PoolFunction f, Variable<T> x, (int H, int W) pool, (int H, int W) strides) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.Rank != 4) throw new ArgumentException($"{f} pooling needs [N,H,W,C] input, got {x.Shape}");
        var g = ConvGeometry.Create(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], pool.H, pool.W, strides.H, strides.W, "valid");
        var y = Tape.Output(Tensor<T>.Empty(new Shape(g.Batch, g.OutHeight, g.OutWidth, g.Channels), x.Value.Device));
        x.Value.Backend.Pool(f, g, x.Value, y.Value);
        if (Tape.ShouldRecord(x)) Tape.Record(new PoolNode<T>(f, g), y, x);
        return y;
    }

    sealed class PoolNode<T>(PoolFunction f, ConvGeometry g) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override void Backward() =>
            OutputGrad.Backend.PoolBackward(f, g, Inputs[0].Value, Output.Value, OutputGrad, Inputs[0].EnsureGrad());
    }

    /// <summary>
    /// Keras ZeroPadding2D: x [N,H,W,C] -> [N, H+top+bottom, W+left+right, C] with zeros around.
    /// </summary>
    public static Variable<T> ZeroPad2D<T>(Variable<T> x, (int Top, int Bottom) rows, (int Left, int Right) columns) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.Rank != 4) throw new ArgumentException($"zero padding needs [N,H,W,C] input, got {x.Shape}");
        if (rows.Top < 0 || rows.Bottom < 0 || columns.Left < 0 || columns.Right < 0) throw new ArgumentException("padding must not be negative");
        var g = new ConvGeometry(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], 1, 1, 1, 1, rows.Top, rows.Bottom, columns.Left, columns.Right);
        var y = Tape.Output(Tensor<T>.Empty(new Shape(g.Batch, g.OutHeight, g.OutWidth, g.Channels), x.Value.Device));
        x.Value.Backend.ZeroPad(g, x.Value, y.Value);
        if (Tape.ShouldRecord(x)) Tape.Record(new ZeroPadNode<T>(g), y, x);
        return y;
    }

    sealed class ZeroPadNode<T>(ConvGeometry g) : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        protected internal override bool ReadsInputValue(int index) => false;
        protected internal override bool ReadsOutputValue => false;

        public override void Backward()
        {
            var dx = Inputs[0].GradForWrite(out bool accumulate);
            OutputGrad.Backend.ZeroPadBackward(g, OutputGrad, dx, accumulate);
        }
    }
}
