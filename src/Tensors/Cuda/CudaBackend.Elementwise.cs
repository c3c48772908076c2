using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Tensors;

/// <summary>Element-wise methods: kernels of elementwise.cu, one grid-stride pass each.</summary>
public sealed partial class CudaBackend
{
    const string ElementwiseSource = "elementwise.cu";

    /// <summary>
    /// Threads an element-wise kernel needs: one per 16-byte pack (the kernels move 4 floats or
    /// 2 doubles at a time where pointers allow), the loops' grid stride covering the rest.
    /// </summary>
    static int PackThreads<T>(int length) where T : unmanaged
        => (int)(((long)length * Unsafe.SizeOf<T>() + 15) / 16);

    /// <inheritdoc/>
    public void Fill<T>(Tensor<T> y, T value) where T : unmanaged, IFloatingPointIeee754<T>
        => LaunchElements<T>(ElementwiseSource, "fill", PackThreads<T>(y.Length), Ptr(y), Scalar(value), y.Length);

    /// <inheritdoc/>
    public void Copy<T>(Tensor<T> source, Tensor<T> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireSameLength(source.Length, destination.Length);
        if (source.Length == 0) return;
        ulong from = Ptr(source), to = Ptr(destination);
        if (from != to) Context.CopyDeviceToDevice(from, to, (long)source.Length * Unsafe.SizeOf<T>());
    }

    /// <summary>y += alpha * x, fused multiply-adds as the CPU's vector path.</summary>
    public void Axpy<T>(T alpha, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireSameLength(x.Length, y.Length);
        LaunchElements<T>(ElementwiseSource, "axpy", PackThreads<T>(x.Length), Scalar(alpha), Ptr(x), Ptr(y), x.Length);
    }

    /// <inheritdoc/>
    public void Unary<T>(UnaryFunction f, Tensor<T> x, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireSameLength(x.Length, y.Length);
        string kernel = f switch
        {
            UnaryFunction.Relu => "relu",
            UnaryFunction.Sigmoid => "sigmoid",
            _ => throw new NotSupportedException(f.ToString()),
        };
        LaunchElements<T>(ElementwiseSource, kernel, PackThreads<T>(x.Length), Ptr(x), Ptr(y), x.Length);
    }

    /// <inheritdoc/>
    public void UnaryBackward<T>(UnaryFunction f, Tensor<T> y, Tensor<T> dy, Tensor<T> dx, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireSameLength(dy.Length, y.Length);
        RequireSameLength(dy.Length, dx.Length);
        string kernel = f switch
        {
            UnaryFunction.Relu => "relu_backward",
            UnaryFunction.Sigmoid => "sigmoid_backward",
            _ => throw new NotSupportedException(f.ToString()),
        };
        LaunchElements<T>(ElementwiseSource, kernel, PackThreads<T>(y.Length), Ptr(y), Ptr(dy), Ptr(dx), y.Length, accumulate ? 1 : 0);
    }

    /// <summary>y = f(a, b[i mod b.Length]): b repeats along a (the NHWC bias broadcast).</summary>
    public void Binary<T>(BinaryFunction f, Tensor<T> a, Tensor<T> b, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => LaunchBinary(BinaryKernel(f), a, b, y, accumulate: false);

    /// <summary>acc += a * b[i mod b.Length].</summary>
    public void MultiplyAccumulate<T>(Tensor<T> a, Tensor<T> b, Tensor<T> acc) where T : unmanaged, IFloatingPointIeee754<T>
        => LaunchBinary("binary_multiply", a, b, acc, accumulate: true);

    static string BinaryKernel(BinaryFunction f) => f switch
    {
        BinaryFunction.Add => "binary_add",
        BinaryFunction.Subtract => "binary_subtract",
        BinaryFunction.ReverseSubtract => "binary_reverse_subtract",
        BinaryFunction.Multiply => "binary_multiply",
        _ => throw new NotSupportedException(f.ToString()),
    };

    void LaunchBinary<T>(string kernel, Tensor<T> a, Tensor<T> b, Tensor<T> y, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireRepeats(a.Length, b.Length);
        RequireSameLength(a.Length, y.Length);
        if (a.Length == 0) return;
        LaunchElements<T>(ElementwiseSource, kernel, PackThreads<T>(a.Length), Ptr(a), Ptr(b), Ptr(y), a.Length, b.Length, accumulate ? 1 : 0);
    }

    static void RequireSameLength(int a, int b)
    {
        if (a != b) throw new ArgumentException($"length mismatch: {a} vs {b}");
    }

    static void RequireRepeats(int a, int b)
    {
        if (b == 0 ? a != 0 : a % b != 0) throw new ArgumentException($"a broadcast operand of length {b} does not repeat evenly over {a}");
    }
}
