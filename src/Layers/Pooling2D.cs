using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras MaxPooling2D ('valid'): x [N,H,W,C] -> [N,H',W',C]. Strides default to the pool
/// size, as in Keras.
/// </summary>
public sealed class MaxPooling2D<T>((int H, int W) poolSize, (int H, int W)? strides = null, string? name = null)
    : Layer<T>(name ?? "max_pooling2d") where T : unmanaged, IFloatingPointIeee754<T>
{
    public MaxPooling2D(int poolSize, int? strides = null, string? name = null)
        : this((poolSize, poolSize), strides is int s ? (s, s) : null, name) { }

    public (int H, int W) PoolSize { get; } = poolSize;
    public (int H, int W) Strides { get; } = strides ?? poolSize;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.MaxPool2D(x, PoolSize, Strides);
}

/// <summary>Keras AveragePooling2D ('valid'): x [N,H,W,C] -> [N,H',W',C]; strides default to the pool size.</summary>
public sealed class AveragePooling2D<T>((int H, int W) poolSize, (int H, int W)? strides = null, string? name = null)
    : Layer<T>(name ?? "average_pooling2d") where T : unmanaged, IFloatingPointIeee754<T>
{
    public AveragePooling2D(int poolSize, int? strides = null, string? name = null)
        : this((poolSize, poolSize), strides is int s ? (s, s) : null, name) { }

    public (int H, int W) PoolSize { get; } = poolSize;
    public (int H, int W) Strides { get; } = strides ?? poolSize;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.AveragePool2D(x, PoolSize, Strides);
}

/// <summary>
/// Keras ZeroPadding2D: x [N,H,W,C] -> [N, H+top+bottom, W+left+right, C]. ZeroPadding2D(3)
/// and ZeroPadding2D((3, 3)) pad 3 on every side.
/// </summary>
public sealed class ZeroPadding2D<T>((int Top, int Bottom) rows, (int Left, int Right) columns, string? name = null)
    : Layer<T>(name ?? "zero_padding2d") where T : unmanaged, IFloatingPointIeee754<T>
{
    public ZeroPadding2D(int padding = 1, string? name = null) : this((padding, padding), (padding, padding), name) { }
    /// <summary>(rows, columns): that many on top and bottom, and on left and right.</summary>
    public ZeroPadding2D((int Rows, int Columns) padding, string? name = null)
        : this((padding.Rows, padding.Rows), (padding.Columns, padding.Columns), name) { }

    public (int Top, int Bottom) Rows { get; } = rows;
    public (int Left, int Right) Columns { get; } = columns;
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.ZeroPad2D(x, Rows, Columns);
}

/// <summary>Keras Flatten: [N, ...] -> [N, product of the rest].</summary>
public sealed class Flatten<T>(string? name = null) : Layer<T>(name ?? "flatten") where T : unmanaged, IFloatingPointIeee754<T>
{
    protected override void Build(Shape inputShape) { }
    protected override Variable<T> Forward(Variable<T> x) => Ops.Flatten(x);
}
