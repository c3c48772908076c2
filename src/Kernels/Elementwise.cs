using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>y = f(x), lane-wise. The scalar form is the reference the vector form is held to.</summary>
public interface IUnaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract T Apply(T x);
    static abstract W Apply<W>(W x) where W : struct, ISimd<W, T>;
}

/// <summary>y = f(a, b), lane-wise.</summary>
public interface IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract T Apply(T a, T b);
    static abstract W Apply<W>(W a, W b) where W : struct, ISimd<W, T>;
}

public readonly struct AddOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W a, W b) where W : struct, ISimd<W, T> => a + b;
}

public readonly struct SubtractOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W a, W b) where W : struct, ISimd<W, T> => a - b;
}

/// <summary>b - a: lets a repeated left operand stay the second argument.</summary>
public readonly struct ReverseSubtractOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => b - a;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W a, W b) where W : struct, ISimd<W, T> => b - a;
}

public readonly struct MultiplyOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W a, W b) where W : struct, ISimd<W, T> => a * b;
}

/// <summary>
/// Element-wise kernels on spans. Every public entry point picks 512-bit vectors where
/// accelerated and 256-bit otherwise; the width-generic forms are public so tests can hold
/// both widths to the scalar references on odd lengths.
/// </summary>
public static class Elementwise
{
    /// <summary>y[i] = TOp(x[i]).</summary>
    public static void Map<T, TOp>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IUnaryOp<T>
    {
        if (V512<T>.IsHardwareAccelerated) Map<T, V512<T>, TOp>(x, y); else Map<T, V256<T>, TOp>(x, y);
    }

    public static void Map<T, W, TOp>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TOp : IUnaryOp<T>
    {
        CheckSameLength(x.Length, y.Length);
        ref T xs = ref MemoryMarshal.GetReference(x);
        ref T ys = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        for (; i <= n - W.Count; i += W.Count)
            W.Store(TOp.Apply(W.Load(ref Unsafe.Add(ref xs, i))), ref Unsafe.Add(ref ys, i));
        for (; i < n; i++) Unsafe.Add(ref ys, i) = TOp.Apply(Unsafe.Add(ref xs, i));
    }

    public static void MapReference<T, TOp>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IUnaryOp<T>
    {
        CheckSameLength(x.Length, y.Length);
        for (int i = 0; i < x.Length; i++) y[i] = TOp.Apply(x[i]);
    }

    /// <summary>
    /// y = TOp(a, b) where b repeats along a: b.Length divides a.Length, and a is read as
    /// [a.Length / b.Length, b.Length] rows (b.Length == a.Length is plain element-wise;
    /// b.Length == 1 is a scalar). This is the bias broadcast of NHWC: [N,H,W,C] with [C].
    /// </summary>
    public static void Binary<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IBinaryOp<T>
    {
        if (V512<T>.IsHardwareAccelerated) Binary<T, V512<T>, TOp>(a, b, y); else Binary<T, V256<T>, TOp>(a, b, y);
    }

    public static void Binary<T, W, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TOp : IBinaryOp<T>
    {
        CheckRepeats(a.Length, b.Length);
        CheckSameLength(a.Length, y.Length);
        ref T As = ref MemoryMarshal.GetReference(a);
        ref T Bs = ref MemoryMarshal.GetReference(b);
        ref T Ys = ref MemoryMarshal.GetReference(y);
        int n = a.Length;
        if (b.Length == 1)
        {
            T s = b[0];
            W sv = W.Broadcast(s);
            int i = 0;
            for (; i <= n - W.Count; i += W.Count)
                W.Store(TOp.Apply(W.Load(ref Unsafe.Add(ref As, i)), sv), ref Unsafe.Add(ref Ys, i));
            for (; i < n; i++) Unsafe.Add(ref Ys, i) = TOp.Apply(Unsafe.Add(ref As, i), s);
            return;
        }
        int len = b.Length;
        for (int row = 0; row < n; row += len)
        {
            ref T ar = ref Unsafe.Add(ref As, row);
            ref T yr = ref Unsafe.Add(ref Ys, row);
            int i = 0;
            for (; i <= len - W.Count; i += W.Count)
                W.Store(TOp.Apply(W.Load(ref Unsafe.Add(ref ar, i)), W.Load(ref Unsafe.Add(ref Bs, i))), ref Unsafe.Add(ref yr, i));
            for (; i < len; i++) Unsafe.Add(ref yr, i) = TOp.Apply(Unsafe.Add(ref ar, i), Unsafe.Add(ref Bs, i));
        }
    }

