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
        if (outer == 1 && inner >= 4)
        {
            if (V512<T>.IsHardwareAccelerated && inner >= V512<T>.Count) ColumnSumsOnTeam<T, V512<T>>(x, axis, inner, alpha, y);
            else ColumnSumsOnTeam<T, V256<T>>(x, axis, inner, alpha, y);
            return;
        }
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

    /// <summary>
    /// y[c] += alpha * sum_r x[r, c] for x of [rows, columns]: rows split over the team, each
    /// member summing its share into a partial of its own, four column vectors at a time in
    /// registers down chunks of rows (one memory update per chunk, not per row).
    /// </summary>
    static unsafe void ColumnSumsOnTeam<T, W>(ReadOnlySpan<T> x, int rows, int columns, T alpha, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int members = TeamFor.Members();
        var partials = Scratch<T>.Get(members * columns);
        partials.AsSpan(0, members * columns).Clear();
        fixed (T* px = x) fixed (T* pp = partials)
            TeamFor.Run(rows, new ColumnSumBody<T, W>(px, columns, pp), minimumPerMember: Math.Max(64, 32 * 1024 / columns));
        for (int m = 0; m < members; m++) Elementwise.Axpy(alpha, partials.AsSpan(m * columns, columns), y);
    }

    unsafe readonly struct ColumnSumBody<T, W>(T* x, int columns, T* partials) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        public void Execute(int member, int start, int end) =>
            ColumnSums<T, W>(x + (long)start * columns, end - start, columns, partials + (long)member * columns);
    }

    /// <summary>sums[c] += sum over rows of x[r, c] (x: [rows, columns] at a pointer).</summary>
    static unsafe void ColumnSums<T, W>(T* x, int rows, int columns, T* sums) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int n = W.Count, chunk = Math.Max(16, 8 * 1024 / columns);
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int count = Math.Min(chunk, rows - r0);
            T* block = x + (long)r0 * columns;
            int c = 0;
            for (; c <= columns - 4 * n; c += 4 * n)
            {
                W s0 = W.Zero, s1 = W.Zero, s2 = W.Zero, s3 = W.Zero;
                T* p = block + c;
                for (int r = 0; r < count; r++, p += columns)
                {
                    s0 += W.Load(ref *p);
                    s1 += W.Load(ref *(p + n));
                    s2 += W.Load(ref *(p + 2 * n));
                    s3 += W.Load(ref *(p + 3 * n));
                }
                W.Store(W.Load(ref *(sums + c)) + s0, ref *(sums + c));
                W.Store(W.Load(ref *(sums + c + n)) + s1, ref *(sums + c + n));
                W.Store(W.Load(ref *(sums + c + 2 * n)) + s2, ref *(sums + c + 2 * n));
                W.Store(W.Load(ref *(sums + c + 3 * n)) + s3, ref *(sums + c + 3 * n));
            }
            for (; c <= columns - n; c += n)
            {
                W s0 = W.Zero;
                T* p = block + c;
                for (int r = 0; r < count; r++, p += columns) s0 += W.Load(ref *p);
                W.Store(W.Load(ref *(sums + c)) + s0, ref *(sums + c));
            }
            for (; c < columns; c++)
            {
                T s = T.Zero;
                for (int r = 0; r < count; r++) s += block[(long)r * columns + c];
                sums[c] += s;
            }
        }
    }

    static class Scratch<T> where T : unmanaged
    {
        [ThreadStatic] static T[]? _partials;
        public static T[] Get(int length) => ThreadScratch.Get(ref _partials, length);
    }

    static void CheckAxis(int xLength, int outer, int axis, int inner, int yLength)
    {
        if ((long)outer * axis * inner != xLength || (long)outer * inner != yLength)
            throw new ArgumentException($"reduction view [{outer},{axis},{inner}] does not fit lengths {xLength} -> {yLength}");
    }
}
