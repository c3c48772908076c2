using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// Batch normalisation over the last axis of [rows, C] data (NHWC flattened: rows = N*H*W),
/// Keras semantics. Training normalises with the batch mean and biased variance and moves
/// moving = momentum * moving + (1 - momentum) * batch; inference uses the moving statistics.
/// Every pass runs row by row, vector-wide across channels.
/// </summary>
public static class BatchNorm
{
    /// <summary>
    /// Training forward: y = gamma * (x - mean) / sqrt(var + eps) + beta with batch statistics.
    /// Writes mean and 1/sqrt(var + eps) (the backward needs them) and updates the moving
    /// statistics in place.
    /// </summary>
    public static void ForwardTraining<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        T momentum, T epsilon, Span<T> movingMean, Span<T> movingVariance, Span<T> mean, Span<T> invStd, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Rows(x.Length, channels, y.Length);
        T inverseRows = T.One / T.CreateChecked(rows);
        mean.Clear();
        ChannelSums(x, x, mean, channels, ChannelSum.Plain, mean);
        for (int c = 0; c < channels; c++) mean[c] *= inverseRows;
        Span<T> variance = invStd; // computed in place: variance first, then 1/sqrt(variance + eps)
        variance.Clear();
        ChannelSums(x, x, mean, channels, ChannelSum.CenteredSquares, variance);
        for (int c = 0; c < channels; c++)
        {
            T v = variance[c] * inverseRows;
            movingMean[c] = momentum * movingMean[c] + (T.One - momentum) * mean[c];
            movingVariance[c] = momentum * movingVariance[c] + (T.One - momentum) * v;
            invStd[c] = T.One / T.Sqrt(v + epsilon);
        }
        Normalize(x, channels, gamma, beta, mean, invStd, y);
    }

    /// <summary>Inference forward: y = gamma * (x - movingMean) / sqrt(movingVariance + eps) + beta.</summary>
    public static void ForwardInference<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        ReadOnlySpan<T> movingMean, ReadOnlySpan<T> movingVariance, T epsilon, Span<T> invStd, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Rows(x.Length, channels, y.Length);
        for (int c = 0; c < channels; c++) invStd[c] = T.One / T.Sqrt(movingVariance[c] + epsilon);
        Normalize(x, channels, gamma, beta, movingMean, invStd, y);
    }

    static void Normalize<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, ReadOnlySpan<T> mean, ReadOnlySpan<T> invStd, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // y = x * scale + shift with scale = gamma / std and shift = beta - mean * scale.
        Span<T> scale = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        Span<T> shift = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        for (int c = 0; c < channels; c++)
        {
            scale[c] = gamma[c] * invStd[c];
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        Span<T> zero = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        zero.Clear();
        ParallelAffine(x, x, channels, scale, zero, shift, y, accumulate: false);
    }

    /// <summary>
    /// Backward, accumulating into dx, dGamma and dBeta (any may be empty to skip it). mean and
    /// invStd are what the forward pass used: batch statistics in training, moving ones in
    /// inference. In training the batch statistics depend on x, which adds the two
    /// mean-subtracting terms: dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)).
    /// </summary>
    public static void Backward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int channels, ReadOnlySpan<T> gamma,
        ReadOnlySpan<T> mean, ReadOnlySpan<T> invStd, bool training, Span<T> dx, Span<T> dGamma, Span<T> dBeta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Rows(x.Length, channels, dy.Length);
        T inverseRows = T.One / T.CreateChecked(rows);
        Span<T> sumDy = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        Span<T> sumDyCentered = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        sumDy.Clear();
        sumDyCentered.Clear();
        ChannelSums(dy, dy, mean, channels, ChannelSum.Plain, sumDy);
        ChannelSums(dy, x, mean, channels, ChannelSum.CenteredProducts, sumDyCentered);
        for (int c = 0; c < channels; c++)
        {
            if (!dGamma.IsEmpty) dGamma[c] += sumDyCentered[c] * invStd[c];
            if (!dBeta.IsEmpty) dBeta[c] += sumDy[c];
        }
        if (dx.IsEmpty) return;
        // dx = a * dy + b * x + e per channel.
        Span<T> a = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        Span<T> b = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        Span<T> e = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        for (int c = 0; c < channels; c++)
        {
            T s = invStd[c];
            a[c] = gamma[c] * s;
            if (training)
            {
                b[c] = -gamma[c] * s * s * s * sumDyCentered[c] * inverseRows;
                e[c] = -gamma[c] * s * sumDy[c] * inverseRows - b[c] * mean[c];
            }
            else b[c] = e[c] = T.Zero;
        }
        ParallelAffine(dy, x, channels, a, b, e, dx, accumulate: true);
    }

    enum ChannelSum { Plain, CenteredSquares, CenteredProducts }

    /// <summary>
    /// result[c] += sum over rows of p (Plain), (p - mean)^2 (CenteredSquares) or
    /// p * (q - mean) (CenteredProducts). Rows are split over the team; each member sums its
    /// share into its own partial row, and the partials are added up afterwards.
    /// </summary>
    static unsafe void ChannelSums<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> mean, int channels, ChannelSum kind, Span<T> result)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = p.Length / channels, members = TeamFor.Members();
        var partials = Scratch<T>.Get(members * channels);
        partials.AsSpan(0, members * channels).Clear();
        fixed (T* pp = p) fixed (T* pq = q) fixed (T* pm = mean) fixed (T* pr = partials)
            TeamFor.Run(rows, new ChannelSumBody<T>(pp, pq, pm, channels, kind, pr), minimumPerMember: 256);
        for (int m = 0; m < members; m++)
            Elementwise.Axpy(T.One, partials.AsSpan(m * channels, channels), result);
    }

    unsafe readonly struct ChannelSumBody<T>(T* p, T* q, T* mean, int channels, ChannelSum kind, T* partials) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int n = (end - start) * channels;
            var ps = new ReadOnlySpan<T>(p + (long)start * channels, n);
            var own = new Span<T>(partials + (long)member * channels, channels);
            var m = new ReadOnlySpan<T>(mean, channels);
            switch (kind)
            {
                case ChannelSum.Plain: Reductions.SumAxisAccumulate(ps, 1, end - start, channels, T.One, own); break;
                case ChannelSum.CenteredSquares: CenteredProducts(ps, ps, m, channels, centerFirst: true, own); break;
                default: CenteredProducts(ps, new ReadOnlySpan<T>(q + (long)start * channels, n), m, channels, centerFirst: false, own); break;
            }
        }
    }

    /// <summary>output (+)= a * p + b * q + e per channel, rows split over the team.</summary>
    static unsafe void ParallelAffine<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, int channels, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> e, Span<T> output, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pp = p) fixed (T* pq = q) fixed (T* pa = a) fixed (T* pb = b) fixed (T* pe = e) fixed (T* po = output)
            TeamFor.Run(p.Length / channels, new AffineBody<T>(pp, pq, channels, pa, pb, pe, po, accumulate), minimumPerMember: 256);
    }

    unsafe readonly struct AffineBody<T>(T* p, T* q, int channels, T* a, T* b, T* e, T* output, bool accumulate) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int n = (end - start) * channels;
            long offset = (long)start * channels;
            var o = new Span<T>(output + offset, n);
            if (!accumulate) o.Clear();
            AffineAccumulate(new ReadOnlySpan<T>(p + offset, n), new ReadOnlySpan<T>(q + offset, n), channels,
                new ReadOnlySpan<T>(a, channels), new ReadOnlySpan<T>(b, channels), new ReadOnlySpan<T>(e, channels), o);
        }
    }

    /// <summary>A per-thread scratch array, grown as needed and kept (no allocation once warm).</summary>
    static class Scratch<T> where T : unmanaged
    {
        [ThreadStatic] static T[]? _array;
        public static T[] Get(int length) => _array is { } a && a.Length >= length ? a : _array = new T[length];
    }

    /// <summary>acc[c] += sum_r (p[r,c] - (centerFirst ? mean[c] : 0)) * (q[r,c] - mean[c]).</summary>
    public static void CenteredProducts<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> mean, int channels, bool centerFirst, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) CenteredProducts<T, V512<T>>(p, q, mean, channels, centerFirst, acc);
        else CenteredProducts<T, V256<T>>(p, q, mean, channels, centerFirst, acc);
    }

    public static void CenteredProducts<T, W>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> mean, int channels, bool centerFirst, Span<T> acc)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int rows = Rows(p.Length, channels, q.Length);
        ref T ps = ref MemoryMarshal.GetReference(p);
        ref T qs = ref MemoryMarshal.GetReference(q);
        ref T ms = ref MemoryMarshal.GetReference(mean);
        ref T acs = ref MemoryMarshal.GetReference(acc);
        W pCenterMask = centerFirst ? W.Broadcast(T.One) : W.Zero;
        T pCenter = centerFirst ? T.One : T.Zero;
        for (int r = 0; r < rows; r++)
        {
            ref T pr = ref Unsafe.Add(ref ps, r * channels);
            ref T qr = ref Unsafe.Add(ref qs, r * channels);
            int c = 0;
            for (; c <= channels - W.Count; c += W.Count)
            {
                W m = W.Load(ref Unsafe.Add(ref ms, c));
                W pv = W.Load(ref Unsafe.Add(ref pr, c)) - m * pCenterMask;
                ref T ac = ref Unsafe.Add(ref acs, c);
                W.Store(W.MultiplyAdd(pv, W.Load(ref Unsafe.Add(ref qr, c)) - m, W.Load(ref ac)), ref ac);
            }
            for (; c < channels; c++)
            {
                T m = Unsafe.Add(ref ms, c);
                Unsafe.Add(ref acs, c) += (Unsafe.Add(ref pr, c) - m * pCenter) * (Unsafe.Add(ref qr, c) - m);
            }
        }
    }

    /// <summary>out[r,c] += a[c] * p[r,c] + b[c] * q[r,c] + e[c].</summary>
    public static void AffineAccumulate<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, int channels, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> e, Span<T> output)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) AffineAccumulate<T, V512<T>>(p, q, channels, a, b, e, output);
        else AffineAccumulate<T, V256<T>>(p, q, channels, a, b, e, output);
    }

    public static void AffineAccumulate<T, W>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, int channels, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> e, Span<T> output)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int rows = Rows(p.Length, channels, output.Length);
        Rows(q.Length, channels, output.Length);
        ref T ps = ref MemoryMarshal.GetReference(p);
        ref T qs = ref MemoryMarshal.GetReference(q);
        ref T os = ref MemoryMarshal.GetReference(output);
        ref T As = ref MemoryMarshal.GetReference(a);
        ref T Bs = ref MemoryMarshal.GetReference(b);
        ref T Es = ref MemoryMarshal.GetReference(e);
        for (int r = 0; r < rows; r++)
        {
            ref T pr = ref Unsafe.Add(ref ps, r * channels);
            ref T qr = ref Unsafe.Add(ref qs, r * channels);
            ref T or = ref Unsafe.Add(ref os, r * channels);
            int c = 0;
            for (; c <= channels - W.Count; c += W.Count)
            {
                ref T o = ref Unsafe.Add(ref or, c);
                W v = W.MultiplyAdd(W.Load(ref Unsafe.Add(ref As, c)), W.Load(ref Unsafe.Add(ref pr, c)), W.Load(ref o) + W.Load(ref Unsafe.Add(ref Es, c)));
                W.Store(W.MultiplyAdd(W.Load(ref Unsafe.Add(ref Bs, c)), W.Load(ref Unsafe.Add(ref qr, c)), v), ref o);
            }
            for (; c < channels; c++)
                Unsafe.Add(ref or, c) += Unsafe.Add(ref As, c) * Unsafe.Add(ref pr, c) + Unsafe.Add(ref Bs, c) * Unsafe.Add(ref qr, c) + Unsafe.Add(ref Es, c);
        }
    }

    /// <summary>Training forward by the textbook formula, one element at a time (the reference).</summary>
    public static void ForwardTrainingReference<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, T epsilon, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Rows(x.Length, channels, y.Length);
        for (int c = 0; c < channels; c++)
        {
            T mean = T.Zero, variance = T.Zero;
            for (int r = 0; r < rows; r++) mean += x[r * channels + c];
            mean /= T.CreateChecked(rows);
            for (int r = 0; r < rows; r++) variance += (x[r * channels + c] - mean) * (x[r * channels + c] - mean);
            variance /= T.CreateChecked(rows);
            for (int r = 0; r < rows; r++)
                y[r * channels + c] = gamma[c] * (x[r * channels + c] - mean) / T.Sqrt(variance + epsilon) + beta[c];
        }
    }

    /// <summary>
    /// Training backward by the textbook formula, one channel at a time (the reference):
    /// dx = gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat)), dGamma = sum(dy * xhat),
    /// dBeta = sum(dy), all overwritten.
    /// </summary>
    public static void BackwardTrainingReference<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int channels, ReadOnlySpan<T> gamma, T epsilon,
        Span<T> dx, Span<T> dGamma, Span<T> dBeta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Rows(x.Length, channels, dy.Length);
        T count = T.CreateChecked(rows);
        for (int c = 0; c < channels; c++)
        {
            T mean = T.Zero, variance = T.Zero;
            for (int r = 0; r < rows; r++) mean += x[r * channels + c];
            mean /= count;
            for (int r = 0; r < rows; r++) variance += (x[r * channels + c] - mean) * (x[r * channels + c] - mean);
            T std = T.Sqrt(variance / count + epsilon);
            T sumDy = T.Zero, sumDyXhat = T.Zero;
            for (int r = 0; r < rows; r++)
            {
                sumDy += dy[r * channels + c];
                sumDyXhat += dy[r * channels + c] * (x[r * channels + c] - mean) / std;
            }
            for (int r = 0; r < rows; r++)
            {
                T xhat = (x[r * channels + c] - mean) / std;
                dx[r * channels + c] = gamma[c] / std * (dy[r * channels + c] - sumDy / count - xhat * sumDyXhat / count);
            }
            dGamma[c] = sumDyXhat;
            dBeta[c] = sumDy;
        }
    }

    static int Rows(int length, int channels, int other)
    {
        if (channels <= 0 || length % channels != 0 || length != other)
            throw new ArgumentException($"batch norm: {length} values with {channels} channels vs {other}");
        return length / channels;
    }
}
