using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels;

/// <summary>
/// One SIMD register of <typeparamref name="T"/> at a fixed width. Kernels are written once,
/// generic over this interface, and instantiated with <see cref="V512{T}"/> where AVX-512 is
/// accelerated and <see cref="V256{T}"/> otherwise. The JIT specialises each instantiation
/// (struct type arguments), so a kernel compiles to the same code it would if it named
/// Vector512 directly.
/// </summary>
public interface ISimd<TSelf, T>
    where TSelf : struct, ISimd<TSelf, T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Lanes per register.</summary>
    static abstract int Count { get; }
    static abstract bool IsHardwareAccelerated { get; }
    static abstract TSelf Zero { get; }
    static abstract TSelf Broadcast(T value);
    static abstract TSelf Load(ref readonly T source);
    static abstract void Store(TSelf value, ref T destination);
    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a);
    /// <summary>a * b + c with one rounding.</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);
    static abstract TSelf Max(TSelf a, TSelf b);
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Exp(TSelf a);
    static abstract TSelf Sqrt(TSelf a);
    /// <summary>Lane-wise mask: all bits set where a &gt; b.</summary>
    static abstract TSelf GreaterThan(TSelf a, TSelf b);
    /// <summary>Lane-wise mask &amp; value (keeps value where the mask is set).</summary>
    static abstract TSelf And(TSelf mask, TSelf value);
    /// <summary>Lane-wise mask: all bits set where a == b.</summary>
    static abstract TSelf EqualMask(TSelf a, TSelf b);
    /// <summary>value with the lanes of mask cleared (value &amp; ~mask).</summary>
    static abstract TSelf AndNot(TSelf value, TSelf mask);
    static abstract TSelf Or(TSelf a, TSelf b);
    static abstract T Sum(TSelf a);
    static abstract T MaxAcross(TSelf a);
}

/// <summary>512-bit register (16 floats / 8 doubles).</summary>
public readonly struct V512<T> : ISimd<V512<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public readonly Vector512<T> V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V512(Vector512<T> v) => V = v;

    public static int Count => Vector512<T>.Count;
    public static bool IsHardwareAccelerated => Vector512.IsHardwareAccelerated;
    public static V512<T> Zero { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(Vector512<T>.Zero); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> Broadcast(T value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> Load(ref readonly T source) => new(Vector512.LoadUnsafe(in source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V512<T> value, ref T destination) => value.V.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> operator +(V512<T> a, V512<T> b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> operator -(V512<T> a, V512<T> b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> operator *(V512<T> a, V512<T> b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> operator /(V512<T> a, V512<T> b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> operator -(V512<T> a) => new(-a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> Max(V512<T> a, V512<T> b) => new(Vector512.Max(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> Min(V512<T> a, V512<T> b) => new(Vector512.Min(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> Sqrt(V512<T> a) => new(Vector512.Sqrt(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> GreaterThan(V512<T> a, V512<T> b) => new(Vector512.GreaterThan(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> And(V512<T> mask, V512<T> value) => new(mask.V & value.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> EqualMask(V512<T> a, V512<T> b) => new(Vector512.Equals(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> AndNot(V512<T> value, V512<T> mask) => new(Vector512.AndNot(value.V, mask.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512<T> Or(V512<T> a, V512<T> b) => new(a.V | b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(V512<T> a) => Vector512.Sum(a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T MaxAcross(V512<T> a) => V256<T>.MaxAcross(new V256<T>(Vector256.Max(a.V.GetLower(), a.V.GetUpper())));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> MultiplyAdd(V512<T> a, V512<T> b, V512<T> c)
    {
        if (typeof(T) == typeof(float))
            return new(Vector512.FusedMultiplyAdd(a.V.AsSingle(), b.V.AsSingle(), c.V.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double))
            return new(Vector512.FusedMultiplyAdd(a.V.AsDouble(), b.V.AsDouble(), c.V.AsDouble()).As<double, T>());
        return new(a.V * b.V + c.V);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Exp(V512<T> a)
    {
        if (typeof(T) == typeof(float)) return new(Vector512.Exp(a.V.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(Vector512.Exp(a.V.AsDouble()).As<double, T>());
        throw new NotSupportedException(typeof(T).Name);
    }
}

/// <summary>256-bit register (8 floats / 4 doubles): the fallback where AVX-512 is absent.</summary>
public readonly struct V256<T> : ISimd<V256<T>, T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public readonly Vector256<T> V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V256(Vector256<T> v) => V = v;

    public static int Count => Vector256<T>.Count;
    public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;
    public static V256<T> Zero { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(Vector256<T>.Zero); }
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> Broadcast(T value) => new(Vector256.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> Load(ref readonly T source) => new(Vector256.LoadUnsafe(in source));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V256<T> value, ref T destination) => value.V.StoreUnsafe(ref destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> operator +(V256<T> a, V256<T> b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> operator -(V256<T> a, V256<T> b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> operator *(V256<T> a, V256<T> b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> operator /(V256<T> a, V256<T> b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> operator -(V256<T> a) => new(-a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> Max(V256<T> a, V256<T> b) => new(Vector256.Max(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> Min(V256<T> a, V256<T> b) => new(Vector256.Min(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> Sqrt(V256<T> a) => new(Vector256.Sqrt(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> GreaterThan(V256<T> a, V256<T> b) => new(Vector256.GreaterThan(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> And(V256<T> mask, V256<T> value) => new(mask.V & value.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> EqualMask(V256<T> a, V256<T> b) => new(Vector256.Equals(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> AndNot(V256<T> value, V256<T> mask) => new(Vector256.AndNot(value.V, mask.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256<T> Or(V256<T> a, V256<T> b) => new(a.V | b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static T Sum(V256<T> a) => Vector256.Sum(a.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(V256<T> a)
    {
        T m = T.NegativeInfinity;
        for (int i = 0; i < Vector256<T>.Count; i++) m = T.Max(m, a.V.GetElement(i));
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> MultiplyAdd(V256<T> a, V256<T> b, V256<T> c)
    {
        if (typeof(T) == typeof(float))
            return new(Vector256.FusedMultiplyAdd(a.V.AsSingle(), b.V.AsSingle(), c.V.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double))
            return new(Vector256.FusedMultiplyAdd(a.V.AsDouble(), b.V.AsDouble(), c.V.AsDouble()).As<double, T>());
        return new(a.V * b.V + c.V);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Exp(V256<T> a)
    {
        if (typeof(T) == typeof(float)) return new(Vector256.Exp(a.V.AsSingle()).As<float, T>());
        if (typeof(T) == typeof(double)) return new(Vector256.Exp(a.V.AsDouble()).As<double, T>());
        throw new NotSupportedException(typeof(T).Name);
    }
}
