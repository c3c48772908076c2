using System.Numerics;
using Engine.Autograd;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>
/// Keras Conv2D: x [N,H,W,C] -> [N,H',W',filters]. Kernel [KH,KW,C,filters] (HWIO, as
/// Keras stores it) initialised glorot_uniform from the seed, bias zeros; padding "valid"
/// or "same" (TensorFlow's rule); activation "linear" (none, the default), "relu",
/// "sigmoid" or "softmax" (over the filters), as Keras' activation argument.
/// </summary>
public sealed class Conv2D<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Conv2D(int filters, (int H, int W) kernelSize, (int H, int W) strides = default, string padding = "valid",
        bool useBias = true, ulong seed = 0, string? name = null, string activation = "linear") : base(name, "conv2d")
    {
        if (filters < 1) throw new ArgumentOutOfRangeException(nameof(filters), "Conv2D needs at least one filter");
        if (kernelSize.H < 1 || kernelSize.W < 1) throw new ArgumentOutOfRangeException(nameof(kernelSize), $"kernel size {kernelSize}");
        if (strides == default) strides = (1, 1);
        if (strides.H < 1 || strides.W < 1) throw new ArgumentOutOfRangeException(nameof(strides), $"strides {strides}");
        if (padding is not ("valid" or "same")) throw new ArgumentException($"padding must be 'valid' or 'same', not '{padding}'");
        (Filters, KernelSize, Strides, Padding, UseBias, Seed) = (filters, kernelSize, strides, padding, useBias, seed);
        ActivationName = Activation<T>.Validate(activation);
    }

    /// <summary>Square kernel and stride, as the assignment writes them: Conv2D(64, 7, 2).</summary>
    public Conv2D(int filters, int kernelSize, int strides = 1, string padding = "valid", bool useBias = true, ulong seed = 0, string? name = null,
        string activation = "linear")
        : this(filters, (kernelSize, kernelSize), (strides, strides), padding, useBias, seed, name, activation) { }

    public int Filters { get; }
    public (int H, int W) KernelSize { get; }
    public (int H, int W) Strides { get; }
    public string Padding { get; }
    public bool UseBias { get; }
    /// <summary>The kernel initializer's seed (Keras' kernel_initializer seed).</summary>
    public ulong Seed { get; }
    /// <summary>The activation applied after the convolution: "linear" (none), "relu", "sigmoid", "softmax".</summary>
    public string ActivationName { get; }
    public Variable<T> Kernel { get; private set; } = null!;
    public Variable<T>? Bias { get; private set; }

    protected override void Build(Shape inputShape)
    {
        if (inputShape.Rank != 4) throw new ArgumentException($"{Name}: Conv2D needs [N,H,W,C] input, got {inputShape}");
        var shape = new Shape(KernelSize.H, KernelSize.W, inputShape[3], Filters);
        Kernel = AddParameter("kernel", Initializers.GlorotUniform<T>(shape, new Rng(Seed)));
        if (UseBias) Bias = AddParameter("bias", Tensor<T>.Zeros(new Shape(Filters)));
    }

    protected override Variable<T> Forward(Variable<T> x) =>
        Activation<T>.Apply(ActivationName, Ops.Conv2D(x, Kernel, Bias, Strides.H, Strides.W, Padding));

    public override Shape OutputShape(Shape inputShape)
    {
        if (inputShape.Rank != 4) throw new ArgumentException($"{Name}: Conv2D needs [N,H,W,C] input, got {inputShape}");
        if (IsBuilt && inputShape[3] != Kernel.Shape[2]) throw new ArgumentException($"{Name}: built for {Kernel.Shape[2]} input channels, got {inputShape}");
        var g = Kernels.ConvGeometry.Create(inputShape[0], inputShape[1], inputShape[2], inputShape[3], KernelSize.H, KernelSize.W, Strides.H, Strides.W, Padding);
        return new Shape(inputShape[0], g.OutHeight, g.OutWidth, Filters);
    }
}
