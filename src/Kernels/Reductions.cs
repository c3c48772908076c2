using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>Sums over whole spans and over one axis of a [outer, axis, inner] view.</summary>
public static class Reductions
{
    /// <summary>Sum of all elements, with several vector accumulators to shorten the add chain.</summary>
    public static T Sum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => V512<T>.IsHardwareAccelerated ? Sum<T, V512<T>>(x) : Sum<T, V256<T>>(x);

    public static T Sum<T, W>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        ref T xs = ref MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        W s0 = W.Zero, s1 = W.Zero, s2 = W.Zero, s3 = W.Zero;
        for (; i <= n - 4 * W.Count; i += 4 * W.Count)
        {
            s0 += W.Load(ref Unsafe.Add(ref xs, i));
            s1 += W.Load(ref Unsafe.Add(ref xs, i + W.Count));
            s2 += W.Load(ref Unsafe.Add(ref xs, i + 2 * W.Count));
            s3 += W.Load(ref Unsafe.Add(ref xs, i + 3 * W.Count));
        }
        for (; i <= n - W.Count; i += W.Count) s0 += W.Load(ref Unsafe.Add(ref xs, i));
        T sum = W.Sum((s0 + s1) + (s2 + s3));
        for (; i < n; i++) sum += Unsafe.Add(ref xs, i);
        return sum;
    }

    public static T SumReference<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T sum = T.Zero;
        foreach (T v in x) sum += v;
        return sum;
    }

    /// <summary>
    /// y[o, i] += alpha * sum_a x[o, a, i] for x viewed as [outer, axis, inner]. With outer = 1
    /// and inner = C this is the bias gradient of NHWC (a sum over N*H*W rows).
    /// </summary>
    public static void SumAxisAccumulate<T>(ReadOnlySpan<T> x, int outer, int axis, int inner, T alpha, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckAxis(x.Length, outer, axis, inner, y.Length);
        for (int o = 0; o < outer; o++)
        {
            var yo = y.Slice(o * inner, inner);
            for (int a = 0; a < axis; a++)
                Elementwise.Axpy(alpha, x.Slice((o * axis + a) * inner, inner), yo);
        }
    }

    public static void SumAxisAccumulateReference<T>(ReadOnlySpan<T> x, int outer, int axis, int inner, T alpha, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckAxis(x.Length, outer, axis, inner, y.Length);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                T s = T.Zero;
                for (int a = 0; a < axis; a++) s += x[(o * axis + a) * inner + i];
                y[o * inner + i] += alpha * s;
            }
    }

    /// <summary>
    /// dx[o, a, i] += alpha * dy[o, i]: the backward of <see cref="SumAxisAccumulate{T}"/>.
    /// </summary>
    public static void BroadcastAxisAccumulate<T>(ReadOnlySpan<T> dy, int outer, int axis, int inner, T alpha, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckAxis(dx.Length, outer, axis, inner, dy.Length);
        for (int o = 0; o < outer; o++)
        {
            var dyo = dy.Slice(o * inner, inner);
            for (int a = 0; a < axis; a++)
                Elementwise.Axpy(alpha, dyo, dx.Slice((o * axis + a) * inner, inner));
        }
    }

    static void CheckAxis(int xLength, int outer, int axis, int inner, int yLength)
    {
        if ((long)outer * axis * inner != xLength || (long)outer * inner != yLength)
            throw new ArgumentException($"reduction view [{outer},{axis},{inner}] does not fit lengths {xLength} -> {yLength}");
    }
}
