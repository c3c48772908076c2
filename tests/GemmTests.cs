using System.Numerics;
using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The blocked, threaded GEMM against the triple loop on sizes that hit every tail.</summary>
public class GemmTests
{
    static IEnumerable<TestCaseData> Shapes()
    {
        // m, n, k: row and column tails (not multiples of 12 / 32), k > 1152 (several k-blocks),
        // m > 144 (several m-blocks), sizes large enough to run on both threads, n > 4096, and
        // n >= 1024 with several row panels (A packed rather than read in place).
        int[][] shapes =
        [
            [1, 1, 1], [13, 17, 7], [12, 32, 5], [37, 65, 300], [150, 33, 19], [97, 131, 70],
            [200, 96, 513], [5, 300, 260], [3, 4100, 2], [61, 1, 29], [1, 45, 33], [40, 1030, 270],
            [20, 40, 1300], [14, 1030, 1200],
            // Enough row panels for each member, but more columns than rows: split by columns.
            [100, 700, 1300],
        ];
        foreach (var s in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    yield return new TestCaseData(s[0], s[1], s[2], ta, tb).SetName($"Gemm m{s[0]} n{s[1]} k{s[2]} ta={ta} tb={tb}");
    }

    [TestCaseSource(nameof(Shapes))]
    public void FloatMatchesReferenceAtBothWidths(int m, int n, int k, bool ta, bool tb)
    {
        Check<float, V512<float>>(m, n, k, ta, tb, 1f, 0f, 1e-5);
        Check<float, V256<float>>(m, n, k, ta, tb, 1f, 0f, 1e-5);
    }

    [TestCaseSource(nameof(Shapes))]
    public void DoubleWithAlphaAndBetaMatchesReference(int m, int n, int k, bool ta, bool tb)
    {
        Check<double, V512<double>>(m, n, k, ta, tb, 0.75, 1.0, 1e-12);
        Check<double, V256<double>>(m, n, k, ta, tb, -1.5, 0.5, 1e-12);
    }

    [Test]
    public void PaddedLeadingDimensionsLeaveTheGapsAlone()
    {
        int m = 29, n = 35, k = 41, lda = 50, ldb = 40, ldc = 47;
        var a = TestData.Random<float>(m * lda, 1);
        var b = TestData.Random<float>(k * ldb, 2);
        var original = TestData.Random<float>(m * ldc, 3);
        var c = (float[])original.Clone();
        Gemm.Multiply(false, false, m, n, k, 1f, a, lda, b, ldb, 1f, c, ldc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double exact = original[i * ldc + j], bound = Math.Abs(exact);
                for (int p = 0; p < k; p++)
                {
                    exact += (double)a[i * lda + p] * b[p * ldb + j];
                    bound += Math.Abs((double)a[i * lda + p] * b[p * ldb + j]);
                }
                Assert.That(Math.Abs(c[i * ldc + j] - exact), Is.LessThanOrEqualTo(1e-6 * bound), $"C[{i},{j}]");
            }
            // Columns n..ldc lie outside the matrix and must be untouched.
            for (int j = n; j < ldc; j++) Assert.That(c[i * ldc + j], Is.EqualTo(original[i * ldc + j]), $"gap C[{i},{j}]");
        }
    }

    [TestCase(29, 35, 41, false, false), TestCase(150, 70, 600, true, false), TestCase(13, 4100, 3, false, true), TestCase(40, 64, 576, false, true)]
    public void PrepackedBMatchesReference(int m, int n, int k, bool ta, bool tb)
    {
        int lda = ta ? m : k, ldb = tb ? k : n;
        var a = TestData.Random<double>(m * k, 21);
        var b = TestData.Random<double>(k * n, 22);
        var c0 = TestData.Random<double>(m * n, 23);
        var expected = (double[])c0.Clone();
        Gemm.MultiplyReference(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 1.0, expected, n);
        // Packed once, used twice (a reused buffer must give the same result).
        var packed = Gemm.PackB<double>(tb, k, n, b, ldb);
        foreach (var p in new[] { packed, Gemm.PackB<double>(tb, k, n, b, ldb, reuse: packed) })
        {
            var c = (double[])c0.Clone();
            Gemm.Multiply(ta, m, 0.5, a, lda, p, 1.0, c, n);
            TestData.AssertClose<double>(c, expected, 1e-12, "prepacked");
        }
    }

    [Test]
    public void RejectsBuffersTooShortForTheShape()
    {
        var a = new float[10];
        var b = new float[10];
        var c = new float[10];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 4, 4, 4, 1f, a, 4, b, 4, 0f, c, 4));
        Assert.Throws<ArgumentException>(() => Gemm.PackB<float>(false, 4, 4, b, 4));
        var packed = Gemm.PackB<float>(false, 2, 4, b, 4);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 4, 1f, a, 2, packed, 0f, c, 4));
    }

    /// <summary>
    /// Holds the fast GEMM at width W to the triple loop. The reference runs in double, and
    /// each element's error is measured against the sum of the magnitudes that formed it
    /// (|alpha| sum_k |a_ik b_kj| + |beta c_ij|): the scale rounding acts on, so a sum that
    /// cancels to ~0 is not mistaken for a large relative error, while a wrong index or a
    /// missed tail still shows as an error of order 1.
    /// </summary>
    static void Check<T, W>(int m, int n, int k, bool ta, bool tb, T alpha, T beta, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int lda = ta ? m : k, ldb = tb ? k : n;
        var a = TestData.Random<T>(m * k, 11);
        var b = TestData.Random<T>(k * n, 12);
        var c = TestData.Random<T>(m * n, 13);
        double[] ad = a.Select(double.CreateChecked).ToArray(), bd = b.Select(double.CreateChecked).ToArray();
        double[] expected = c.Select(double.CreateChecked).ToArray();
        double[] magnitude = expected.Select(v => Math.Abs(double.CreateChecked(beta) * v)).ToArray();
        double alphaD = double.CreateChecked(alpha), betaD = double.CreateChecked(beta);
        Gemm.MultiplyReference(ta, tb, m, n, k, alphaD, ad, lda, bd, ldb, betaD, expected, n);
        var absA = ad.Select(Math.Abs).ToArray();
        var absB = bd.Select(Math.Abs).ToArray();
        Gemm.MultiplyReference(ta, tb, m, n, k, Math.Abs(alphaD), absA, lda, absB, ldb, 1.0, magnitude, n);

        Gemm.Multiply<T, W>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, n);
        double worst = 0;
        for (int i = 0; i < c.Length; i++)
            worst = Math.Max(worst, Math.Abs(double.CreateChecked(c[i]) - expected[i]) / Math.Max(magnitude[i], 1e-300));
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance), $"{typeof(T).Name}/{typeof(W).Name}: max error relative to sum|terms| {worst:E3}");
    }
}
