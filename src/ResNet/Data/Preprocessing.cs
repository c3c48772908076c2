using Engine.Tensors;

namespace Engine.ResNet.Data;

/// <summary>The course's two preprocessing steps: <c>X / 255.</c> and <c>convert_to_one_hot</c>.</summary>
public static class Preprocessing
{
    // b / 255f for every byte: the correctly rounded quotient, the same value NumPy's
    // float32(X / 255.) gives for all 256 inputs, looked up instead of divided.
    static readonly float[] PixelScale = Enumerable.Range(0, 256).Select(b => b / 255f).ToArray();

    /// <summary>Pixels 0..255 as floats in [0, 1] (Keras: <c>X_train = X_train_orig / 255.</c>).</summary>
    public static Tensor<float> ScalePixels(ReadOnlySpan<byte> pixels, Shape shape)
    {
        if (pixels.Length != shape.Size) throw new ArgumentException($"{pixels.Length} pixels do not fill shape {shape}");
        var x = Tensor<float>.Empty(shape);
        ScalePixels(pixels, x.Span);
        return x;
    }

    /// <summary>Writes pixel / 255 for each pixel into <paramref name="destination"/>.</summary>
    public static void ScalePixels(ReadOnlySpan<byte> pixels, Span<float> destination)
    {
        if (destination.Length != pixels.Length) throw new ArgumentException($"{pixels.Length} pixels, {destination.Length} destination elements");
        var scale = PixelScale;
        for (int i = 0; i < pixels.Length; i++) destination[i] = scale[pixels[i]];
    }

    /// <summary>
    /// One row per label with a 1 in the label's column: [N, classes]. The course's
    /// <c>convert_to_one_hot(Y, C)</c> gives [C, N] and the notebook transposes it; this gives
    /// the transposed form directly.
    /// </summary>
    public static Tensor<float> ConvertToOneHot(ReadOnlySpan<int> labels, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        var y = Tensor<float>.Zeros(new Shape(labels.Length, classes));
        var span = y.Span;
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
            {
                y.Dispose();
                throw new ArgumentOutOfRangeException(nameof(labels), $"label {labels[i]} at row {i} is outside 0..{classes - 1}");
            }
            span[i * classes + labels[i]] = 1;
        }
        return y;
    }
}
