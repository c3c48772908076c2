using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// Row-wise softmax over the last axis and the cross-entropy fused with it. Rows are
/// shifted by their maximum before exponentiating, so large logits never overflow.
/// </summary>
public static class Softmax
{
    /// <summary>y[r, :] = softmax(x[r, :]) for x viewed as [rows, classes].</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int classes, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Forward<T, V512<T>>(x, classes, y); else Forward<T, V256<T>>(x, classes, y);
    }

    public static void Forward<T, W>(ReadOnlySpan<T> x, int classes, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        CheckRows(x.Length, classes, y.Length);
        for (int r = 0; r < x.Length; r += classes)
        {
            ref T xr = ref Unsafe.AsRef(in x[r]);
            ref T yr = ref y[r];
            T max = RowMax<T, W>(ref xr, classes);
            T sum = ExpShifted<T, W>(ref xr, max, ref yr, classes);
            Elementwise.Scale(T.One / sum, MemoryMarshal.CreateSpan(ref yr, classes));
        }
    }

    public static void ForwardReference<T>(ReadOnlySpan<T> x, int classes, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckRows(x.Length, classes, y.Length);
        for (int r = 0; r < x.Length; r += classes)
        {
            T max = T.NegativeInfinity;
            for (int j = 0; j < classes; j++) max = T.Max(max, x[r + j]);
            T sum = T.Zero;
            for (int j = 0; j < classes; j++) sum += y[r + j] = T.Exp(x[r + j] - max);
            for (int j = 0; j < classes; j++) y[r + j] /= sum;
        }
    }

    /// <summary>dx[r, :] += y[r, :] * (dy[r, :] - dot(dy[r, :], y[r, :])): the softmax Jacobian applied to dy.</summary>
    public static void BackwardAccumulate<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, int classes, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckRows(y.Length, classes, dx.Length);
        CheckRows(dy.Length, classes, dx.Length);
        for (int r = 0; r < y.Length; r += classes)
        {
            T dot = T.Zero;
            for (int j = 0; j < classes; j++) dot += dy[r + j] * y[r + j];
            for (int j = 0; j < classes; j++) dx[r + j] += y[r + j] * (dy[r + j] - dot);
        }
    }

    /// <summary>
    /// Cross-entropy of softmax(logits) against target distributions (one-hot or soft), both
    /// [rows, classes]. Writes the probabilities (the backward needs them) and returns the
    /// summed loss: sum_r -sum_j t[r,j] * log softmax(z)[r,j], computed as
    /// t * (z - max - log sum exp(z - max)) so no log of a rounded-to-zero probability is taken.
    /// </summary>
    public static T CrossEntropyForward<T>(ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, int classes, Span<T> probabilities)
        where T : unmanaged, IFloatingPointIeee754<T>
        => V512<T>.IsHardwareAccelerated
            ? CrossEntropyForward<T, V512<T>>(logits, targets, classes, probabilities)
            : CrossEntropyForward<T, V256<T>>(logits, targets, classes, probabilities);

    public static T CrossEntropyForward<T, W>(ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, int classes, Span<T> probabilities)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        CheckRows(logits.Length, classes, probabilities.Length);
        CheckRows(targets.Length, classes, probabilities.Length);
        T loss = T.Zero;
        for (int r = 0; r < logits.Length; r += classes)
        {
            ref T zr = ref Unsafe.AsRef(in logits[r]);
            ref T pr = ref probabilities[r];
            T max = RowMax<T, W>(ref zr, classes);
            T sum = ExpShifted<T, W>(ref zr, max, ref pr, classes);
            T logSum = T.Log(sum);
            T inv = T.One / sum;
            for (int j = 0; j < classes; j++)
            {
                T t = targets[r + j];
                if (t != T.Zero) loss -= t * (logits[r + j] - max - logSum);
                probabilities[r + j] *= inv;
            }
        }
        return loss;
    }

    public static T CrossEntropyForwardReference<T>(ReadOnlySpan<T> logits, ReadOnlySpan<T> targets, int classes, Span<T> probabilities)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForwardReference(logits, classes, probabilities);
        T loss = T.Zero;
        for (int r = 0; r < logits.Length; r += classes)
        {
            T max = T.NegativeInfinity, sum = T.Zero;
            for (int j = 0; j < classes; j++) max = T.Max(max, logits[r + j]);
            for (int j = 0; j < classes; j++) sum += T.Exp(logits[r + j] - max);
            for (int j = 0; j < classes; j++) loss -= targets[r + j] * (logits[r + j] - max - T.Log(sum));
        }
        return loss;
    }

    /// <summary>
    /// dz[r, j] += scale * (p[r, j] * sum_k t[r, k] - t[r, j]): the gradient of the summed
    /// cross-entropy times scale (scale = upstream / rows for a mean).
    /// </summary>
    public static void CrossEntropyBackwardAccumulate<T>(ReadOnlySpan<T> probabilities, ReadOnlySpan<T> targets, int classes, T scale, Span<T> dLogits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckRows(probabilities.Length, classes, dLogits.Length);
        CheckRows(targets.Length, classes, dLogits.Length);
        for (int r = 0; r < probabilities.Length; r += classes)
        {
            T mass = T.Zero;
            for (int j = 0; j < classes; j++) mass += targets[r + j];
            for (int j = 0; j < classes; j++)
                dLogits[r + j] += scale * (probabilities[r + j] * mass - targets[r + j]);
        }
    }

    static T RowMax<T, W>(ref T x, int n) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int i = 0;
        T max = T.NegativeInfinity;
        if (n >= W.Count)
        {
            W m = W.Load(ref x);
            for (i = W.Count; i <= n - W.Count; i += W.Count) m = W.Max(m, W.Load(ref Unsafe.Add(ref x, i)));
            max = W.MaxAcross(m);
        }
        for (; i < n; i++) max = T.Max(max, Unsafe.Add(ref x, i));
        return max;
    }

    static T ExpShifted<T, W>(ref T x, T shift, ref T y, int n) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int i = 0;
        W s = W.Zero, sh = W.Broadcast(shift);
        for (; i <= n - W.Count; i += W.Count)
        {
            W e = W.Exp(W.Load(ref Unsafe.Add(ref x, i)) - sh);
            W.Store(e, ref Unsafe.Add(ref y, i));
            s += e;
        }
        T sum = W.Sum(s);
        for (; i < n; i++) sum += Unsafe.Add(ref y, i) = T.Exp(Unsafe.Add(ref x, i) - shift);
        return sum;
    }

    /// <summary>
    /// The rows of a [rows, classes] buffer of <paramref name="length"/> values that must match
    /// another of <paramref name="other"/> (shared with the CUDA backend). Throws
    /// <see cref="ArgumentException"/> unless classes is positive and divides length, and the lengths agree.
    /// </summary>
    public static int CheckRows(int length, int classes, int other)
    {
        if (classes <= 0 || length % classes != 0 || length != other)
            throw new ArgumentException($"softmax rows: length {length} with {classes} classes vs {other}");
        return length / classes;
    }
}
