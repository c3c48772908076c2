namespace Engine.ResNet.Data;

/// <summary>
/// An 8-bit RGB image in memory: rows top to bottom, pixels left to right, three bytes
/// (R, G, B) per pixel with no row padding, the layout of a Keras/PIL "RGB" image and of
/// one NHWC sample.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }
    public int Height { get; }

    /// <summary>Width * Height * 3 bytes, R G B interleaved, row-major.</summary>
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentNullException.ThrowIfNull(pixels);
        if ((long)width * height * 3 != pixels.Length)
            throw new ArgumentException($"{pixels.Length} bytes do not hold a {width}x{height} RGB image ({(long)width * height * 3} needed)", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>The pixel at column <paramref name="x"/>, row <paramref name="y"/> (0, 0 is top left).</summary>
    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
                throw new ArgumentOutOfRangeException(nameof(x), $"pixel ({x}, {y}) is outside a {Width}x{Height} image");
            int i = (y * Width + x) * 3;
            return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
        }
    }

    /// <summary>
    /// This image resampled to <paramref name="height"/> rows by <paramref name="width"/>
    /// columns (height first, as in Keras' <c>target_size</c>). Nearest, the default, is what
    /// <c>keras.preprocessing.image.load_img(path, target_size=...)</c> does. An image that
    /// already has the size is returned as a copy, as PIL does.
    /// </summary>
    public RgbImage Resize(int height, int width, Interpolation interpolation = Interpolation.Nearest) =>
        ImageResize.Resize(this, height, width, interpolation);
}
