using System.Runtime.InteropServices;

namespace Engine.ResNet.Data;

/// <summary>
/// JPEG through libjpeg-turbo's TurboJPEG 2.x C API (Debian package libturbojpeg0), the
/// same codec family and default settings (accurate integer DCT, smooth chroma
/// upsampling) that Pillow's JPEG decoder uses. EXIF orientation is not applied, as
/// Keras' <c>load_img</c> does not apply it either.
/// </summary>
public static unsafe class TurboJpeg
{
    const string Library = "turbojpeg";
    const string Package = "libturbojpeg0";

    // Values from turbojpeg.h.
    const int PixelFormatRgb = 0;       // TJPF_RGB: 3 bytes per pixel, R G B
    const int Subsampling444 = 0;       // TJSAMP_444: full-resolution chroma
    const int ErrorCodeWarning = 0;     // TJERR_WARNING: the decoder finished but output may be damaged
    const int ColourspaceCmyk = 3;      // TJCS_CMYK
    const int ColourspaceYcck = 4;      // TJCS_YCCK

    static readonly Lazy<string?> LoadFailure = new(() =>
    {
        NativeLibraries.Register(Library, "libturbojpeg.so.0", "libturbojpeg.so");
        return NativeLibraries.TryLoad(Library, out _, out string tried)
            ? null
            : $"libturbojpeg could not be loaded (tried {tried}); JPEG images need it. " +
              $"Install the Debian package {Package} (as root: apt-get install -y {Package}), or give a PNG image.";
    });

    /// <summary>True when libturbojpeg is installed and loads.</summary>
    public static bool IsAvailable => LoadFailure.Value is null;

    static void EnsureLoaded()
    {
        if (LoadFailure.Value is { } message) throw new DllNotFoundException(message);
    }

    /// <summary>
    /// Decodes a whole JPEG file to RGB. <paramref name="name"/> is how the file is named in
    /// error messages. A file that libjpeg can only decode with a warning (most often a
    /// truncated one, which it would pad with grey) is refused like a broken one. Throws
    /// <see cref="ImageFormatException"/> for bad data and <see cref="DllNotFoundException"/>
    /// when libturbojpeg is missing.
    /// </summary>
    public static RgbImage Decode(ReadOnlySpan<byte> jpeg, string name)
    {
        EnsureLoaded();
        var size = new CULong((nuint)jpeg.Length);
        fixed (byte* source = jpeg)
        {
            nint handle = tjInitDecompress();
            if (handle == 0) throw new InvalidOperationException($"libturbojpeg could not start a decompressor: {ErrorText(0)}");
            try
            {
                int width = 0, height = 0, subsampling = 0, colourspace = 0;
                // A header cut short reads as a tables-only stream: success, with no size set.
                if (tjDecompressHeader3(handle, source, size, &width, &height, &subsampling, &colourspace) != 0 || width < 1 || height < 1)
                    throw ImageFormatException.Corrupt(name, $"the JPEG header cannot be read, the file is truncated or corrupt (libjpeg-turbo: {ErrorText(handle)})");
                if (colourspace is ColourspaceCmyk or ColourspaceYcck)
                    throw ImageFormatException.Unsupported(name, "it is a CMYK JPEG (print colours), which is not supported",
                        "Save it as an RGB JPEG or a PNG and try again.");
                if ((long)width * height * 3 > Array.MaxLength)
                    throw ImageFormatException.Unsupported(name, $"the image is too large ({width}x{height} pixels)", "Shrink it first.");

                var pixels = new byte[width * height * 3];
                fixed (byte* destination = pixels)
                {
                    if (tjDecompress2(handle, source, size, destination, width, width * 3, height, PixelFormatRgb, 0) != 0)
                    {
                        string detail = ErrorText(handle);
                        throw ImageFormatException.Corrupt(name, tjGetErrorCode(handle) == ErrorCodeWarning
                            ? $"the JPEG looks truncated or corrupt (libjpeg-turbo: {detail})"
                            : $"the JPEG cannot be decoded (libjpeg-turbo: {detail})");
                    }
                }
                return new RgbImage(width, height, pixels);
            }
            finally
            {
                tjDestroy(handle);
            }
        }
    }

    /// <summary>
    /// Encodes <paramref name="image"/> as a baseline JPEG at <paramref name="quality"/>
    /// (1 to 100) without chroma subsampling (4:4:4), so that colour edges survive.
    /// </summary>
    public static byte[] Encode(RgbImage image, int quality)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        EnsureLoaded();
        nint handle = tjInitCompress();
        if (handle == 0) throw new InvalidOperationException($"libturbojpeg could not start a compressor: {ErrorText(0)}");
        byte* jpeg = null; // allocated by the library, freed with tjFree
        var size = new CULong(0);
        try
        {
            fixed (byte* source = image.Pixels)
            {
                if (tjCompress2(handle, source, image.Width, image.Width * 3, image.Height, PixelFormatRgb,
                        &jpeg, &size, Subsampling444, quality, 0) != 0)
                    throw new InvalidOperationException($"libturbojpeg could not compress a {image.Width}x{image.Height} image: {ErrorText(handle)}");
            }
            return new ReadOnlySpan<byte>(jpeg, checked((int)size.Value)).ToArray();
        }
        finally
        {
            if (jpeg != null) tjFree(jpeg);
            tjDestroy(handle);
        }
    }

    /// <summary>The last error of <paramref name="handle"/> (or of the library, for 0), as TurboJPEG words it.</summary>
    static string ErrorText(nint handle) => Marshal.PtrToStringUTF8((nint)tjGetErrorStr2(handle))?.Trim() ?? "no detail";

    // TurboJPEG 2.x entry points; `unsigned long` sizes are CULong so the binding stays right
    // where long is 32-bit.
    [DllImport(Library)] static extern nint tjInitDecompress();
    [DllImport(Library)] static extern nint tjInitCompress();
    [DllImport(Library)] static extern int tjDestroy(nint handle);
    [DllImport(Library)] static extern int tjDecompressHeader3(nint handle, byte* jpegBuf, CULong jpegSize,
        int* width, int* height, int* jpegSubsamp, int* jpegColorspace);
    [DllImport(Library)] static extern int tjDecompress2(nint handle, byte* jpegBuf, CULong jpegSize,
        byte* dstBuf, int width, int pitch, int height, int pixelFormat, int flags);
    [DllImport(Library)] static extern int tjCompress2(nint handle, byte* srcBuf, int width, int pitch, int height,
        int pixelFormat, byte** jpegBuf, CULong* jpegSize, int jpegSubsamp, int jpegQual, int flags);
    [DllImport(Library)] static extern void tjFree(byte* buffer);
    [DllImport(Library)] static extern byte* tjGetErrorStr2(nint handle);
    [DllImport(Library)] static extern int tjGetErrorCode(nint handle);
}