    public static void BinaryReference<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IBinaryOp<T>
    {
        CheckRepeats(a.Length, b.Length);
        CheckSameLength(a.Length, y.Length);
        for (int i = 0; i < a.Length; i++) y[i] = TOp.Apply(a[i], b[i % b.Length]);
    }

    /// <summary>
    /// acc[i] += TOp(a[i], b[i mod b.Length]): the shape of every backward rule that feeds a
    /// gradient (dX += dY * f'(Y), dA += dY * B).
    /// </summary>
    public static void BinaryAccumulate<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IBinaryOp<T>
    {
        if (V512<T>.IsHardwareAccelerated) BinaryAccumulate<T, V512<T>, TOp>(a, b, acc); else BinaryAccumulate<T, V256<T>, TOp>(a, b, acc);
    }

    public static void BinaryAccumulate<T, W, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TOp : IBinaryOp<T>
    {
        CheckRepeats(a.Length, b.Length);
        CheckSameLength(a.Length, acc.Length);
        ref T As = ref MemoryMarshal.GetReference(a);
        ref T Bs = ref MemoryMarshal.GetReference(b);
        ref T Cs = ref MemoryMarshal.GetReference(acc);
        int n = a.Length, len = b.Length;
        if (len == 1)
        {
            W sv = W.Broadcast(b[0]);
            int i = 0;
            for (; i <= n - W.Count; i += W.Count)
            {
                ref T c = ref Unsafe.Add(ref Cs, i);
                W.Store(W.Load(ref c) + TOp.Apply(W.Load(ref Unsafe.Add(ref As, i)), sv), ref c);
            }
            for (; i < n; i++) Unsafe.Add(ref Cs, i) += TOp.Apply(Unsafe.Add(ref As, i), b[0]);
            return;
        }
        for (int row = 0; row < n; row += len)
        {
            ref T ar = ref Unsafe.Add(ref As, row);
            ref T cr = ref Unsafe.Add(ref Cs, row);
            int i = 0;
            for (; i <= len - W.Count; i += W.Count)
            {
                ref T c = ref Unsafe.Add(ref cr, i);
                W.Store(W.Load(ref c) + TOp.Apply(W.Load(ref Unsafe.Add(ref ar, i)), W.Load(ref Unsafe.Add(ref Bs, i))), ref c);
            }
            for (; i < len; i++) Unsafe.Add(ref cr, i) += TOp.Apply(Unsafe.Add(ref ar, i), Unsafe.Add(ref Bs, i));
        }
    }

    public static void BinaryAccumulateReference<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IBinaryOp<T>
    {
        CheckRepeats(a.Length, b.Length);
        CheckSameLength(a.Length, acc.Length);
        for (int i = 0; i < a.Length; i++) acc[i] += TOp.Apply(a[i], b[i % b.Length]);
    }

