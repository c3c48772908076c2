using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras MaxPooling2D ('valid'): x [N,H,W,C] -> [N,H',W',C]. Strides default to the pool
/// size, as in Keras.
/// </summary>
public sealed class MaxPooling2D<T>((int H, int W) poolSize, (int H, int W)? strides = null, string? name = null)
    : Layer<T>(name, "max_pooling2d") where T : unmanaged, IFloatingPointIeee754<T>
{
    public MaxPooling2D(int poolSize, int? strides = null, string? name = null)
        : this((poolSize, poolSize), strides is int s ? (s, s) : null, name) { }

    public (int H, int W) PoolSize { get; } = poolSize;
    public (int H, int W) Strides { get; } = strides ?? poolSize;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.MaxPool2D(x, PoolSize, Strides);
    public override Shape OutputShape(Shape inputShape) => PoolingShape.Valid(Name, inputShape, PoolSize, Strides);
}

/// <summary>Keras AveragePooling2D ('valid'): x [N,H,W,C] -> [N,H',W',C]; strides default to the pool size.</summary>
public sealed class AveragePooling2D<T>((int H, int W) poolSize, (int H, int W)? strides = null, string? name = null)
    : Layer<T>(name, "average_pooling2d") where T : unmanaged, IFloatingPointIeee754<T>
{
    public AveragePooling2D(int poolSize, int? strides = null, string? name = null)
        : this((poolSize, poolSize), strides is int s ? (s, s) : null, name) { }

    public (int H, int W) PoolSize { get; } = poolSize;
    public (int H, int W) Strides { get; } = strides ?? poolSize;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.AveragePool2D(x, PoolSize, Strides);
    public override Shape OutputShape(Shape inputShape) => PoolingShape.Valid(Name, inputShape, PoolSize, Strides);
}

/// <summary>
/// Keras ZeroPadding2D: x [N,H,W,C] -> [N, H+top+bottom, W+left+right, C]. ZeroPadding2D(3)
/// and ZeroPadding2D((3, 3)) pad 3 on every side.
/// </summary>
public sealed class ZeroPadding2D<T>((int Top, int Bottom) rows, (int Left, int Right) columns, string? name = null)
    : Layer<T>(name, "zero_padding2d") where T : unmanaged, IFloatingPointIeee754<T>
{
    public ZeroPadding2D(int padding = 1, string? name = null) : this((padding, padding), (padding, padding), name) { }
    /// <summary>(rows, columns): that many on top and bottom, and on left and right.</summary>
    public ZeroPadding2D((int Rows, int Columns) padding, string? name = null)
        : this((padding.Rows, padding.Rows), (padding.Columns, padding.Columns), name) { }

    public (int Top, int Bottom) Rows { get; } = rows;
    public (int Left, int Right) Columns { get; } = columns;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.ZeroPad2D(x, Rows, Columns);

    public override Shape OutputShape(Shape inputShape)
    {
        if (inputShape.Rank != 4) throw new ArgumentException($"{Name}: ZeroPadding2D needs [N,H,W,C] input, got {inputShape}");
        return new Shape(inputShape[0], inputShape[1] + Rows.Top + Rows.Bottom, inputShape[2] + Columns.Left + Columns.Right, inputShape[3]);
    }
}

/// <summary>Keras Flatten: [N, ...] -> [N, product of the rest].</summary>
public sealed class Flatten<T>(string? name = null) : Layer<T>(name, "flatten") where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.Flatten(x);
    public override Shape OutputShape(Shape inputShape) => new(inputShape[0], inputShape.SizeOf(1, inputShape.Rank));
}

/// <summary>Output sizes of a 'valid' pooling window.</summary>
static class PoolingShape
{
    public static Shape Valid(string layer, Shape x, (int H, int W) pool, (int H, int W) strides)
    {
        if (x.Rank != 4) throw new ArgumentException($"{layer}: pooling needs [N,H,W,C] input, got {x}");
        if (x[1] < pool.H || x[2] < pool.W) throw new ArgumentException($"{layer}: a {pool.H}x{pool.W} window does not fit a {x[1]}x{x[2]} input");
        return new Shape(x[0], (x[1] - pool.H) / strides.H + 1, (x[2] - pool.W) / strides.W + 1, x[3]);
    }
}
