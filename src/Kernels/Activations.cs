using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Kernels;

/// <summary>relu(x) = max(x, 0).</summary>
public readonly struct ReluOp<T> : IUnaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => x > T.Zero ? x : T.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W x) where W : struct, ISimd<W, T> => W.Max(x, W.Zero);
}

/// <summary>
/// Backward of relu, as (dy, y) -> dy where y &gt; 0. Reading the output rather than the input
/// lets the forward pass run in place.
/// </summary>
public readonly struct ReluBackwardOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T dy, T y) => y > T.Zero ? dy : T.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W dy, W y) where W : struct, ISimd<W, T> => W.And(W.GreaterThan(y, W.Zero), dy);
}

/// <summary>sigmoid(x) = 1 / (1 + e^-x); saturates to 0 or 1 without NaN for large |x|.</summary>
public readonly struct SigmoidOp<T> : IUnaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T x) => T.One / (T.One + T.Exp(-x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W x) where W : struct, ISimd<W, T> => W.Broadcast(T.One) / (W.Broadcast(T.One) + W.Exp(-x));
}

/// <summary>Backward of sigmoid from its output: (dy, y) -> dy * y * (1 - y).</summary>
public readonly struct SigmoidBackwardOp<T> : IBinaryOp<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Apply(T dy, T y) => dy * y * (T.One - y);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static W Apply<W>(W dy, W y) where W : struct, ISimd<W, T> => dy * y * (W.Broadcast(T.One) - y);
}
