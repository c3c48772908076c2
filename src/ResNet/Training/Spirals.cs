using Engine.Tensors;

namespace Engine.ResNet.Training;

/// <summary>
/// Interleaved 2-D spirals, one arm per class (the CS231n toy set): not linearly separable,
/// so a network must learn a non-linear boundary to get past ~1/classes accuracy.
/// </summary>
public static class Spirals
{
    /// <summary>Points x [n, 2] and one-hot labels y [n, classes], rows shuffled.</summary>
    public static (Tensor<float> X, Tensor<float> Y) Generate(int pointsPerClass, int classes, ulong seed, double noise = 0.2)
    {
        var rng = new Rng(seed);
        int n = pointsPerClass * classes;
        var order = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(order);
        var x = Tensor<float>.Empty(new Shape(n, 2));
        var y = Tensor<float>.Zeros(new Shape(n, classes));
        for (int c = 0; c < classes; c++)
            for (int i = 0; i < pointsPerClass; i++)
            {
                double r = (double)i / pointsPerClass;
                double theta = c * 4.0 + 4.0 * r + noise * rng.Normal();
                int row = order[c * pointsPerClass + i];
                x[row, 0] = (float)(r * Math.Sin(theta));
                x[row, 1] = (float)(r * Math.Cos(theta));
                y[row, c] = 1;
            }
        return (x, y);
    }
}
