using System.Numerics;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>Seeded test inputs and the comparison every kernel test uses.</summary>
static class TestData
{
    public static T[] Random<T>(int n, ulong seed, double low = -1, double high = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var a = new T[n];
        for (int i = 0; i < n; i++) a[i] = T.CreateChecked(rng.Uniform(low, high));
        return a;
    }

    /// <summary>Values at least <paramref name="gap"/> away from zero (ReLU's kink), either sign.</summary>
    public static T[] AwayFromZero<T>(int n, ulong seed, double gap = 0.05) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var a = new T[n];
        for (int i = 0; i < n; i++)
        {
            double magnitude = gap + rng.NextDouble();
            a[i] = T.CreateChecked(rng.NextDouble() < 0.5 ? -magnitude : magnitude);
        }
        return a;
    }

    public static Tensor<double> RandomTensor(ulong seed, params int[] shape) =>
        Tensor<double>.FromArray(Random<double>(new Shape(shape).Size, seed), new Shape(shape));

    /// <summary>
    /// Largest |actual - expected| / max(|expected|, 1e-3 * max|expected|, tiny): relative per
    /// element, with elements near zero judged against the array's scale.
    /// </summary>
    public static double MaxRelativeError<T>(ReadOnlySpan<T> actual, ReadOnlySpan<T> expected) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), "lengths differ");
        double scale = 0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(double.CreateChecked(e)));
        double floor = Math.Max(1e-3 * scale, 1e-30), worst = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = double.CreateChecked(actual[i]), e = double.CreateChecked(expected[i]);
            double err = Math.Abs(a - e) / Math.Max(Math.Abs(e), floor);
            if (double.IsNaN(err)) return double.PositiveInfinity;
            worst = Math.Max(worst, err);
        }
        return worst;
    }

    public static void AssertClose<T>(ReadOnlySpan<T> actual, ReadOnlySpan<T> expected, double tolerance, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double err = MaxRelativeError(actual, expected);
        Assert.That(err, Is.LessThanOrEqualTo(tolerance), $"{what}: max relative error {err:E3}");
    }

    /// <summary>
    /// Largest |actual - expected| at most <paramref name="bound"/>, absolute: the bound for a
    /// float kernel against a float64 reference, where relative error means nothing for sums
    /// that cancel to near zero. A NaN anywhere fails.
    /// </summary>
    public static void AssertWithin(float[] actual, double[] expected, double bound, string what)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = double.IsNaN(actual[i]) ? double.NaN : Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        Assert.That(worst, Is.LessThanOrEqualTo(bound), $"{what}: largest difference");
    }

    /// <summary>
    /// Lets the GC finalize tensors earlier code dropped without disposing (their storage then
    /// returns its block to the pool), so a test counting the pool's blocks sees only its own.
    /// </summary>
    public static void SettleDroppedTensors()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
