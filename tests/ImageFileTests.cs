using Engine.ResNet.Data;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Reading a user's photo into a model input: the PNG decoder on files made here (every
/// colour type, bit depth and filter), JPEG through libturbojpeg, Pillow's resize rules,
/// the [1, H, W, 3] / 255 tensor, and one clear message, naming the file, for each way a
/// file can be bad.
/// </summary>
public class ImageFileTests
{
    string _dir = "";

    [SetUp]
    public void CreateFolder()
    {
        _dir = Path.Combine(Path.GetTempPath(), "engine-image-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveFolder()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Loading <paramref name="path"/> fails with a message naming it and containing <paramref name="fragment"/>.</summary>
    static ImageFormatException AssertRejected(string path, string fragment)
    {
        var e = Assert.Throws<ImageFormatException>(() => ImageFile.Load(path))!;
        Assert.That(e.Message, Does.Contain(path), "the message names the file");
        Assert.That(e.Message, Does.Contain(fragment).IgnoreCase, "the message says what is wrong");
        Assert.That(e.FileName, Is.EqualTo(path));
        return e;
    }

    static byte[] RandomBytes(int n, ulong seed)
    {
        var rng = new Engine.Tensors.Rng(seed);
        var bytes = new byte[n];
        for (int i = 0; i < n; i++) bytes[i] = (byte)Math.Min(255, (int)(rng.NextDouble() * 256));
        return bytes;
    }

    static void AssertPixels(RgbImage image, int width, int height, byte[] expected, string what)
    {
        Assert.That((image.Width, image.Height), Is.EqualTo((width, height)), $"{what}: size");
        Assert.That(image.Pixels, Is.EqualTo(expected), $"{what}: pixels");
    }

    // ---- PNG -------------------------------------------------------------------------

    [Test]
    public void TestEncoderCrcIsTheStandardOne()
    {
        // The check value of CRC-32, and the CRC every PNG's empty IEND chunk carries.
        Assert.That(PngWriter.Crc32("123456789"u8), Is.EqualTo(0xCBF43926u));
        Assert.That(PngWriter.Chunk("IEND", [])[^4..], Is.EqualTo(new byte[] { 0xAE, 0x42, 0x60, 0x82 }));
    }

    [TestCase(0), TestCase(1), TestCase(2), TestCase(3), TestCase(4)]
    public void EachFilterTypeDecodesToTheEncodedPixels(int filter)
    {
        const int w = 7, h = 5;
        var rgb = RandomBytes(w * h * 3, (ulong)(10 + filter));
        var png = PngWriter.Encode(w, h, PngWriter.Rgb, 8, rgb, [filter]);
        AssertPixels(Png.Decode(png, "f.png"), w, h, rgb, $"filter {filter}");
    }

    [Test]
    public void MixedFiltersOnRgbaAndGreyAlphaRoundTrip()
    {
        const int w = 9, h = 10;
        var rgba = RandomBytes(w * h * 4, 20);
        var png = PngWriter.Encode(w, h, PngWriter.Rgba, 8, rgba, [4, 3, 2, 1, 0]);
        var expected = new byte[w * h * 3];
        for (int p = 0; p < w * h; p++)
            for (int c = 0; c < 3; c++) expected[3 * p + c] = rgba[4 * p + c];
        AssertPixels(Png.Decode(png, "rgba.png"), w, h, expected, "RGBA, alpha dropped");
    }

    /// <summary>
    /// Filtered bytes worked out by hand, so that a mistake shared by the test encoder and
    /// the decoder cannot hide: an Average whose left + above exceeds 255, and Paeth picking
    /// each of left, above and upper-left, including the ties the standard breaks toward
    /// left, then above.
    /// </summary>
    [Test]
    public void HandFilteredRowsDecode()
    {
        byte[] filtered =
        [
            0, 200, 100, 50, 60, 250, 10,   // None
            3, 80, 206, 30, 30, 166, 0,     // Average: 90 - (180 + 100) / 2 = -50 -> 206
            4, 86, 78, 236, 40, 50, 199,    // Paeth: above, left, above, left (tie with upper-left), above (tie), upper-left
            1, 250, 10, 250, 6, 0, 1,       // Sub, wrapping past 255
            2, 10, 255, 0, 252, 1, 2,       // Up, wrapping past 255
        ];
        byte[] grey =
        [
            200, 100, 50, 60, 250, 10,
            180, 90, 100, 110, 90, 50,
            10, 88, 80, 120, 140, 33,
            250, 4, 254, 4, 4, 5,
            4, 3, 254, 0, 5, 7,
        ];
        var png = PngWriter.Assemble(
            PngWriter.Chunk("IHDR", PngWriter.Header(6, 5, 8, PngWriter.Grey)),
            PngWriter.Chunk("IDAT", PngWriter.Zlib(filtered)),
            PngWriter.Chunk("IEND", []));
        AssertPixels(Png.Decode(png, "hand.png"), 6, 5, Replicate(grey), "hand-filtered grey");
    }

    static byte[] Replicate(byte[] grey)
    {
        var rgb = new byte[grey.Length * 3];
        for (int i = 0; i < grey.Length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey[i];
        return rgb;
    }

    [Test]
    public void GreyAndGreyAlphaReplicateTheGreyLevel()
    {
        const int w = 5, h = 4;
        var grey = RandomBytes(w * h, 30);
        AssertPixels(Png.Decode(PngWriter.Encode(w, h, PngWriter.Grey, 8, grey, [0, 1, 2, 3, 4]), "g.png"), w, h, Replicate(grey), "grey 8");

        var greyAlpha = RandomBytes(w * h * 2, 31);
        var levels = new byte[w * h];
        for (int p = 0; p < w * h; p++) levels[p] = greyAlpha[2 * p];
        AssertPixels(Png.Decode(PngWriter.Encode(w, h, PngWriter.GreyAlpha, 8, greyAlpha, [4, 1]), "ga.png"), w, h, Replicate(levels), "grey+alpha 8");
    }

    [Test]
    public void SixteenBitSamplesKeepTheirHighByte()
    {
        const int w = 3, h = 3;
        foreach (int colour in new[] { PngWriter.Grey, PngWriter.GreyAlpha, PngWriter.Rgb, PngWriter.Rgba })
        {
            int channels = PngWriter.Channels(colour);
            var samples = RandomBytes(w * h * channels * 2, (ulong)(40 + colour));
            var expected = new byte[w * h * 3];
            for (int p = 0; p < w * h; p++)
                for (int c = 0; c < 3; c++)
                {
                    int channel = channels >= 3 ? c : 0; // grey feeds R, G and B
                    expected[3 * p + c] = samples[(p * channels + channel) * 2]; // big-endian: high byte first
                }
            var png = PngWriter.Encode(w, h, colour, 16, samples, [1, 4, 3]);
            AssertPixels(Png.Decode(png, "16.png"), w, h, expected, $"16-bit colour type {colour}");
        }
    }

    [Test]
    public void PaletteEntriesExpandAtEveryBitDepth()
    {
        byte[] palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 200, 201, 202];
        int entries = palette.Length / 3;
        foreach (int depth in new[] { 1, 2, 4, 8 })
        {
            const int w = 11, h = 3; // 11 is not a multiple of 8, 4 or 2: rows end in padding bits
            int usable = Math.Min(entries, 1 << depth);
            var indices = new int[w * h];
            for (int p = 0; p < indices.Length; p++) indices[p] = (p * 5 + p / w) % usable;
            var png = PngWriter.Encode(w, h, PngWriter.Palette, depth, Pack(indices, w, h, depth), [0, 2, 4], palette[..(usable * 3)]);
            var expected = new byte[w * h * 3];
            for (int p = 0; p < indices.Length; p++)
                for (int c = 0; c < 3; c++) expected[3 * p + c] = palette[3 * indices[p] + c];
            AssertPixels(Png.Decode(png, "p.png"), w, h, expected, $"palette, {depth}-bit");
        }
    }

    [TestCase(1, new byte[] { 0, 255 })]
    [TestCase(2, new byte[] { 0, 85, 170, 255 })]
    [TestCase(4, new byte[] { 0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 170, 187, 204, 221, 238, 255 })]
    public void LowBitGreyStretchesToFullRange(int depth, byte[] levels)
    {
        const int w = 13, h = 2;
        var values = new int[w * h];
        for (int p = 0; p < values.Length; p++) values[p] = (p * 3) % (1 << depth);
        var png = PngWriter.Encode(w, h, PngWriter.Grey, depth, Pack(values, w, h, depth), [0, 1]);
        var expected = values.Select(v => levels[v]).ToArray();
        AssertPixels(Png.Decode(png, "lowbit.png"), w, h, Replicate(expected), $"grey {depth}-bit");
    }

    /// <summary>Samples of <paramref name="bits"/> each packed into rows, leftmost in the high bits, rows byte-aligned.</summary>
    static byte[] Pack(int[] values, int width, int height, int bits)
    {
        int rowBytes = (width * bits + 7) / 8;
        var packed = new byte[rowBytes * height];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int bit = x * bits;
                packed[y * rowBytes + bit / 8] |= (byte)(values[y * width + x] << (8 - bits - bit % 8));
            }
        return packed;
    }

    [Test]
    public void SplitImageDataAndAncillaryChunksAreRead()
    {
        const int w = 6, h = 4;
        var rgb = RandomBytes(w * h * 3, 50);
        var zlib = PngWriter.Zlib(PngWriter.Filter(rgb, w * 3, 3, h, [1]));
        var png = PngWriter.Assemble(
            PngWriter.Chunk("IHDR", PngWriter.Header(w, h, 8, PngWriter.Rgb)),
            PngWriter.Chunk("tEXt", "Comment\0made in a test"u8.ToArray()),
            PngWriter.Chunk("IDAT", zlib[..5]),
            PngWriter.Chunk("IDAT", zlib[5..]),
            PngWriter.Chunk("IEND", []));
        AssertPixels(Png.Decode(png, "split.png"), w, h, rgb, "IDAT split in two");
    }

    static byte[] SmallPng() => PngWriter.Encode(4, 4, PngWriter.Rgb, 8, RandomBytes(48, 60), [0]);

    [Test]
    public void CorruptCrcIsRejectedNamingTheFile()
    {
        var png = SmallPng();
        png[8 + 8 + 2] ^= 0x01; // a byte of IHDR's width, CRC left as it was
        var e = AssertRejected(Write("crc.png", png), "CRC");
        Assert.That(e.Message, Does.Contain("IHDR"));
    }

    [Test]
    public void TruncatedPngIsRejectedNamingTheFile()
    {
        var png = SmallPng();
        AssertRejected(Write("cut.png", png[..(png.Length - 20)]), "truncated");
        AssertRejected(Write("cut-header.png", png[..20]), "truncated");
    }

    [Test]
    public void MissingIendIsRejected()
    {
        var png = SmallPng();
        AssertRejected(Write("noend.png", png[..^12]), "IEND");
    }

    [Test]
    public void BadZlibDataIsRejected()
    {
        var zlib = PngWriter.Zlib(PngWriter.Filter(RandomBytes(48, 61), 12, 3, 4, [0]));
        var garbage = (byte[])zlib.Clone();
        garbage[2] = 0xFF; // the first deflate block claims block type 3, which does not exist
        AssertRejected(Write("zlib.png", WithImageData(garbage)), "compressed image data is invalid");

        var badChecksum = (byte[])zlib.Clone();
        badChecksum[^1] ^= 0xFF; // the Adler-32 trailer
        AssertRejected(Write("adler.png", WithImageData(badChecksum)), "compressed image data is invalid");
    }

    static byte[] WithImageData(byte[] zlib) => PngWriter.Assemble(
        PngWriter.Chunk("IHDR", PngWriter.Header(4, 4, 8, PngWriter.Rgb)),
        PngWriter.Chunk("IDAT", zlib),
        PngWriter.Chunk("IEND", []));

    [Test]
    public void ShortOrLongImageDataIsRejected()
    {
        // Valid zlib, CRCs right, but three rows where the header promises four.
        AssertRejected(Write("short.png", WithImageData(PngWriter.Zlib(PngWriter.Filter(RandomBytes(36, 62), 12, 3, 3, [0])))), "ends early");
        AssertRejected(Write("long.png", WithImageData(PngWriter.Zlib(PngWriter.Filter(RandomBytes(60, 63), 12, 3, 5, [0])))), "more than");
    }

    [Test]
    public void UnknownFilterTypeIsRejected()
    {
        var filtered = PngWriter.Filter(RandomBytes(48, 64), 12, 3, 4, [0]);
        filtered[13 * 2] = 5; // row 2's filter byte
        AssertRejected(Write("filter.png", WithImageData(PngWriter.Zlib(filtered))), "filter type 5");
    }

    [Test]
    public void PaletteIndexPastThePaletteIsRejected()
    {
        var png = PngWriter.Encode(3, 1, PngWriter.Palette, 8, [0, 1, 2], [0], [1, 2, 3, 4, 5, 6]);
        AssertRejected(Write("index.png", png), "palette entry 2");
    }

    [Test]
    public void UnsupportedAndMalformedVariantsAreRejected()
    {
        var interlaced = PngWriter.Assemble(
            PngWriter.Chunk("IHDR", PngWriter.Header(4, 4, 8, PngWriter.Rgb, interlace: 1)),
            PngWriter.Chunk("IDAT", PngWriter.Zlib(new byte[100])),
            PngWriter.Chunk("IEND", []));
        AssertRejected(Write("adam7.png", interlaced), "interlaced");

        var badDepth = PngWriter.Assemble(
            PngWriter.Chunk("IHDR", PngWriter.Header(4, 4, 4, PngWriter.Rgb)),
            PngWriter.Chunk("IEND", []));
        AssertRejected(Write("depth.png", badDepth), "bit depth 4");

        var noPalette = PngWriter.Assemble(
            PngWriter.Chunk("IHDR", PngWriter.Header(1, 1, 8, PngWriter.Palette)),
            PngWriter.Chunk("IDAT", PngWriter.Zlib([0, 0])),
            PngWriter.Chunk("IEND", []));
        AssertRejected(Write("noplte.png", noPalette), "without a palette");

        var unknownCritical = PngWriter.Assemble(
            PngWriter.Chunk("IHDR", PngWriter.Header(1, 1, 8, PngWriter.Grey)),
            PngWriter.Chunk("ZZZZ", [1]),
            PngWriter.Chunk("IDAT", PngWriter.Zlib([0, 0])),
            PngWriter.Chunk("IEND", []));
        AssertRejected(Write("critical.png", unknownCritical), "ZZZZ");
    }

    [Test]
    public void SignatureDamagedByTextModeTransferIsRejected()
    {
        var png = SmallPng();
        // A text-mode copy turns the signature's CR LF into LF.
        byte[] mangled = [.. png[..4], 0x0A, .. png[6..]];
        AssertRejected(Write("textmode.png", mangled), "signature");
    }

    // ---- JPEG ------------------------------------------------------------------------

    static RgbImage Gradient(int w, int h)
    {
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                pixels[i] = (byte)(20 + 4 * x);
                pixels[i + 1] = (byte)(30 + 5 * y);
                pixels[i + 2] = (byte)(200 - 2 * x - 2 * y);
            }
        return new RgbImage(w, h, pixels);
    }

