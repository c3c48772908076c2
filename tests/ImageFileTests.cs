using Engine.ResNet.Data;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Resizing to a model input the way Pillow does it (Keras' load_img resizes through it).
/// </summary>
public class ImageFileTests
{
    static void AssertPixels(RgbImage image, int width, int height, byte[] expected, string what)
    {
        Assert.That((image.Width, image.Height), Is.EqualTo((width, height)), $"{what}: size");
        Assert.That(image.Pixels, Is.EqualTo(expected), $"{what}: pixels");
    }

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
}
