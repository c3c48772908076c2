using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Engine.Kernels;

/// <summary>In-place parameter updates: one pass over parameter, gradient and state.</summary>
public static class OptimizerKernels
{
    /// <summary>
    /// Adam as Keras applies it: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    /// w -= stepSize * m / (sqrt(v) + epsilon), where the caller passes
    /// stepSize = lr * sqrt(1 - b2^t) / (1 - b1^t) (bias correction folded into the rate).
    /// </summary>
    public static void Adam<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T stepSize, T beta1, T beta2, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Adam<T, V512<T>>(w, g, m, v, stepSize, beta1, beta2, epsilon);
        else Adam<T, V256<T>>(w, g, m, v, stepSize, beta1, beta2, epsilon);
    }

    public static void Adam<T, W>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T stepSize, T beta1, T beta2, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        CheckState(w.Length, g.Length, m.Length, v.Length);
        ref T ws = ref MemoryMarshal.GetReference(w);
        ref T gs = ref MemoryMarshal.GetReference(g);
        ref T ms = ref MemoryMarshal.GetReference(m);
        ref T vs = ref MemoryMarshal.GetReference(v);
        W b1 = W.Broadcast(beta1), c1 = W.Broadcast(T.One - beta1);
        W b2 = W.Broadcast(beta2), c2 = W.Broadcast(T.One - beta2);
        W lr = W.Broadcast(stepSize), eps = W.Broadcast(epsilon);
        int n = w.Length, i = 0;
        for (; i <= n - W.Count; i += W.Count)
        {
            W gi = W.Load(ref Unsafe.Add(ref gs, i));
            W mi = W.MultiplyAdd(b1, W.Load(ref Unsafe.Add(ref ms, i)), c1 * gi);
            W vi = W.MultiplyAdd(b2, W.Load(ref Unsafe.Add(ref vs, i)), c2 * gi * gi);
            W.Store(mi, ref Unsafe.Add(ref ms, i));
            W.Store(vi, ref Unsafe.Add(ref vs, i));
            ref T wi = ref Unsafe.Add(ref ws, i);
            W.Store(W.Load(ref wi) - lr * mi / (W.Sqrt(vi) + eps), ref wi);
        }
        for (; i < n; i++) AdamScalar(ref Unsafe.Add(ref ws, i), Unsafe.Add(ref gs, i), ref Unsafe.Add(ref ms, i), ref Unsafe.Add(ref vs, i), stepSize, beta1, beta2, epsilon);
    }

    /// <summary>
    /// <see cref="Adam{T}"/> split over the thread team when the parameter is large: the update
    /// is four streams in and three out, and one core alone moves them at about half the speed
    /// two do (a ResNet-50's update is about 0.7 GB of traffic a step).
    /// </summary>
    public static unsafe void AdamOnTeam<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T stepSize, T beta1, T beta2, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckState(w.Length, g.Length, m.Length, v.Length);
        fixed (T* pw = w) fixed (T* pg = g) fixed (T* pm = m) fixed (T* pv = v)
            TeamFor.Run(w.Length, new AdamBody<T>(pw, pg, pm, pv, stepSize, beta1, beta2, epsilon), minimumPerMember: Elementwise.ParallelGrain);
    }

    unsafe readonly struct AdamBody<T>(T* w, T* g, T* m, T* v, T stepSize, T beta1, T beta2, T epsilon) : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Execute(int member, int start, int end)
        {
            int n = end - start;
            Adam(new Span<T>(w + start, n), new ReadOnlySpan<T>(g + start, n), new Span<T>(m + start, n), new Span<T>(v + start, n), stepSize, beta1, beta2, epsilon);
        }
    }

    public static void AdamReference<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> m, Span<T> v, T stepSize, T beta1, T beta2, T epsilon)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckState(w.Length, g.Length, m.Length, v.Length);
        for (int i = 0; i < w.Length; i++) AdamScalar(ref w[i], g[i], ref m[i], ref v[i], stepSize, beta1, beta2, epsilon);
    }

    static void AdamScalar<T>(ref T w, T g, ref T m, ref T v, T stepSize, T beta1, T beta2, T epsilon) where T : unmanaged, IFloatingPointIeee754<T>
    {
        m = beta1 * m + (T.One - beta1) * g;
        v = beta2 * v + (T.One - beta2) * g * g;
        w -= stepSize * m / (T.Sqrt(v) + epsilon);
    }

    /// <summary>
    /// SGD as Keras applies it. Without momentum: w -= lr g. With momentum:
    /// u = momentum u - lr g; w += u (or, Nesterov, w += momentum u - lr g).
    /// </summary>
    public static void Sgd<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> velocity, T learningRate, T momentum, bool nesterov)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (V512<T>.IsHardwareAccelerated) Sgd<T, V512<T>>(w, g, velocity, learningRate, momentum, nesterov);
        else Sgd<T, V256<T>>(w, g, velocity, learningRate, momentum, nesterov);
    }

    public static void Sgd<T, W>(Span<T> w, ReadOnlySpan<T> g, Span<T> velocity, T learningRate, T momentum, bool nesterov)
        where T : unmanaged, IFloatingPointIeee754<T> where W : struct, ISimd<W, T>
    {
        if (momentum == T.Zero)
        {
            Elementwise.Axpy<T, W>(-learningRate, g, w);
            return;
        }
        CheckState(w.Length, g.Length, velocity.Length, velocity.Length);
        ref T ws = ref MemoryMarshal.GetReference(w);
        ref T gs = ref MemoryMarshal.GetReference(g);
        ref T us = ref MemoryMarshal.GetReference(velocity);
        W mu = W.Broadcast(momentum), lr = W.Broadcast(learningRate);
        int n = w.Length, i = 0;
        for (; i <= n - W.Count; i += W.Count)
        {
            W step = lr * W.Load(ref Unsafe.Add(ref gs, i));
            W u = mu * W.Load(ref Unsafe.Add(ref us, i)) - step;
            W.Store(u, ref Unsafe.Add(ref us, i));
            ref T wi = ref Unsafe.Add(ref ws, i);
            W.Store(W.Load(ref wi) + (nesterov ? mu * u - step : u), ref wi);
        }
        for (; i < n; i++) SgdScalar(ref Unsafe.Add(ref ws, i), Unsafe.Add(ref gs, i), ref Unsafe.Add(ref us, i), learningRate, momentum, nesterov);
    }

    public static void SgdReference<T>(Span<T> w, ReadOnlySpan<T> g, Span<T> velocity, T learningRate, T momentum, bool nesterov)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < w.Length; i++)
        {
            if (momentum == T.Zero) w[i] -= learningRate * g[i];
            else SgdScalar(ref w[i], g[i], ref velocity[i], learningRate, momentum, nesterov);
        }
    }

    static void SgdScalar<T>(ref T w, T g, ref T u, T lr, T momentum, bool nesterov) where T : unmanaged, IFloatingPointIeee754<T>
    {
        u = momentum * u - lr * g;
        w += nesterov ? momentum * u - lr * g : u;
    }

    /// <summary>
    /// Checks that parameter, gradient and the two state buffers (pass one twice where there is
    /// one) have the same length (shared with the CUDA backend); throws <see cref="ArgumentException"/> otherwise.
    /// </summary>
    public static void CheckState(int w, int g, int a, int b)
    {
        if (w != g || w != a || w != b) throw new ArgumentException($"optimizer state lengths differ: {w}, {g}, {a}, {b}");
    }
}