    [Test]
    public void JpegAtQuality100DecodesCloseToTheOriginal()
    {
        var original = Gradient(48, 32);
        var path = Write("gradient.jpg", TurboJpeg.Encode(original, 100));
        var decoded = ImageFile.Load(path);
        Assert.That((decoded.Width, decoded.Height), Is.EqualTo((48, 32)));
        int worst = 0;
        double total = 0;
        for (int i = 0; i < original.Pixels.Length; i++)
        {
            int d = Math.Abs(decoded.Pixels[i] - original.Pixels[i]);
            worst = Math.Max(worst, d);
            total += d;
        }
        Assert.That(worst, Is.LessThanOrEqualTo(8), "largest per-channel difference");
        Assert.That(total / original.Pixels.Length, Is.LessThan(1.5), "mean per-channel difference");
    }

    [Test]
    public void TruncatedJpegIsRejectedNamingTheFile()
    {
        var jpeg = TurboJpeg.Encode(Gradient(64, 64), 95);
        // Cut inside the entropy-coded data: libjpeg would only warn and fill the rest with grey.
        AssertRejected(Write("half.jpg", jpeg[..(jpeg.Length * 2 / 3)]), "truncated or corrupt");
        // Cut inside the header.
        AssertRejected(Write("stub.jpg", jpeg[..40]), "truncated or corrupt");
    }

