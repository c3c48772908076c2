namespace Engine.ResNet.Data;

/// <summary>How <see cref="ImageResize"/> picks output pixels.</summary>
public enum Interpolation
{
    /// <summary>
    /// Pillow's <c>Image.NEAREST</c>, Keras' <c>load_img</c> default: output column x takes
    /// source column floor((x + 0.5) * srcWidth / dstWidth), clamped to the image, and the
    /// same for rows. No averaging, so a large photo shrunk to 64x64 keeps its sharp edges
    /// and its noise.
    /// </summary>
    Nearest,

    /// <summary>
    /// Pillow's <c>Image.BILINEAR</c> as <c>Image.resize</c> applies it: a separable triangle
    /// filter whose support widens by the shrink factor when downscaling (so a 3024-pixel
    /// photo shrunk to 64 is averaged over ~47 source pixels per output pixel, i.e.
    /// antialiased), with Pillow's fixed-point weights and rounding, horizontal pass first.
    /// When upscaling it is plain bilinear interpolation between pixel centres.
    /// </summary>
    Bilinear,
}

/// <summary>Resampling of <see cref="RgbImage"/>s to a model's input size, the way Pillow does it.</summary>
public static class ImageResize
{
    /// <summary>
    /// <paramref name="image"/> resampled to <paramref name="height"/> x <paramref name="width"/>.
    /// The same size gives a copy, unresampled (Pillow returns a copy there too).
    /// </summary>
    public static RgbImage Resize(RgbImage image, int height, int width, Interpolation interpolation = Interpolation.Nearest)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (height == image.Height && width == image.Width)
            return new RgbImage(width, height, (byte[])image.Pixels.Clone());
        return interpolation switch
        {
            Interpolation.Nearest => Nearest(image, height, width),
            Interpolation.Bilinear => Bilinear(image, height, width),
            _ => throw new ArgumentOutOfRangeException(nameof(interpolation), interpolation, "unknown interpolation"),
        };
    }

    /// <summary>
    /// Source index for each output index under Pillow's nearest rule. Pillow walks the
    /// source coordinate as a running double sum (start at scale / 2, add scale per step)
    /// rather than computing (i + 0.5) * scale afresh; the two can land on opposite sides
    /// of an integer, so the sum is reproduced as is to pick the same pixels.
    /// </summary>
    public static int[] NearestIndices(int sourceSize, int targetSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sourceSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetSize, 1);
        double scale = (double)sourceSize / targetSize;
        double position = scale * 0.5;
        var index = new int[targetSize];
        for (int i = 0; i < targetSize; i++)
        {
            index[i] = Math.Clamp((int)position, 0, sourceSize - 1); // position >= 0: the cast floors
            position += scale;
        }
        return index;
    }

    static RgbImage Nearest(RgbImage image, int height, int width)
    {
        int[] columns = NearestIndices(image.Width, width);
        int[] rows = NearestIndices(image.Height, height);
        var src = image.Pixels;
        var dst = new byte[checked(width * height * 3)];
        for (int y = 0; y < height; y++)
        {
            int srcRow = rows[y] * image.Width * 3, dstRow = y * width * 3;
            for (int x = 0; x < width; x++)
            {
                int s = srcRow + columns[x] * 3, d = dstRow + x * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(width, height, dst);
    }

    // Pillow keeps 8-bit weights in 32-bit integers with this many fraction bits: enough
    // headroom for sums of 255 * weight without overflow.
    const int PrecisionBits = 32 - 8 - 2;

    static RgbImage Bilinear(RgbImage image, int height, int width)
    {
        var horizontal = Weights.Triangle(image.Width, width);
        var vertical = Weights.Triangle(image.Height, height);
        bool needHorizontal = width != image.Width, needVertical = height != image.Height;

        // Only the source rows the vertical pass reads go through the horizontal pass.
        int firstRow = vertical.Start[0];
        int endRow = vertical.Start[height - 1] + vertical.Count[height - 1];

        byte[] pixels = image.Pixels;
        int rows = image.Height, rowOffset = 0;
        if (needHorizontal)
        {
            rows = endRow - firstRow;
            var temp = new byte[checked(width * rows * 3)];
            for (int y = 0; y < rows; y++)
                Convolve(pixels, (y + firstRow) * image.Width * 3, 3, horizontal, 0, temp, y * width * 3, 3, width);
            pixels = temp;
            rowOffset = firstRow;
        }
        if (!needVertical) return new RgbImage(width, height, pixels);

        var dst = new byte[checked(width * height * 3)];
        int stride = width * 3;
        for (int x = 0; x < width; x++) // a column is a line whose step is one image row
            Convolve(pixels, x * 3, stride, vertical, rowOffset, dst, x * 3, stride, height);
        return new RgbImage(width, height, dst);
    }

    /// <summary>
    /// One line of RGB pixels (step bytes apart) resampled with fixed-point weights, each
    /// channel rounded half up and clamped to a byte, as Pillow does per pass.
    /// <paramref name="startOffset"/> is the index of the line's first pixel in the weights'
    /// source numbering (the vertical pass reads only the rows the horizontal pass made).
    /// </summary>
    static void Convolve(byte[] src, int srcStart, int srcStep, Weights w, int startOffset, byte[] dst, int dstStart, int dstStep, int outSize)
    {
        const int half = 1 << (PrecisionBits - 1);
        for (int o = 0; o < outSize; o++)
        {
            int r = half, g = half, b = half;
            int first = w.Start[o] - startOffset, count = w.Count[o], k = o * w.KernelSize;
            for (int i = 0; i < count; i++)
            {
                int s = srcStart + (first + i) * srcStep, weight = w.Fixed[k + i];
                r += src[s] * weight;
                g += src[s + 1] * weight;
                b += src[s + 2] * weight;
            }
            int d = dstStart + o * dstStep;
            dst[d] = ToByte(r);
            dst[d + 1] = ToByte(g);
            dst[d + 2] = ToByte(b);
        }
    }

    static byte ToByte(int fixedPoint) => (byte)Math.Clamp(fixedPoint >> PrecisionBits, 0, 255);

    /// <summary>Per output index: the first source index, how many follow, and their weights.</summary>
    sealed class Weights
    {
        public required int[] Start, Count, Fixed;
        public required int KernelSize;

        /// <summary>
        /// Triangle (bilinear) weights for resampling <paramref name="inSize"/> samples to
        /// <paramref name="outSize"/>: output i is centred on source coordinate
        /// (i + 0.5) * scale, and when shrinking the triangle is stretched by the scale so
        /// that every source pixel contributes (Pillow's antialiasing).
        /// </summary>
        public static Weights Triangle(int inSize, int outSize)
        {
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = 1.0 * filterScale; // the triangle's half-width is one pixel
            double inverse = 1.0 / filterScale; // multiplied, not divided by: Pillow's rounding
            int kernelSize = (int)Math.Ceiling(support) * 2 + 1;
            var start = new int[outSize];
            var count = new int[outSize];
            var fixedWeights = new int[outSize * kernelSize];
            var weights = new double[kernelSize];
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale;
                // Truncating casts, as in Pillow: they round these to the nearest index.
                int lo = Math.Max((int)(center - support + 0.5), 0);
                int hi = Math.Min((int)(center + support + 0.5), inSize);
                int n = hi - lo;
                double total = 0;
                for (int i = 0; i < n; i++)
                {
                    // Distance from the output centre to source pixel (lo + i)'s centre, in filter units.
                    double t = Math.Abs((lo + i - center + 0.5) * inverse);
                    weights[i] = t < 1 ? 1 - t : 0;
                    total += weights[i];
                }
                for (int i = 0; i < n; i++)
                {
                    double normalised = total != 0 ? weights[i] / total : weights[i];
                    // Weights are never negative for a triangle; round half up to fixed point.
                    fixedWeights[o * kernelSize + i] = (int)(0.5 + normalised * (1 << PrecisionBits));
                }
                start[o] = lo;
                count[o] = n;
            }
            return new Weights { Start = start, Count = count, Fixed = fixedWeights, KernelSize = kernelSize };
        }
    }
}
