using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>
/// Max and average pooling over NHWC windows (no padding: Keras' default 'valid'). Each window
/// position is C adjacent channels, so the forward passes run vector-wide across channels.
/// </summary>
public static class Pooling
{
    /// <summary>y[n,oy,ox,c] = max over the window of x; output positions split over the team.</summary>
    public static void MaxForward<T>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => OnTeam(g, x, y, default, default, PoolPass.Max);

    /// <summary>y[n,oy,ox,c] = mean over the window of x; output positions split over the team.</summary>
    public static void AverageForward<T>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => OnTeam(g, x, y, default, default, PoolPass.Average);

    enum PoolPass { Max, Average, MaxBackward }

    static unsafe void OnTeam<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, PoolPass pass)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(g, x.Length, y.Length);
        if (pass == PoolPass.MaxBackward) Check(g, dx.Length, dy.Length);
        fixed (T* px = x) fixed (T* py = y) fixed (T* pdy = dy) fixed (T* pdx = dx)
        {
            var body = new PoolBody<T>(g, px, py, pdy, pdx, pass);
            // The backward scatters into overlapping windows: split by image, where they never overlap.
            if (pass == PoolPass.MaxBackward) TeamFor.Run(g.Batch, body);
            else TeamFor.Run(g.Batch * g.OutHeight, body, minimumPerMember: 4);
        }
    }

    unsafe readonly struct PoolBody<T>(ConvGeometry g, T* x, T* y, T* dy, T* dx, PoolPass pass) : IRangeBody where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            // Forward shares are runs of output rows, the backward's are whole images.
            int rowsPerUnit = pass == PoolPass.MaxBackward ? g.OutHeight : 1;
            var part = g with { Batch = 1 };
            int inImage = g.Height * g.Width * g.Channels, outRow = g.OutWidth * g.Channels, outImage = g.OutHeight * outRow;
            for (int unit = start; unit < end; unit++)
            {
                int firstRow = unit * rowsPerUnit;
                int n = firstRow / g.OutHeight, oy = firstRow % g.OutHeight;
                // One image (backward) or one output row (forward) as a batch-1 geometry.
                var sub = pass == PoolPass.MaxBackward ? part : part with { Height = g.KernelH, PadTop = 0 };
                long xOffset = (long)n * inImage + (long)oy * g.StrideH * g.Width * g.Channels;
                long yOffset = (long)n * outImage + (long)oy * outRow;
                int xLength = sub.InputLength, yLength = sub.Rows * g.Channels;
                var xs = new ReadOnlySpan<T>(x + xOffset, xLength);
                var ys = new Span<T>(y + yOffset, yLength);
                switch (pass)
                {
                    case PoolPass.Max:
                        if (V512<T>.IsHardwareAccelerated) Forward<T, V512<T>, MaxReduce<T>>(sub, xs, ys); else Forward<T, V256<T>, MaxReduce<T>>(sub, xs, ys);
                        break;
                    case PoolPass.Average:
                        if (V512<T>.IsHardwareAccelerated) Forward<T, V512<T>, SumReduce<T>>(sub, xs, ys); else Forward<T, V256<T>, SumReduce<T>>(sub, xs, ys);
                        Elementwise.Scale(T.One / T.CreateChecked(g.KernelH * g.KernelW), ys);
                        break;
                    default:
                        var dys = new ReadOnlySpan<T>(dy + yOffset, yLength);
                        var dxs = new Span<T>(dx + xOffset, xLength);
                        if (V512<T>.IsHardwareAccelerated) MaxBackwardAccumulate<T, V512<T>>(sub, xs, ys, dys, dxs);
                        else MaxBackwardAccumulate<T, V256<T>>(sub, xs, ys, dys, dxs);
                        break;
                }
            }
        }
    }

    interface IReduce<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        static abstract W Combine<W>(W a, W b) where W : struct, ISimd<W, T>;
        static abstract T Combine(T a, T b);
    }

    readonly struct MaxReduce<T> : IReduce<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Combine<W>(W a, W b) where W : struct, ISimd<W, T> => W.Max(a, b);
        public static T Combine(T a, T b) => T.Max(a, b);
    }

    readonly struct SumReduce<T> : IReduce<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Combine<W>(W a, W b) where W : struct, ISimd<W, T> => a + b;
        public static T Combine(T a, T b) => a + b;
    }

    /// <summary>Forward at an explicit width (tests hold both widths to the references).</summary>
    public static void MaxForward<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> => Forward<T, W, MaxReduce<T>>(g, x, y);

    public static void AverageForward<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        Forward<T, W, SumReduce<T>>(g, x, y);
        Elementwise.Scale(T.One / T.CreateChecked(g.KernelH * g.KernelW), y);
    }

    static void Forward<T, W, TR>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T> where TR : IReduce<T>
    {
        Check(g, x.Length, y.Length);
        int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth;
        ref T xs = ref MemoryMarshal.GetReference(x);
        ref T ys = ref MemoryMarshal.GetReference(y);
        int outIndex = 0;
        for (int n = 0; n < g.Batch; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++, outIndex += c)
                {
                    ref T dst = ref Unsafe.Add(ref ys, outIndex);
                    int first = WindowStart(g, n, oy, ox);
                    int ch = 0;
                    for (; ch <= c - W.Count; ch += W.Count)
                    {
                        W acc = W.Load(ref Unsafe.Add(ref xs, first + ch));
                        for (int i = 0; i < g.KernelH; i++)
                            for (int j = 0; j < g.KernelW; j++)
                                if (i + j > 0) acc = TR.Combine(acc, W.Load(ref Unsafe.Add(ref xs, first + (i * g.Width + j) * c + ch)));
                        W.Store(acc, ref Unsafe.Add(ref dst, ch));
                    }
                    for (; ch < c; ch++)
                    {
                        T acc = Unsafe.Add(ref xs, first + ch);
                        for (int i = 0; i < g.KernelH; i++)
                            for (int j = 0; j < g.KernelW; j++)
                                if (i + j > 0) acc = TR.Combine(acc, Unsafe.Add(ref xs, first + (i * g.Width + j) * c + ch));
                        Unsafe.Add(ref dst, ch) = acc;
                    }
                }
    }

    /// <summary>Max pooling by definition, one element at a time.</summary>
    public static void MaxForwardReference<T>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => ForwardReference<T, MaxReduce<T>>(g, x, y);

    /// <summary>Average pooling by definition.</summary>
    public static void AverageForwardReference<T>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForwardReference<T, SumReduce<T>>(g, x, y);
        for (int i = 0; i < y.Length; i++) y[i] /= T.CreateChecked(g.KernelH * g.KernelW);
    }

    static void ForwardReference<T, TR>(in ConvGeometry g, ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T> where TR : IReduce<T>
    {
        Check(g, x.Length, y.Length);
        int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth;
        for (int n = 0; n < g.Batch; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        int first = WindowStart(g, n, oy, ox) + ch;
                        T acc = x[first];
                        for (int i = 0; i < g.KernelH; i++)
                            for (int j = 0; j < g.KernelW; j++)
                                if (i + j > 0) acc = TR.Combine(acc, x[first + (i * g.Width + j) * c]);
                        y[((n * oh + oy) * ow + ox) * c + ch] = acc;
                    }
    }

    /// <summary>
    /// dx += dy routed to the element that was the maximum (the first one in the window should
    /// there be a tie, as after a ReLU), found again by comparing the window with the forward
    /// output y; vector-wide across channels, a "found" mask making sure each gradient lands once.
    /// </summary>
    public static void MaxBackwardAccumulate<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
        => OnTeam(g, x, y, dy, dx, PoolPass.MaxBackward);

    public static void MaxBackwardAccumulate<T, W>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        Check(g, x.Length, y.Length);
        Check(g, dx.Length, dy.Length);
        int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth, window = g.KernelH * g.KernelW, rowStride = g.Width * c;
        ref T xs = ref MemoryMarshal.GetReference(x);
        ref T ys = ref MemoryMarshal.GetReference(y);
        ref T dys = ref MemoryMarshal.GetReference(dy);
        ref T dxs = ref MemoryMarshal.GetReference(dx);
        int outIndex = 0;
        for (int n = 0; n < g.Batch; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++, outIndex += c)
                {
                    int first = WindowStart(g, n, oy, ox);
                    int ch = 0;
                    for (; ch <= c - W.Count; ch += W.Count)
                    {
                        W max = W.Load(ref Unsafe.Add(ref ys, outIndex + ch));
                        W grad = W.Load(ref Unsafe.Add(ref dys, outIndex + ch));
                        W found = W.Zero;
                        for (int i = 0; i < g.KernelH; i++)
                        {
                            int rowAt = first + i * rowStride + ch;
                            for (int j = 0; j < g.KernelW; j++)
                            {
                                int at = rowAt + j * c;
                                W hit = W.AndNot(W.EqualMask(W.Load(ref Unsafe.Add(ref xs, at)), max), found);
                                ref T d = ref Unsafe.Add(ref dxs, at);
                                W.Store(W.Load(ref d) + W.And(hit, grad), ref d);
                                found = W.Or(found, hit);
                            }
                        }
                    }
                    for (; ch < c; ch++)
                    {
                        T max = Unsafe.Add(ref ys, outIndex + ch);
                        for (int p = 0; p < window; p++)
                        {
                            int at = first + ((p / g.KernelW) * g.Width + p % g.KernelW) * c + ch;
                            if (Unsafe.Add(ref xs, at) == max)
                            {
                                Unsafe.Add(ref dxs, at) += Unsafe.Add(ref dys, outIndex + ch);
                                break;
                            }
                        }
                    }
                }
    }

    /// <summary>The max-pool backward one element at a time (the reference).</summary>
    public static void MaxBackwardAccumulateReference<T>(in ConvGeometry g, ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(g, x.Length, y.Length);
        Check(g, dx.Length, dy.Length);
        int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth;
        int outIndex = 0;
        for (int n = 0; n < g.Batch; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++, outIndex += c)
                {
                    int first = WindowStart(g, n, oy, ox);
                    for (int ch = 0; ch < c; ch++)
                    {
                        T max = y[outIndex + ch];
                        for (int p = 0; p < g.KernelH * g.KernelW; p++)
                        {
                            int at = first + ((p / g.KernelW) * g.Width + p % g.KernelW) * c + ch;
                            if (x[at] == max)
                            {
                                dx[at] += dy[outIndex + ch];
                                break;
                            }
                        }
                    }
                }
    }

    /// <summary>dx += dy / (KH*KW) spread over each window.</summary>
    public static void AverageBackwardAccumulate<T>(in ConvGeometry g, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(g, dx.Length, dy.Length);
        int c = g.Channels, oh = g.OutHeight, ow = g.OutWidth;
        T share = T.One / T.CreateChecked(g.KernelH * g.KernelW);
        int outIndex = 0;
        for (int n = 0; n < g.Batch; n++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++, outIndex += c)
                {
                    var d = dy.Slice(outIndex, c);
                    int first = WindowStart(g, n, oy, ox);
                    for (int i = 0; i < g.KernelH; i++)
                        for (int j = 0; j < g.KernelW; j++)
                            Elementwise.Axpy(share, d, dx.Slice(first + (i * g.Width + j) * c, c));
                }
    }

    /// <summary>Index of channel 0 of the top-left element of output (n, oy, ox)'s window.</summary>
    static int WindowStart(in ConvGeometry g, int n, int oy, int ox) =>
        ((n * g.Height + oy * g.StrideH) * g.Width + ox * g.StrideW) * g.Channels;

    /// <summary>
    /// Checks a pooling geometry and its buffers (shared with the CUDA backend): 'valid' windows
    /// only, the input <see cref="ConvGeometry.InputLength"/> long and the output
    /// <see cref="ConvGeometry.Rows"/> * C. Throws <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public static void Check(in ConvGeometry g, int inputLength, int outputLength)
    {
        if (g.PadTop + g.PadBottom + g.PadLeft + g.PadRight != 0) throw new ArgumentException("pooling supports 'valid' windows only");
        if (inputLength != g.InputLength || outputLength != g.Rows * g.Channels)
            throw new ArgumentException($"pooling buffers: input {inputLength} (need {g.InputLength}), output {outputLength} (need {g.Rows * g.Channels})");
    }
}