    [Test]
    public void FormatComesFromTheBytesNotTheExtension()
    {
        var original = Gradient(8, 8);
        var jpegNamedPng = ImageFile.Load(Write("photo.png", TurboJpeg.Encode(original, 100)));
        Assert.That((jpegNamedPng.Width, jpegNamedPng.Height), Is.EqualTo((8, 8)));
        Assert.That(Math.Abs(jpegNamedPng.Pixels[0] - original.Pixels[0]), Is.LessThanOrEqualTo(8));

        var rgb = RandomBytes(8 * 8 * 3, 70);
        var pngNamedJpg = ImageFile.Load(Write("picture.jpg", PngWriter.Encode(8, 8, PngWriter.Rgb, 8, rgb, [2])));
        Assert.That(pngNamedJpg.Pixels, Is.EqualTo(rgb));
    }

    // ---- bad files in general --------------------------------------------------------

    [Test]
    public void MissingFileIsRejected() => AssertRejected(Path.Combine(_dir, "no-such-photo.jpg"), "does not exist");

    [Test]
    public void EmptyFileIsRejected() => AssertRejected(Write("empty.jpg", []), "empty");

    [Test]
    public void TextFileIsRejected() => AssertRejected(Write("notes.jpg", "just some text, not a photo\n"u8.ToArray()), "text file");

