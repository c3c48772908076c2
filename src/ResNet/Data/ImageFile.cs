using Engine.Tensors;

namespace Engine.ResNet.Data;

/// <summary>
/// A photo file to a model input, as the assignment's "test with your own image" step does
/// it in Keras: <c>load_img(path, target_size=(64, 64))</c>, <c>img_to_array</c>, divide by
/// 255, add a batch axis.
/// </summary>
public static class ImageFile
{
    const string GiveJpegOrPng = "Give a JPEG (.jpg) or PNG (.png) image.";

    /// <summary>
    /// Reads a JPEG or PNG file to 8-bit RGB. The format is told by the file's first bytes
    /// (JPEG FF D8 FF, PNG 89 'PNG' 0D 0A 1A 0A), not by its extension. Every problem with
    /// the file is an <see cref="ImageFormatException"/> whose message names it.
    /// </summary>
    public static RgbImage Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Decode(ReadAll(path), path);
    }

    /// <summary>The bytes of an image file, already in memory; <paramref name="name"/> names it in messages.</summary>
    public static RgbImage Decode(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.IsEmpty)
            throw new ImageFormatException(name, "the file is empty (0 bytes)", GiveJpegOrPng);
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
            return TurboJpeg.Decode(bytes, name);
        // Four bytes are enough to know a PNG was meant; Png reports a damaged rest of the signature.
        if (bytes.StartsWith(Png.Signature[..4]))
            return Png.Decode(bytes, name);
        throw new ImageFormatException(name, $"it is not a JPEG or PNG image: {Describe(bytes)}", GiveJpegOrPng);
    }

    /// <summary>
    /// <see cref="Load"/>, resized to <paramref name="height"/> x <paramref name="width"/>
    /// (nearest by default, Keras' default), as a [1, height, width, 3] model input scaled to [0, 1].
    /// </summary>
    public static Tensor<float> LoadModelInput(string path, int height = 64, int width = 64, Interpolation interpolation = Interpolation.Nearest) =>
        ToModelInput(Load(path).Resize(height, width, interpolation));

    /// <summary>
    /// <paramref name="image"/> as one NHWC sample [1, H, W, 3] of float32, each byte divided
    /// by 255: the scaling the SIGNS training images get, which a photo must match for its
    /// prediction to mean anything.
    /// </summary>
    public static Tensor<float> ToModelInput(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var tensor = Tensor<float>.Empty(new Shape(1, image.Height, image.Width, 3));
        var values = tensor.Span;
        var bytes = image.Pixels;
        for (int i = 0; i < bytes.Length; i++) values[i] = bytes[i] / 255f; // float32 division, as NumPy does on float32 arrays
        return tensor;
    }

    static byte[] ReadAll(string path)
    {
        if (Directory.Exists(path))
            throw new ImageFormatException(path, "it is a directory, not an image file", "Give the path of one image file.");
        if (!File.Exists(path))
            throw new ImageFormatException(path, "the file does not exist",
                $"Check the path (relative paths start from {Directory.GetCurrentDirectory()}).");
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageFormatException(path, $"the file cannot be read ({e.Message.TrimEnd('.')})", "Check its permissions.", e);
        }
    }

    /// <summary>What the first bytes of an unrecognised file suggest it is.</summary>
    static string Describe(ReadOnlySpan<byte> bytes)
    {
        static bool At(ReadOnlySpan<byte> b, int offset, string ascii)
        {
            if (b.Length < offset + ascii.Length) return false;
            for (int i = 0; i < ascii.Length; i++)
                if (b[offset + i] != ascii[i]) return false;
            return true;
        }

        // Formats people's photos come in that the decoders do not read.
        if (At(bytes, 4, "ftypheic") || At(bytes, 4, "ftypheix") || At(bytes, 4, "ftypmif1") || At(bytes, 4, "ftyphevc"))
            return "it is a HEIC/HEIF photo (the iPhone format); convert it to JPEG first";
        if (At(bytes, 4, "ftypavif")) return "it is an AVIF image; convert it to JPEG or PNG first";
        if (At(bytes, 0, "RIFF") && At(bytes, 8, "WEBP")) return "it is a WebP image; convert it to JPEG or PNG first";
        if (At(bytes, 0, "GIF8")) return "it is a GIF image; convert it to PNG first";
        if (At(bytes, 0, "BM")) return "it looks like a BMP image; convert it to PNG first";
        if (At(bytes, 0, "II*\0") || At(bytes, 0, "MM\0*")) return "it is a TIFF image; convert it to JPEG or PNG first";

        var head = bytes[..Math.Min(bytes.Length, 64)];
        int printable = 0;
        foreach (byte b in head)
            if (b is (>= 0x20 and < 0x7F) or (byte)'\n' or (byte)'\r' or (byte)'\t') printable++;
        if (printable == head.Length)
            return "it looks like a text file";
        return $"it starts with bytes {Convert.ToHexString(bytes[..Math.Min(bytes.Length, 8)])}";
    }
}
