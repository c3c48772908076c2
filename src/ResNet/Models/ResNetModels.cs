using System.Numerics;
using Engine.Layers;
using Engine.Tensors;

namespace Engine.ResNet.Models;

/// <summary>
/// The Residual Networks assignment's builders, as functional graphs with Keras' layer names:
/// the stem (conv1, bn_conv1), bottleneck blocks res{stage}{block}_branch2a/2b/2c with
/// bn{stage}{block}_branch..., projection shortcuts _branch1, then avg_pool and fc{classes}.
/// Every convolution is initialised glorot_uniform with seed 0, as the assignment asks.
/// </summary>
public static class ResNetModels
{
    /// <summary>
    /// The identity block: 1x1 -> f x f 'same' -> 1x1 convolutions (each with batch norm, ReLU
    /// after the first two), added to the unchanged input, then ReLU. The input must already
    /// have filters[2] channels.
    /// x: [N,H,W,filters[2]] -> [N,H,W,filters[2]].
    /// </summary>
    public static SymbolicTensor<T> IdentityBlock<T>(SymbolicTensor<T> x, int f, int[] filters, int stage, string block)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFilters(filters, 3);
        if (x.SampleShape[-1] != filters[2])
            throw new ArgumentException($"identity block {stage}{block}: input has {x.SampleShape[-1]} channels, the block outputs {filters[2]}; use a convolutional block");
        var (conv, bn) = Names(stage, block);
        var shortcut = x;
        x = ConvBn(x, filters[0], 1, 1, "valid", conv + "2a", bn + "2a", relu: true);
        x = ConvBn(x, filters[1], f, 1, "same", conv + "2b", bn + "2b", relu: true);
        x = ConvBn(x, filters[2], 1, 1, "valid", conv + "2c", bn + "2c", relu: false);
        return new Activation<T>("relu").Call(new Add<T>().Call(x, shortcut));
    }

    /// <summary>
    /// The convolutional block: the identity block's main path with its first 1x1 convolution
    /// strided by s, and a 1x1 / s convolution with batch norm on the shortcut, so the two
    /// match in shape. x: [N,H,W,C] -> [N,ceil(H/s),ceil(W/s),filters[2]] (for the 'valid' 1x1 / s
    /// convolutions: floor((H-1)/s)+1).
    /// </summary>
    public static SymbolicTensor<T> ConvolutionalBlock<T>(SymbolicTensor<T> x, int f, int[] filters, int stage, string block, int s = 2)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckFilters(filters, 3);
        var (conv, bn) = Names(stage, block);
        var shortcut = x;
        x = ConvBn(x, filters[0], 1, s, "valid", conv + "2a", bn + "2a", relu: true);
        x = ConvBn(x, filters[1], f, 1, "same", conv + "2b", bn + "2b", relu: true);
        x = ConvBn(x, filters[2], 1, 1, "valid", conv + "2c", bn + "2c", relu: false);
        shortcut = ConvBn(shortcut, filters[2], 1, s, "valid", conv + "1", bn + "1", relu: false);
        return new Activation<T>("relu").Call(new Add<T>().Call(x, shortcut));
    }

    /// <summary>
    /// ResNet-18 / 34's basic block: two f x f 'same' convolutions (the first strided by s),
    /// each with batch norm, ReLU after the first; the shortcut is the input, or a 1x1 / s
    /// convolution with batch norm when the shape changes. x: [N,H,W,C] -> [N,H/s,W/s,filters].
    /// </summary>
    public static SymbolicTensor<T> BasicBlock<T>(SymbolicTensor<T> x, int f, int filters, int stage, string block, int s = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (conv, bn) = Names(stage, block);
        var shortcut = x;
        x = ConvBn(x, filters, f, s, "same", conv + "2a", bn + "2a", relu: true);
        x = ConvBn(x, filters, f, 1, "same", conv + "2b", bn + "2b", relu: false);
        if (s != 1 || shortcut.SampleShape[-1] != filters)
            shortcut = ConvBn(shortcut, filters, 1, s, "valid", conv + "1", bn + "1", relu: false);
        return new Activation<T>("relu").Call(new Add<T>().Call(x, shortcut));
    }

    /// <summary>
    /// ResNet-50 as the assignment lays it out, for inputs like SIGNS' 64x64x3:
    /// ZeroPadding2D(3) -> conv1 7x7/2 -> bn_conv1 -> ReLU -> MaxPooling2D 3x3/2; stages 2-5 of
    /// [3, 4, 6, 3] bottleneck blocks with filters [64,64,256] ... [512,512,2048];
    /// AveragePooling2D 2x2 "avg_pool" -> Flatten -> Dense(classes, softmax) "fc{classes}".
    /// </summary>
    public static Model<T> ResNet50<T>((int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => Bottleneck<T>("resnet50", inputShape, classes, [3, 4, 6, 3], assignmentStage5: false);

    /// <summary>
    /// ResNet-50 exactly as the assignment's text builds it: its stage-5 identity blocks use
    /// filters [256, 256, 2048] (the summary it prints totals 17,958,790 parameters).
    /// </summary>
    public static Model<T> ResNet50AsInTheAssignment<T>((int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => Bottleneck<T>("resnet50_assignment", inputShape, classes, [3, 4, 6, 3], assignmentStage5: true);

    /// <summary>ResNet-101: bottleneck stages of [3, 4, 23, 3] blocks.</summary>
    public static Model<T> ResNet101<T>((int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => Bottleneck<T>("resnet101", inputShape, classes, [3, 4, 23, 3], assignmentStage5: false);

    /// <summary>ResNet-152: bottleneck stages of [3, 8, 36, 3] blocks.</summary>
    public static Model<T> ResNet152<T>((int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => Bottleneck<T>("resnet152", inputShape, classes, [3, 8, 36, 3], assignmentStage5: false);

    /// <summary>ResNet-18: basic-block stages of [2, 2, 2, 2] with 64, 128, 256, 512 filters.</summary>
    public static Model<T> ResNet18<T>((int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => Basic<T>("resnet18", inputShape, classes, [2, 2, 2, 2]);

    /// <summary>ResNet-34: basic-block stages of [3, 4, 6, 3].</summary>
    public static Model<T> ResNet34<T>((int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => Basic<T>("resnet34", inputShape, classes, [3, 4, 6, 3]);

    /// <summary>The models <see cref="Create{T}"/> knows, by the name the command line uses.</summary>
    public static IReadOnlyList<string> ModelNames { get; } = ["resnet50", "resnet50-assignment", "resnet101", "resnet152", "resnet18", "resnet34"];

    /// <summary>A model by name (see <see cref="ModelNames"/>).</summary>
    public static Model<T> Create<T>(string name, (int H, int W, int C)? inputShape = null, int classes = 6) where T : unmanaged, IFloatingPointIeee754<T>
        => name.ToLowerInvariant() switch
        {
            "resnet50" => ResNet50<T>(inputShape, classes),
            "resnet50-assignment" => ResNet50AsInTheAssignment<T>(inputShape, classes),
            "resnet101" => ResNet101<T>(inputShape, classes),
            "resnet152" => ResNet152<T>(inputShape, classes),
            "resnet18" => ResNet18<T>(inputShape, classes),
            "resnet34" => ResNet34<T>(inputShape, classes),
            _ => throw new ArgumentException($"unknown model '{name}'; choose one of {string.Join(", ", ModelNames)}"),
        };

    static Model<T> Bottleneck<T>(string name, (int H, int W, int C)? inputShape, int classes, int[] blocks, bool assignmentStage5)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (input, x) = Stem<T>(inputShape, classes);
        for (int stage = 0; stage < 4; stage++)
        {
            int width = 64 << stage;
            int[] filters = [width, width, 4 * width];
            x = ConvolutionalBlock(x, 3, filters, stage + 2, BlockName(0, blocks[stage]), s: stage == 0 ? 1 : 2);
            if (assignmentStage5 && stage == 3) filters = [256, 256, 2048];
            for (int b = 1; b < blocks[stage]; b++) x = IdentityBlock(x, 3, filters, stage + 2, BlockName(b, blocks[stage]));
        }
        return Head(name, input, x, classes);
    }

    static Model<T> Basic<T>(string name, (int H, int W, int C)? inputShape, int classes, int[] blocks) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (input, x) = Stem<T>(inputShape, classes);
        for (int stage = 0; stage < 4; stage++)
            for (int b = 0; b < blocks[stage]; b++)
                x = BasicBlock(x, 3, 64 << stage, stage + 2, BlockName(b, blocks[stage]), s: stage > 0 && b == 0 ? 2 : 1);
        return Head(name, input, x, classes);
    }

    static (SymbolicTensor<T> Input, SymbolicTensor<T> X) Stem<T>((int H, int W, int C)? inputShape, int classes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (h, w, c) = inputShape ?? (64, 64, 3);
        if (h < 1 || w < 1 || c < 1) throw new ArgumentException($"input shape ({h}, {w}, {c}): every dimension must be at least 1");
        if (classes < 1) throw new ArgumentException($"classes must be at least 1, got {classes}");
        var input = Functional.Input<T>(new Shape(h, w, c));
        var x = new ZeroPadding2D<T>((3, 3)).Call(input);
        x = new Conv2D<T>(64, 7, strides: 2, seed: 0, name: "conv1").Call(x);
        x = new BatchNormalization<T>(name: "bn_conv1").Call(x);
        x = new Activation<T>("relu").Call(x);
        x = new MaxPooling2D<T>(3, strides: 2).Call(x);
        return (input, x);
    }

    static Model<T> Head<T>(string name, SymbolicTensor<T> input, SymbolicTensor<T> x, int classes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        x = new AveragePooling2D<T>(2, name: "avg_pool").Call(x);
        x = new Flatten<T>().Call(x);
        x = new Dense<T>(classes, "softmax", seed: 0, name: $"fc{classes}").Call(x);
        return new Model<T>(input, x, name);
    }

    static SymbolicTensor<T> ConvBn<T>(SymbolicTensor<T> x, int filters, int kernel, int stride, string padding, string convName, string bnName, bool relu)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        x = new Conv2D<T>(filters, kernel, stride, padding, seed: 0, name: convName).Call(x);
        x = new BatchNormalization<T>(name: bnName).Call(x);
        return relu ? new Activation<T>("relu").Call(x) : x;
    }

    static (string Conv, string Bn) Names(int stage, string block) => ($"res{stage}{block}_branch", $"bn{stage}{block}_branch");

    /// <summary>Blocks a, b, c, ... as in the assignment; in stages of more than 6 blocks (ResNet-101 / 152) a, b1, b2, ... as in the original Caffe models.</summary>
    static string BlockName(int index, int blocksInStage) =>
        blocksInStage <= 6 ? ((char)('a' + index)).ToString() : index == 0 ? "a" : $"b{index}";

    static void CheckFilters(int[] filters, int count)
    {
        if (filters.Length != count || filters.Any(f => f < 1)) throw new ArgumentException($"filters must be {count} positive numbers, got [{string.Join(", ", filters)}]");
    }
}