    /// <summary>y += alpha * x.</summary>
    public static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Axpy<T, V512<T>>(alpha, x, y); else Axpy<T, V256<T>>(alpha, x, y);
    }

    public static void Axpy<T, W>(T alpha, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        CheckSameLength(x.Length, y.Length);
        ref T xs = ref MemoryMarshal.GetReference(x);
        ref T ys = ref MemoryMarshal.GetReference(y);
        W av = W.Broadcast(alpha);
        int n = x.Length, i = 0;
        for (; i <= n - W.Count; i += W.Count)
        {
            ref T yi = ref Unsafe.Add(ref ys, i);
            W.Store(W.MultiplyAdd(av, W.Load(ref Unsafe.Add(ref xs, i)), W.Load(ref yi)), ref yi);
        }
        for (; i < n; i++) Unsafe.Add(ref ys, i) += alpha * Unsafe.Add(ref xs, i);
    }

    public static void AxpyReference<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(x.Length, y.Length);
        for (int i = 0; i < x.Length; i++) y[i] += alpha * x[i];
    }

    /// <summary>
    /// y += alpha * x, split over the thread team when long enough to pay for waking it (whole
    /// activations and gradients are memory-bound passes that one core cannot saturate).
    /// </summary>
    public static unsafe void AxpyOnTeam<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(x.Length, y.Length);
        fixed (T* px = x) fixed (T* py = y)
            TeamFor.Run(x.Length, new AxpyBody<T>(alpha, px, py), minimumPerMember: ParallelGrain);
    }

    /// <summary>y[i] = value for every i, split over the team when long enough.</summary>
    public static unsafe void FillOnTeam<T>(Span<T> y, T value) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* py = y)
            TeamFor.Run(y.Length, new FillBody<T>(value, py), minimumPerMember: ParallelGrain);
    }

    /// <summary>destination = source, split over the team when long enough.</summary>
    public static unsafe void CopyOnTeam<T>(ReadOnlySpan<T> source, Span<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSameLength(source.Length, destination.Length);
        fixed (T* ps = source) fixed (T* pd = destination)
            TeamFor.Run(source.Length, new CopyBody<T>(ps, pd), minimumPerMember: ParallelGrain);
    }

    /// <summary>
    /// y (+)= TOp(a, b) element-wise (a, b, y of one length), split over the team when long
    /// enough: the backward rules of activations, written or added as the gradient's first or
    /// later contribution.
    /// </summary>
    public static unsafe void BinaryOnTeam<T, TOp>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> y, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IBinaryOp<T>
    {
        CheckSameLength(a.Length, b.Length);
        CheckSameLength(a.Length, y.Length);
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* py = y)
            TeamFor.Run(a.Length, new BinaryBody<T, TOp>(pa, pb, py, accumulate), minimumPerMember: ParallelGrain);
    }

    /// <summary>Elements per team member below which a pass stays on one core (~128 KB of floats).</summary>
    internal const int ParallelGrain = 32 * 1024;

    unsafe readonly struct AxpyBody<T>(T alpha, T* x, T* y) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end) =>
            Axpy(alpha, new ReadOnlySpan<T>(x + start, end - start), new Span<T>(y + start, end - start));
    }

    unsafe readonly struct CopyBody<T>(T* source, T* destination) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end) =>
            new ReadOnlySpan<T>(source + start, end - start).CopyTo(new Span<T>(destination + start, end - start));
    }

    unsafe readonly struct BinaryBody<T, TOp>(T* a, T* b, T* y, bool accumulate) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T> where TOp : IBinaryOp<T>
    {
        public void Execute(int member, int start, int end)
        {
            int n = end - start;
            var sa = new ReadOnlySpan<T>(a + start, n);
            var sb = new ReadOnlySpan<T>(b + start, n);
            var sy = new Span<T>(y + start, n);
            if (accumulate) BinaryAccumulate<T, TOp>(sa, sb, sy);
            else Binary<T, TOp>(sa, sb, sy);
        }
    }

    unsafe readonly struct FillBody<T>(T value, T* y) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end) => new Span<T>(y + start, end - start).Fill(value);
    }

    /// <summary>y = alpha * y.</summary>
    public static void Scale<T>(T alpha, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Scale<T, V512<T>>(alpha, y); else Scale<T, V256<T>>(alpha, y);
    }

    public static void Scale<T, W>(T alpha, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        ref T ys = ref MemoryMarshal.GetReference(y);
        W av = W.Broadcast(alpha);
        int n = y.Length, i = 0;
        for (; i <= n - W.Count; i += W.Count)
        {
            ref T yi = ref Unsafe.Add(ref ys, i);
            W.Store(W.Load(ref yi) * av, ref yi);
        }
        for (; i < n; i++) Unsafe.Add(ref ys, i) *= alpha;
    }

    public static void ScaleReference<T>(T alpha, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < y.Length; i++) y[i] *= alpha;
    }

    internal static void CheckSameLength(int a, int b)
    {
        if (a != b) throw new ArgumentException($"length mismatch: {a} vs {b}");
    }

    internal static void CheckRepeats(int a, int b)
    {
        if (b == 0 ? a != 0 : a % b != 0) throw new ArgumentException($"a broadcast operand of length {b} does not repeat evenly over {a}");
    }
}