    [Test]
    public void OtherImageFormatsAreNamed()
    {
        AssertRejected(Write("anim.jpg", [.. "GIF89a"u8, 1, 0, 1, 0, 0x80, 0, 0]), "GIF");
        AssertRejected(Write("iphone.jpg", [0, 0, 0, 24, .. "ftypheic"u8, 0, 0, 0, 0]), "HEIC");
        AssertRejected(Write("binary.jpg", [0x00, 0x01, 0x02, 0xFE, 0x80, 0x90]), "not a JPEG or PNG");
    }

    [Test]
    public void DirectoryIsRejected() => AssertRejected(_dir, "directory");

    // ---- resizing --------------------------------------------------------------------

    /// <summary>Pixel (x, y) = (x, y, 100 + 10 y + x): every pixel says where it came from.</summary>
    static RgbImage Coordinates(int w, int h)
    {
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                pixels[i] = (byte)x;
                pixels[i + 1] = (byte)y;
                pixels[i + 2] = (byte)(100 + 10 * y + x);
            }
        return new RgbImage(w, h, pixels);
    }

    static void AssertSampledFrom(RgbImage resized, int[] columns, int[] rows)
    {
        Assert.That((resized.Width, resized.Height), Is.EqualTo((columns.Length, rows.Length)));
        for (int y = 0; y < rows.Length; y++)
            for (int x = 0; x < columns.Length; x++)
                Assert.That(resized[x, y], Is.EqualTo(((byte)columns[x], (byte)rows[y], (byte)(100 + 10 * rows[y] + columns[x]))), $"output ({x}, {y})");
    }

    [Test]
    public void NearestPicksPillowsSourcePixels()
    {
        // 5 -> 2 columns: floor((i + 0.5) * 2.5) = 1, 3. 3 -> 2 rows: floor((i + 0.5) * 1.5) = 0, 2.
        AssertSampledFrom(Coordinates(5, 3).Resize(2, 2), [1, 3], [0, 2]);
        // 3 -> 7: floor((i + 0.5) * 3 / 7) = 0, 0, 1, 1, 1, 2, 2 both ways.
        AssertSampledFrom(Coordinates(3, 3).Resize(7, 7), [0, 0, 1, 1, 1, 2, 2], [0, 0, 1, 1, 1, 2, 2]);
        // Keras' call, height first: 4 rows and 6 columns from 12 x 9.
        AssertSampledFrom(Coordinates(12, 9).Resize(height: 4, width: 6), [1, 3, 5, 7, 9, 11], [1, 3, 5, 7]);
    }

    [Test]
    public void NearestFollowsPillowsRunningSumAtExactTies()
    {
        // 2 -> 7: output 3 sits at exactly 3.5 * 2 / 7 = 1.0, but Pillow adds 2/7 step by step
        // and reaches 0.999..., so it takes source pixel 0 (checked against Pillow 9.4).
        Assert.That(ImageResize.NearestIndices(2, 7), Is.EqualTo(new[] { 0, 0, 0, 0, 1, 1, 1 }));
        AssertSampledFrom(Coordinates(2, 1).Resize(1, 7), [0, 0, 0, 0, 1, 1, 1], [0]);
    }

    [Test]
    public void BilinearKeepsAConstantImageConstant()
    {
        var pixels = new byte[37 * 23 * 3];
        for (int i = 0; i < pixels.Length; i += 3) (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)0, (byte)173, (byte)255);
        var image = new RgbImage(37, 23, pixels);
        foreach (var (h, w) in new[] { (5, 8), (40, 50), (23, 9), (64, 64) })
        {
            var resized = image.Resize(h, w, Interpolation.Bilinear);
            Assert.That((resized.Width, resized.Height), Is.EqualTo((w, h)));
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    Assert.That(resized[x, y], Is.EqualTo(((byte)0, (byte)173, (byte)255)), $"{w}x{h} at ({x}, {y})");
        }
    }

    [Test]
    public void BilinearUpscaleOfARampIsLinearInside()
    {
        // Source columns 0, 20, ..., 180; doubled, output column x is centred on source
        // coordinate (x + 0.5) / 2 - 0.5 between pixel centres, so it holds 10 x - 5.
        const int w = 10, h = 3;
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) pixels[(y * w + x) * 3 + c] = (byte)(20 * x);
        var resized = new RgbImage(w, h, pixels).Resize(h * 2, w * 2, Interpolation.Bilinear);
        for (int y = 0; y < h * 2; y++)
        {
            Assert.That(resized[0, y].R, Is.EqualTo(0), "left edge clamps to the first pixel");
            Assert.That(resized[2 * w - 1, y].R, Is.EqualTo(180), "right edge clamps to the last pixel");
            for (int x = 1; x < 2 * w - 1; x++)
                Assert.That(resized[x, y], Is.EqualTo(((byte)(10 * x - 5), (byte)(10 * x - 5), (byte)(10 * x - 5))), $"({x}, {y})");
        }
    }

    [Test]
    public void BilinearDownscaleMatchesPillow()
    {
        // 7x5 -> 3x2: Pillow widens the triangle by the shrink factor (antialiasing). The
        // expected bytes are Pillow 9.4's Image.resize((3, 2), Image.BILINEAR) of this image.
        const int w = 7, h = 5;
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 3;
                pixels[i] = (byte)((37 * x + 11 * y * y) % 256);
                pixels[i + 1] = (byte)((23 * x * y + 50) % 256);
                pixels[i + 2] = (byte)(255 - 30 * x - 7 * y);
            }
        byte[] pillow = [51, 70, 222, 129, 107, 158, 179, 111, 94, 139, 109, 208, 154, 122, 144, 113, 144, 80];
        AssertPixels(new RgbImage(w, h, pixels).Resize(2, 3, Interpolation.Bilinear), 3, 2, pillow, "7x5 -> 3x2");
    }

    [Test]
    public void SameSizeIsAnUnresampledCopy()
    {
        var image = Coordinates(4, 3);
        foreach (var interpolation in new[] { Interpolation.Nearest, Interpolation.Bilinear })
        {
            var resized = image.Resize(3, 4, interpolation);
            Assert.That(resized.Pixels, Is.EqualTo(image.Pixels));
            Assert.That(resized.Pixels, Is.Not.SameAs(image.Pixels));
        }
    }

    // ---- model input -----------------------------------------------------------------

    [Test]
    public void ModelInputIsOneNhwcSampleScaledToUnitRange()
    {
        // 3 wide, 2 high, so a swapped H and W shows.
        byte[] pixels = [255, 0, 51, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 128, 255];
        using var x = ImageFile.ToModelInput(new RgbImage(3, 2, pixels));
        Assert.That(x.Shape.ToArray(), Is.EqualTo(new[] { 1, 2, 3, 3 }));
        Assert.That(x[0, 0, 0, 0], Is.EqualTo(1f), "255 -> 1");
        Assert.That(x[0, 0, 0, 1], Is.EqualTo(0f), "0 -> 0");
        Assert.That(x[0, 0, 0, 2], Is.EqualTo(0.2f), "51 -> 0.2");
        for (int y = 0; y < 2; y++)
            for (int col = 0; col < 3; col++)
                for (int c = 0; c < 3; c++)
                    Assert.That(x[0, y, col, c], Is.EqualTo(pixels[(y * 3 + col) * 3 + c] / 255f), $"[0, {y}, {col}, {c}]");
    }

    [Test]
    public void LoadModelInputResizesToSixtyFourSquare()
    {
        // A 2x2 PNG: nearest to 64x64 gives four 32x32 blocks.
        byte[] rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        var path = Write("four.png", PngWriter.Encode(2, 2, PngWriter.Rgb, 8, rgb, [0]));
        using var x = ImageFile.LoadModelInput(path);
        Assert.That(x.Shape.ToArray(), Is.EqualTo(new[] { 1, 64, 64, 3 }));
        Assert.That((x[0, 31, 31, 0], x[0, 31, 31, 1]), Is.EqualTo((1f, 0f)), "top left is red");
        Assert.That((x[0, 0, 32, 0], x[0, 0, 32, 1]), Is.EqualTo((0f, 1f)), "top right is green");
        Assert.That((x[0, 32, 0, 1], x[0, 32, 0, 2]), Is.EqualTo((0f, 1f)), "bottom left is blue");
        Assert.That((x[0, 63, 63, 0], x[0, 63, 63, 2]), Is.EqualTo((1f, 1f)), "bottom right is white");
    }
}
