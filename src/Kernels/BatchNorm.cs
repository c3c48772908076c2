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
    /// statistics in place. With a residual (same shape as x) it is added before the ReLU, in
    /// the same pass: a ResNet block's BN -> Add -> ReLU.
    /// </summary>
    public static void ForwardTraining<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        T momentum, T epsilon, Span<T> movingMean, Span<T> movingVariance, Span<T> mean, Span<T> invStd, Span<T> y, bool relu = false,
        ReadOnlySpan<T> residual = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Rows(x.Length, channels, y.Length);
        T inverseRows = T.One / T.CreateChecked(rows);
        // One pass: moments about the first row (close to the mean, so the difference of
        // squares below does not cancel away the variance's significant digits).
        Span<T> shift = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        x[..channels].CopyTo(shift);
        Span<T> sum = mean, sumSquares = invStd; // reused in place as the results are formed
        ChannelSums(x, x, shift, channels, ChannelSum.ShiftedMoments, sum, sumSquares, default);
        for (int c = 0; c < channels; c++)
        {
            T d = sum[c] * inverseRows;
            T v = T.Max(sumSquares[c] * inverseRows - d * d, T.Zero);
            mean[c] = shift[c] + d;
            movingMean[c] = momentum * movingMean[c] + (T.One - momentum) * mean[c];
            movingVariance[c] = momentum * movingVariance[c] + (T.One - momentum) * v;
            invStd[c] = T.One / T.Sqrt(v + epsilon);
        }
        Normalize(x, channels, gamma, beta, mean, invStd, y, relu, residual);
    }

    /// <summary>Inference forward: y = gamma * (x - movingMean) / sqrt(movingVariance + eps) + beta (+ residual, then ReLU, as in training).</summary>
    public static void ForwardInference<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta,
        ReadOnlySpan<T> movingMean, ReadOnlySpan<T> movingVariance, T epsilon, Span<T> invStd, Span<T> y, bool relu = false, ReadOnlySpan<T> residual = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Rows(x.Length, channels, y.Length);
        for (int c = 0; c < channels; c++) invStd[c] = T.One / T.Sqrt(movingVariance[c] + epsilon);
        Normalize(x, channels, gamma, beta, movingMean, invStd, y, relu, residual);
    }

    /// <summary>y = gamma * (x - mean) * invStd + beta (+ residual), then max(y, 0) when relu (the fused BN + ReLU, or BN + Add + ReLU).</summary>
    static void Normalize<T>(ReadOnlySpan<T> x, int channels, ReadOnlySpan<T> gamma, ReadOnlySpan<T> beta, ReadOnlySpan<T> mean, ReadOnlySpan<T> invStd, Span<T> y, bool relu,
        ReadOnlySpan<T> residual)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!residual.IsEmpty) Rows(residual.Length, channels, y.Length);
        // y = x * scale + shift with scale = gamma / std and shift = beta - mean * scale.
        Span<T> scale = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        Span<T> shift = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        for (int c = 0; c < channels; c++)
        {
            scale[c] = gamma[c] * invStd[c];
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        // The residual is the affine map's second term, with coefficient 1.
        Span<T> ones = residual.IsEmpty ? default : channels <= 1024 ? stackalloc T[channels] : new T[channels];
        ones.Fill(T.One);
        ParallelAffine(x, residual, channels, scale, ones, shift, y, default, accumulate: false, relu);
    }

    /// <summary>
    /// Backward, accumulating into dx, dGamma and dBeta (any may be empty to skip it); dx is
    /// overwritten instead when <paramref name="accumulateDx"/> is false. mean and
    /// invStd are what the forward pass used: batch statistics in training, moving ones in
    /// inference. In training the batch statistics depend on x, which adds the two
    /// mean-subtracting terms: dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)).
    /// </summary>
    /// <param name="reluOutput">For the fused BN + ReLU: its output y; dy then counts only where
    /// y &gt; 0 (the ReLU's backward), applied inside both passes so the masked gradient is never
    /// written out. Empty for plain batch norm.</param>
    public static void Backward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int channels, ReadOnlySpan<T> gamma,
        ReadOnlySpan<T> mean, ReadOnlySpan<T> invStd, bool training, Span<T> dx, Span<T> dGamma, Span<T> dBeta, ReadOnlySpan<T> reluOutput = default,
        bool accumulateDx = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Rows(x.Length, channels, dy.Length);
        T inverseRows = T.One / T.CreateChecked(rows);
        Span<T> sumDy = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        Span<T> sumDyCentered = channels <= 1024 ? stackalloc T[channels] : new T[channels];
        ChannelSums(dy, x, mean, channels, ChannelSum.GradientSums, sumDy, sumDyCentered, reluOutput);
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
        ParallelAffine(dy, x, channels, a, b, e, dx, reluOutput, accumulateDx, relu: false);
    }

    enum ChannelSum { ShiftedMoments, GradientSums }

    /// <summary>
    /// first[c], second[c] = per-channel sums over rows, written (not accumulated):
    /// ShiftedMoments: sum(p - center), sum((p - center)^2); GradientSums: sum(p), sum(p * (q - center)).
    /// Rows are split over the team; each member sums its share into its own partials, which
    /// are added up afterwards.
    /// </summary>
    static unsafe void ChannelSums<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> center, int channels, ChannelSum kind, Span<T> first, Span<T> second, ReadOnlySpan<T> gate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = p.Length / channels, members = TeamFor.Members();
        var partials = Scratch<T>.Get(2 * members * channels);
        partials.AsSpan(0, 2 * members * channels).Clear();
        fixed (T* pp = p) fixed (T* pq = q) fixed (T* pc = center) fixed (T* pr = partials) fixed (T* pg = gate)
            TeamFor.Run(rows, new ChannelSumBody<T>(pp, pq, pc, gate.IsEmpty ? null : pg, channels, kind, pr), minimumPerMember: 256);
        first.Clear();
        second.Clear();
        for (int m = 0; m < members; m++)
        {
            Elementwise.Axpy(T.One, partials.AsSpan(2 * m * channels, channels), first);
            Elementwise.Axpy(T.One, partials.AsSpan((2 * m + 1) * channels, channels), second);
        }
    }

    unsafe readonly struct ChannelSumBody<T>(T* p, T* q, T* center, T* gate, int channels, ChannelSum kind, T* partials) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int n = (end - start) * channels;
            var ps = new ReadOnlySpan<T>(p + (long)start * channels, n);
            var qs = new ReadOnlySpan<T>(q + (long)start * channels, n);
            var c = new ReadOnlySpan<T>(center, channels);
            var first = new Span<T>(partials + 2L * member * channels, channels);
            var second = new Span<T>(partials + (2L * member + 1) * channels, channels);
            if (kind == ChannelSum.ShiftedMoments) ShiftedMoments(ps, c, channels, first, second);
            else GradientSums(ps, qs, c, channels, first, second, gate == null ? default : new ReadOnlySpan<T>(gate + (long)start * channels, n));
        }
    }

    /// <summary>output (+)= a * p + b * q + e per channel (no q term when b is empty), rows split over the team.</summary>
    static unsafe void ParallelAffine<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, int channels, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> e, Span<T> output,
        ReadOnlySpan<T> gate, bool accumulate, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pp = p) fixed (T* pq = q) fixed (T* pa = a) fixed (T* pb = b) fixed (T* pe = e) fixed (T* po = output) fixed (T* pg = gate)
            TeamFor.Run(p.Length / channels, new AffineBody<T>(pp, pq, channels, pa, b.IsEmpty ? null : pb, pe, po, gate.IsEmpty ? null : pg, accumulate, relu), minimumPerMember: 256);
    }

    unsafe readonly struct AffineBody<T>(T* p, T* q, int channels, T* a, T* b, T* e, T* output, T* gate, bool accumulate, bool relu) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int n = (end - start) * channels;
            long offset = (long)start * channels;
            var o = new Span<T>(output + offset, n);
            Affine(new ReadOnlySpan<T>(p + offset, n), b == null ? default : new ReadOnlySpan<T>(q + offset, n), channels,
                new ReadOnlySpan<T>(a, channels), b == null ? default : new ReadOnlySpan<T>(b, channels), new ReadOnlySpan<T>(e, channels), o,
                gate == null ? default : new ReadOnlySpan<T>(gate + offset, n), relu, accumulate);
        }
    }

    /// <summary>The caller's per-member partial sums (see ThreadScratch).</summary>
    static class Scratch<T> where T : unmanaged
    {
        [ThreadStatic] static T[]? _partials;
        public static T[] Get(int length) => ThreadScratch.Get(ref _partials, length);
    }

    /// <summary>sum[c] += sum_r (x[r,c] - shift[c]); sumSquares[c] += sum_r (x[r,c] - shift[c])^2.</summary>
    public static void ShiftedMoments<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> shift, int channels, Span<T> sum, Span<T> sumSquares)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) TwoSums<T, V512<T>, MomentsTerms<T>>(x, x, shift, channels, sum, sumSquares);
        else TwoSums<T, V256<T>, MomentsTerms<T>>(x, x, shift, channels, sum, sumSquares);
    }

    /// <summary>sumDy[c] += sum_r dy[r,c]; sumDyCentered[c] += sum_r dy[r,c] * (x[r,c] - mean[c]).</summary>
    /// <remarks>With a gate, dy counts only where gate &gt; 0 (the fused ReLU's backward).</remarks>
    public static void GradientSums<T>(ReadOnlySpan<T> dy, ReadOnlySpan<T> x, ReadOnlySpan<T> mean, int channels, Span<T> sumDy, Span<T> sumDyCentered,
        ReadOnlySpan<T> gate = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) TwoSums<T, V512<T>, GradientTerms<T>>(dy, x, mean, channels, sumDy, sumDyCentered, gate);
        else TwoSums<T, V256<T>, GradientTerms<T>>(dy, x, mean, channels, sumDy, sumDyCentered, gate);
    }

    /// <summary>The two terms one pass sums per element, from p, q and the channel's center.</summary>
    public interface ITwoTerms<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        static abstract (W First, W Second) Terms<W>(W p, W q, W center) where W : struct, ISimd<W, T>;
        static abstract (T First, T Second) Terms(T p, T q, T center);
    }

    /// <summary>(x - shift, (x - shift)^2).</summary>
    public readonly struct MomentsTerms<T> : ITwoTerms<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (W First, W Second) Terms<W>(W p, W q, W center) where W : struct, ISimd<W, T> { W d = p - center; return (d, d * d); }
        public static (T First, T Second) Terms(T p, T q, T center) { T d = p - center; return (d, d * d); }
    }

    /// <summary>(dy, dy * (x - mean)).</summary>
    public readonly struct GradientTerms<T> : ITwoTerms<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (W First, W Second) Terms<W>(W p, W q, W center) where W : struct, ISimd<W, T> => (p, p * (q - center));
        public static (T First, T Second) Terms(T p, T q, T center) => (p, p * (q - center));
    }

    /// <summary>
    /// first[c] += sum_r TT.First(p, q, center), second[c] += sum_r TT.Second(...), one pass,
    /// vector-wide across channels; with a gate, p counts as 0 where gate &lt;= 0.
    /// </summary>
    /// <remarks>
    /// Rows go in chunks small enough to stay in L1; within a chunk, four channel vectors at a
    /// time are summed down the rows in registers and added to first / second once per chunk.
    /// Adding into memory on every row instead makes each row wait on the previous row's
    /// stores, which ran at under half the speed.
    /// </remarks>
    public static void TwoSums<T, W, TT>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> center, int channels, Span<T> first, Span<T> second,
        ReadOnlySpan<T> gate = default) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TT : ITwoTerms<T>
    {
        int rows = Rows(p.Length, channels, q.Length);
        bool gated = !gate.IsEmpty;
        if (gated) Rows(gate.Length, channels, p.Length);
        if (center.Length < channels || first.Length < channels || second.Length < channels)
            throw new ArgumentException($"per-channel buffers need {channels} values");
        ref T gs = ref MemoryMarshal.GetReference(gate);
        ref T ps = ref MemoryMarshal.GetReference(p);
        ref T qs = ref MemoryMarshal.GetReference(q);
        int chunk = Math.Max(MinimumSumChunk, SumChunkBytes / (Unsafe.SizeOf<T>() * channels));
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int count = Math.Min(chunk, rows - r0);
            long offset = (long)r0 * channels;
            ref T pr = ref Unsafe.Add(ref ps, (nint)offset);
            ref T qr = ref Unsafe.Add(ref qs, (nint)offset);
            ref T gr = ref Unsafe.Add(ref gs, gated ? (nint)offset : 0);
            int c = 0;
            for (; c <= channels - 4 * W.Count; c += 4 * W.Count)
                SumColumns<T, W, TT>(ref Unsafe.Add(ref pr, c), ref Unsafe.Add(ref qr, c), ref Unsafe.Add(ref gr, gated ? c : 0), gated, count, channels,
                    center.Slice(c), first.Slice(c), second.Slice(c), vectors: 4);
            for (; c <= channels - W.Count; c += W.Count)
                SumColumns<T, W, TT>(ref Unsafe.Add(ref pr, c), ref Unsafe.Add(ref qr, c), ref Unsafe.Add(ref gr, gated ? c : 0), gated, count, channels,
                    center.Slice(c), first.Slice(c), second.Slice(c), vectors: 1);
            for (; c < channels; c++)
                for (int r = 0; r < count; r++)
                {
                    int i = r * channels + c;
                    T pv = gated && !(Unsafe.Add(ref gr, i) > T.Zero) ? T.Zero : Unsafe.Add(ref pr, i);
                    var (a, b) = TT.Terms(pv, Unsafe.Add(ref qr, i), center[c]);
                    first[c] += a;
                    second[c] += b;
                }
        }
    }

    /// <summary>
    /// Bytes of p per row chunk of <see cref="TwoSums{T, W, TT}"/> (p, q and a gate of this size
    /// stay in L2 while the chunk's channel blocks are summed), and the fewest rows a chunk
    /// has, so that wide layers still sum down a run of rows between memory updates.
    /// </summary>
    const int SumChunkBytes = 32 * 1024, MinimumSumChunk = 16;

    /// <summary>
    /// The sums of 1 or 4 channel vectors (at p, q, gate, one row every `stride` elements) down
    /// `rows` rows, in registers, then added to first / second.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void SumColumns<T, W, TT>(ref T p, ref T q, ref T gate, bool gated, int rows, int stride, ReadOnlySpan<T> center, Span<T> first, Span<T> second, int vectors)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TT : ITwoTerms<T>
    {
        ref T cs = ref MemoryMarshal.GetReference(center);
        ref T fs = ref MemoryMarshal.GetReference(first);
        ref T ss = ref MemoryMarshal.GetReference(second);
        int n = W.Count;
        if (vectors == 4)
        {
            W c0 = W.Load(ref cs), c1 = W.Load(ref Unsafe.Add(ref cs, n)), c2 = W.Load(ref Unsafe.Add(ref cs, 2 * n)), c3 = W.Load(ref Unsafe.Add(ref cs, 3 * n));
            W f0 = W.Zero, f1 = W.Zero, f2 = W.Zero, f3 = W.Zero, s0 = W.Zero, s1 = W.Zero, s2 = W.Zero, s3 = W.Zero;
            for (int r = 0; r < rows; r++)
            {
                ref T pr = ref Unsafe.Add(ref p, r * stride);
                ref T qr = ref Unsafe.Add(ref q, r * stride);
                W p0 = W.Load(ref pr), p1 = W.Load(ref Unsafe.Add(ref pr, n)), p2 = W.Load(ref Unsafe.Add(ref pr, 2 * n)), p3 = W.Load(ref Unsafe.Add(ref pr, 3 * n));
                if (gated)
                {
                    ref T gr = ref Unsafe.Add(ref gate, r * stride);
                    p0 = W.And(W.GreaterThan(W.Load(ref gr), W.Zero), p0);
                    p1 = W.And(W.GreaterThan(W.Load(ref Unsafe.Add(ref gr, n)), W.Zero), p1);
                    p2 = W.And(W.GreaterThan(W.Load(ref Unsafe.Add(ref gr, 2 * n)), W.Zero), p2);
                    p3 = W.And(W.GreaterThan(W.Load(ref Unsafe.Add(ref gr, 3 * n)), W.Zero), p3);
                }
                var (a0, b0) = TT.Terms(p0, W.Load(ref qr), c0);
                var (a1, b1) = TT.Terms(p1, W.Load(ref Unsafe.Add(ref qr, n)), c1);
                var (a2, b2) = TT.Terms(p2, W.Load(ref Unsafe.Add(ref qr, 2 * n)), c2);
                var (a3, b3) = TT.Terms(p3, W.Load(ref Unsafe.Add(ref qr, 3 * n)), c3);
                f0 += a0; f1 += a1; f2 += a2; f3 += a3;
                s0 += b0; s1 += b1; s2 += b2; s3 += b3;
            }
            W.Store(W.Load(ref fs) + f0, ref fs);
            W.Store(W.Load(ref Unsafe.Add(ref fs, n)) + f1, ref Unsafe.Add(ref fs, n));
            W.Store(W.Load(ref Unsafe.Add(ref fs, 2 * n)) + f2, ref Unsafe.Add(ref fs, 2 * n));
            W.Store(W.Load(ref Unsafe.Add(ref fs, 3 * n)) + f3, ref Unsafe.Add(ref fs, 3 * n));
            W.Store(W.Load(ref ss) + s0, ref ss);
            W.Store(W.Load(ref Unsafe.Add(ref ss, n)) + s1, ref Unsafe.Add(ref ss, n));
            W.Store(W.Load(ref Unsafe.Add(ref ss, 2 * n)) + s2, ref Unsafe.Add(ref ss, 2 * n));
            W.Store(W.Load(ref Unsafe.Add(ref ss, 3 * n)) + s3, ref Unsafe.Add(ref ss, 3 * n));
        }
        else
        {
            W c0 = W.Load(ref cs), f0 = W.Zero, s0 = W.Zero;
            for (int r = 0; r < rows; r++)
            {
                W p0 = W.Load(ref Unsafe.Add(ref p, r * stride));
                if (gated) p0 = W.And(W.GreaterThan(W.Load(ref Unsafe.Add(ref gate, r * stride)), W.Zero), p0);
                var (a0, b0) = TT.Terms(p0, W.Load(ref Unsafe.Add(ref q, r * stride)), c0);
                f0 += a0;
                s0 += b0;
            }
            W.Store(W.Load(ref fs) + f0, ref fs);
            W.Store(W.Load(ref ss) + s0, ref ss);
        }
    }

    /// <summary>The scalar form of <see cref="TwoSums{T, W, TT}"/> (the reference).</summary>
    public static void TwoSumsReference<T, TT>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, ReadOnlySpan<T> center, int channels, Span<T> first, Span<T> second,
        ReadOnlySpan<T> gate = default) where T : unmanaged, IFloatingPointIeee754<T> where TT : ITwoTerms<T>
    {
        int rows = Rows(p.Length, channels, q.Length);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < channels; c++)
            {
                int i = r * channels + c;
                var (a, b) = TT.Terms(!gate.IsEmpty && !(gate[i] > T.Zero) ? T.Zero : p[i], q[i], center[c]);
                first[c] += a;
                second[c] += b;
            }
    }

    /// <summary>
    /// out[r,c] (+)= a[c] * p[r,c] + b[c] * q[r,c] + e[c]: added to out when accumulate,
    /// written over it otherwise (out is then never read). Empty b and q drop that term; with
    /// a gate, p counts as 0 where gate &lt;= 0; with relu, the result is clamped at 0.
    /// </summary>
    public static void Affine<T>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, int channels, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> e, Span<T> output,
        ReadOnlySpan<T> gate = default, bool relu = false, bool accumulate = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Affine<T, V512<T>>(p, q, channels, a, b, e, output, gate, relu, accumulate);
        else Affine<T, V256<T>>(p, q, channels, a, b, e, output, gate, relu, accumulate);
    }

    public static void Affine<T, W>(ReadOnlySpan<T> p, ReadOnlySpan<T> q, int channels, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> e, Span<T> output,
        ReadOnlySpan<T> gate = default, bool relu = false, bool accumulate = true) where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        int rows = Rows(p.Length, channels, output.Length);
        bool second = !b.IsEmpty;
        if (second) Rows(q.Length, channels, output.Length);
        bool gated = !gate.IsEmpty;
        if (gated) Rows(gate.Length, channels, output.Length);
        ref T gs = ref MemoryMarshal.GetReference(gate);
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
            ref T gr = ref Unsafe.Add(ref gs, gated ? r * channels : 0);
            int c = 0;
            for (; c <= channels - W.Count; c += W.Count)
            {
                ref T o = ref Unsafe.Add(ref or, c);
                W pv = W.Load(ref Unsafe.Add(ref pr, c));
                if (gated) pv = W.And(W.GreaterThan(W.Load(ref Unsafe.Add(ref gr, c)), W.Zero), pv);
                W v = W.Load(ref Unsafe.Add(ref Es, c));
                if (accumulate) v += W.Load(ref o);
                v = W.MultiplyAdd(W.Load(ref Unsafe.Add(ref As, c)), pv, v);
                if (second) v = W.MultiplyAdd(W.Load(ref Unsafe.Add(ref Bs, c)), W.Load(ref Unsafe.Add(ref qr, c)), v);
                W.Store(relu ? W.Max(v, W.Zero) : v, ref o);
            }
            for (; c < channels; c++)
            {
                T pv = gated && !(Unsafe.Add(ref gr, c) > T.Zero) ? T.Zero : Unsafe.Add(ref pr, c);
                T v = (accumulate ? Unsafe.Add(ref or, c) : T.Zero) + Unsafe.Add(ref As, c) * pv
                    + (second ? Unsafe.Add(ref Bs, c) * Unsafe.Add(ref qr, c) : T.Zero) + Unsafe.Add(ref Es, c);
                Unsafe.Add(ref or, c) = relu && !(v > T.Zero) ? T.Zero : v;
            }
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

    /// <summary>
    /// The rows of a [rows, channels] buffer of <paramref name="length"/> values that must match
    /// another of <paramref name="other"/> (shared with the CUDA backend). Throws
    /// <see cref="ArgumentException"/> unless channels is positive and divides length, and the lengths agree.
    /// </summary>
    public static int Rows(int length, int channels, int other)
    {
        if (channels <= 0 || length % channels != 0 || length != other)
            throw new ArgumentException($"batch norm: {length} values with {channels} channels vs {other}");
        return length / channels;
    }
}
