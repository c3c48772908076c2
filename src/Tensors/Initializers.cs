using System.Numerics;

namespace Engine.Tensors;

/// <summary>Keras' weight initialisers, drawn from a seeded <see cref="Rng"/>.</summary>
public static class Initializers
{
    /// <summary>
    /// Keras' fan-in / fan-out: for [in, out] matrices the two dimensions; for conv kernels
    /// (HWIO) the receptive field size times input / output channels.
    /// </summary>
    public static (int FanIn, int FanOut) Fans(Shape shape)
    {
        if (shape.Rank == 0) return (1, 1);
        if (shape.Rank == 1) return (shape[0], shape[0]);
        if (shape.Rank == 2) return (shape[0], shape[1]);
        int receptive = shape.SizeOf(0, shape.Rank - 2);
        return (shape[-2] * receptive, shape[-1] * receptive);
    }

    /// <summary>glorot_uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)).</summary>
    public static Tensor<T> GlorotUniform<T>(Shape shape, Rng rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (fanIn, fanOut) = Fans(shape);
        double limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        return Uniform<T>(shape, -limit, limit, rng);
    }

    public static Tensor<T> Uniform<T>(Shape shape, double low, double high, Rng rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateChecked(rng.Uniform(low, high));
        return t;
    }

    public static Tensor<T> Normal<T>(Shape shape, double mean, double stddev, Rng rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Empty(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateChecked(mean + stddev * rng.Normal());
        return t;
    }
}
