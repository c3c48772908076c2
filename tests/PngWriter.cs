using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Engine.Tests;

/// <summary>
/// A small PNG encoder for decoder tests, written from the PNG specification independently
/// of the decoder (its own bitwise CRC, its own forward filters), so that the two do not
/// share a mistake. Tests can also assemble chunks by hand to build broken files.
/// </summary>
static class PngWriter
{
    public const int Grey = 0, Rgb = 2, Palette = 3, GreyAlpha = 4, Rgba = 6;

    static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static int Channels(int colourType) => colourType switch
    {
        Grey or Palette => 1,
        GreyAlpha => 2,
        Rgb => 3,
        Rgba => 4,
        _ => throw new ArgumentException($"colour type {colourType}"),
    };

    public static int RowBytes(int width, int colourType, int bitDepth) => (width * Channels(colourType) * bitDepth + 7) / 8;

    /// <summary>
    /// A whole PNG from unfiltered scanlines (<paramref name="rows"/>: RowBytes each, no filter
    /// byte), row y filtered with <paramref name="filters"/>[y % filters.Length].
    /// </summary>
    public static byte[] Encode(int width, int height, int colourType, int bitDepth, byte[] rows, int[] filters, byte[]? palette = null)
    {
        var chunks = new List<byte[]> { Chunk("IHDR", Header(width, height, bitDepth, colourType)) };
        if (palette is not null) chunks.Add(Chunk("PLTE", palette));
        chunks.Add(Chunk("IDAT", Zlib(Filter(rows, RowBytes(width, colourType, bitDepth), FilterStep(colourType, bitDepth), height, filters))));
        chunks.Add(Chunk("IEND", []));
        return Assemble(chunks.ToArray());
    }

    public static byte[] Header(int width, int height, int bitDepth, int colourType, int interlace = 0)
    {
        var h = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(h, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), (uint)height);
        h[8] = (byte)bitDepth;
        h[9] = (byte)colourType;
        h[12] = (byte)interlace;
        return h;
    }

    public static int FilterStep(int colourType, int bitDepth) => Math.Max(1, Channels(colourType) * bitDepth / 8);

    /// <summary>Forward filtering: each output row is its filter byte then the filtered bytes.</summary>
    public static byte[] Filter(byte[] rows, int rowBytes, int step, int height, int[] filters)
    {
        var output = new byte[(rowBytes + 1) * height];
        for (int y = 0; y < height; y++)
        {
            int filter = filters[y % filters.Length];
            output[y * (rowBytes + 1)] = (byte)filter;
            for (int i = 0; i < rowBytes; i++)
            {
                int raw = rows[y * rowBytes + i];
                int a = i >= step ? rows[y * rowBytes + i - step] : 0;
                int b = y > 0 ? rows[(y - 1) * rowBytes + i] : 0;
                int c = i >= step && y > 0 ? rows[(y - 1) * rowBytes + i - step] : 0;
                int predicted = filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => PaethPredictor(a, b, c),
                    _ => throw new ArgumentException($"filter {filter}"),
                };
                output[y * (rowBytes + 1) + 1 + i] = (byte)((raw - predicted) & 0xFF);
            }
        }
        return output;
    }

    static int PaethPredictor(int a, int b, int c)
    {
        int estimate = a + b - c;
        int da = Math.Abs(estimate - a), db = Math.Abs(estimate - b), dc = Math.Abs(estimate - c);
        if (da <= db && da <= dc) return a;
        if (db <= dc) return b;
        return c;
    }

    public static byte[] Zlib(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var z = new ZLibStream(buffer, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
        return buffer.ToArray();
    }

    /// <summary>Length, type, data, CRC over type and data.</summary>
    public static byte[] Chunk(string type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        Encoding.ASCII.GetBytes(type, chunk.AsSpan(4, 4));
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }

    public static byte[] Assemble(params byte[][] chunks) => [.. Signature, .. chunks.SelectMany(c => c)];

    /// <summary>CRC-32 (reflected polynomial 0xEDB88320), bit by bit, without a table.</summary>
    public static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
        }
        return ~crc;
    }
}
