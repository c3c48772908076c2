using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Engine.ResNet.Data;

/// <summary>
/// A managed PNG decoder to 8-bit RGB, enough for photos and screenshots: every colour type
/// (grey, grey + alpha, RGB, RGBA, palette) at every bit depth the format allows, 16-bit
/// samples reduced to their high byte (as Pillow reads 16-bit colour), 1/2/4-bit grey
/// stretched to 0..255 (as Pillow does), alpha dropped (what <c>Image.convert("RGB")</c> does, so a transparent area shows
/// its stored colour), palette expanded. Every chunk's CRC is checked. Interlaced (Adam7)
/// files are refused with a message saying how to re-save them.
/// </summary>
public static class Png
{
    /// <summary>The eight bytes every PNG file starts with.</summary>
    public static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    const string ReSave = "Re-save it as an ordinary PNG or as a JPEG and try again.";

    enum ColourType : byte { Grey = 0, Rgb = 2, Palette = 3, GreyAlpha = 4, Rgba = 6 }

    readonly record struct Header(int Width, int Height, int BitDepth, ColourType Colour)
    {
        public int Channels => Colour switch
        {
            ColourType.Grey or ColourType.Palette => 1,
            ColourType.GreyAlpha => 2,
            ColourType.Rgb => 3,
            _ => 4,
        };

        public int BitsPerPixel => Channels * BitDepth;

        /// <summary>Bytes of one scanline, without its filter-type byte.</summary>
        public long RowBytes => ((long)Width * BitsPerPixel + 7) / 8;

        /// <summary>The distance back to the "left" byte the filters use: one pixel, at least a byte.</summary>
        public int FilterStep => Math.Max(1, BitsPerPixel / 8);
    }

    /// <summary>
    /// Decodes a whole PNG file. <paramref name="name"/> is how the file is named in error
    /// messages. Throws <see cref="ImageFormatException"/> for a truncated, corrupt or
    /// unsupported file.
    /// </summary>
    public static RgbImage Decode(ReadOnlySpan<byte> file, string name)
    {
        if (!file.StartsWith(Signature))
            throw ImageFormatException.Corrupt(name, "the PNG signature (the first 8 bytes) is damaged; a transfer in text mode does this");

        Header? header = null;
        byte[]? palette = null;
        using var idat = new MemoryStream();
        bool sawIdat = false, idatEnded = false, sawEnd = false;
        int pos = Signature.Length;

        while (!sawEnd)
        {
            if (pos == file.Length)
                throw ImageFormatException.Corrupt(name, "the PNG has no IEND chunk: the file is truncated");
            if (file.Length - pos < 12)
                throw ImageFormatException.Corrupt(name, $"the PNG is truncated: it ends inside a chunk header at byte {pos}");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(file[pos..]);
            var typeBytes = file.Slice(pos + 4, 4);
            string type = ChunkName(typeBytes);
            if (length > int.MaxValue || length > file.Length - pos - 12)
                throw ImageFormatException.Corrupt(name, $"the PNG is truncated: chunk {type} at byte {pos} needs {length} bytes of data, and the file ends before them");
            var data = file.Slice(pos + 8, (int)length);
            uint stored = BinaryPrimitives.ReadUInt32BigEndian(file[(pos + 8 + (int)length)..]);
            uint computed = Crc32.Compute(file.Slice(pos + 4, 4 + (int)length));
            if (stored != computed)
                throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: chunk {type} at byte {pos} fails its CRC check (stored {stored:X8}, computed {computed:X8})");

            if (header is null && type != "IHDR")
                throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: its first chunk is {type}, not IHDR");
            if (sawIdat && type != "IDAT") idatEnded = true;

            switch (type)
            {
                case "IHDR":
                    if (header is not null)
                        throw ImageFormatException.Corrupt(name, "the PNG is corrupt: it has two IHDR chunks");
                    header = ReadHeader(data, name);
                    break;
                case "PLTE":
                    if (length == 0 || length % 3 != 0 || length > 256 * 3)
                        throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: its palette (PLTE) has {length} bytes, not 3 per entry for 1 to 256 entries");
                    palette = data.ToArray();
                    break;
                case "IDAT":
                    if (idatEnded)
                        throw ImageFormatException.Corrupt(name, "the PNG is corrupt: its image data (IDAT) chunks are not consecutive");
                    sawIdat = true;
                    idat.Write(data);
                    break;
                case "IEND":
                    sawEnd = true;
                    break;
                default:
                    // A capital first letter marks a chunk a decoder must understand to draw the image.
                    if (char.IsAsciiLetterUpper(type[0]))
                        throw ImageFormatException.Unsupported(name, $"the PNG has a critical chunk '{type}' that this decoder does not know", ReSave);
                    break; // ancillary (colour profile, text, time, transparency...): not needed for RGB
            }
            pos += 12 + (int)length;
        }

        var h = header!.Value;
        if (!sawIdat)
            throw ImageFormatException.Corrupt(name, "the PNG has no image data (no IDAT chunk)");
        if (h.Colour == ColourType.Palette && palette is null)
            throw ImageFormatException.Corrupt(name, "the PNG is a palette image without a palette (PLTE chunk)");

        byte[] raw = Inflate(idat, h, name);
        Unfilter(raw, h, name);
        return ToRgb(raw, h, palette, name);
    }

    static string ChunkName(ReadOnlySpan<byte> type)
    {
        foreach (byte b in type)
            if (!char.IsAsciiLetter((char)b)) return "0x" + Convert.ToHexString(type);
        return Encoding.ASCII.GetString(type);
    }

    static Header ReadHeader(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length != 13)
            throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: its IHDR chunk has {data.Length} bytes, not 13");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(data);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        int depth = data[8];
        var colour = (ColourType)data[9];
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
            throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: its size is {width}x{height}");
        bool valid = colour switch
        {
            ColourType.Grey => depth is 1 or 2 or 4 or 8 or 16,
            ColourType.Palette => depth is 1 or 2 or 4 or 8,
            ColourType.Rgb or ColourType.GreyAlpha or ColourType.Rgba => depth is 8 or 16,
            _ => false,
        };
        if (!valid)
            throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: colour type {data[9]} with bit depth {depth} is not a PNG combination");
        if (data[10] != 0 || data[11] != 0)
            throw ImageFormatException.Unsupported(name, $"the PNG uses compression method {data[10]} / filter method {data[11]}; only 0 / 0 exist in the standard", ReSave);
        if (data[12] == 1)
            throw ImageFormatException.Unsupported(name, "interlaced (Adam7) PNGs are not supported", ReSave);
        if (data[12] != 0)
            throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: interlace method {data[12]} does not exist");
        var h = new Header((int)width, (int)height, depth, colour);
        if ((long)h.Width * h.Height * 3 > Array.MaxLength || (h.RowBytes + 1) * h.Height > Array.MaxLength)
            throw ImageFormatException.Unsupported(name, $"the image is too large ({width}x{height} pixels)", "Shrink it first.");
        return h;
    }

    /// <summary>The zlib stream of the IDAT chunks, inflated: one filter byte and RowBytes per row.</summary>
    static byte[] Inflate(MemoryStream idat, Header h, string name)
    {
        var raw = new byte[(h.RowBytes + 1) * h.Height];
        idat.Position = 0;
        int filled = 0;
        try
        {
            using var zlib = new ZLibStream(idat, CompressionMode.Decompress, leaveOpen: true);
            while (filled < raw.Length)
            {
                int n = zlib.Read(raw, filled, raw.Length - filled);
                if (n == 0) break;
                filled += n;
            }
            // Reading on to the end of the stream makes zlib check its Adler-32 trailer.
            Span<byte> extra = stackalloc byte[1];
            if (filled == raw.Length && zlib.Read(extra) != 0)
                throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: its image data holds more than a {h.Width}x{h.Height} image needs");
        }
        catch (InvalidDataException e)
        {
            throw ImageFormatException.Corrupt(name, $"the PNG's compressed image data is invalid ({e.Message.TrimEnd('.')})", e);
        }
        if (filled < raw.Length)
            throw ImageFormatException.Corrupt(name, $"the PNG's image data ends early: {filled} of {raw.Length} bytes (truncated or corrupt)");
        return raw;
    }

    /// <summary>Undoes the per-row filters in place (the filter bytes stay, the rows become samples).</summary>
    static void Unfilter(byte[] raw, Header h, string name)
    {
        int rowBytes = (int)h.RowBytes, step = h.FilterStep, stride = rowBytes + 1;
        for (int y = 0; y < h.Height; y++)
        {
            int filter = raw[y * stride];
            var row = raw.AsSpan(y * stride + 1, rowBytes);
            // Above the first row the filters see zeros.
            ReadOnlySpan<byte> prior = y == 0 ? new byte[rowBytes] : raw.AsSpan((y - 1) * stride + 1, rowBytes);
            switch (filter)
            {
                case 0: // None
                    break;
                case 1: // Sub: plus the byte one pixel to the left
                    for (int i = step; i < rowBytes; i++) row[i] += row[i - step];
                    break;
                case 2: // Up: plus the byte above
                    for (int i = 0; i < rowBytes; i++) row[i] += prior[i];
                    break;
                case 3: // Average of left and above, summed without wrapping at 255
                    for (int i = 0; i < rowBytes; i++)
                    {
                        int left = i >= step ? row[i - step] : 0;
                        row[i] += (byte)((left + prior[i]) >> 1);
                    }
                    break;
                case 4: // Paeth: whichever of left, above, upper-left is nearest left + above - upper-left
                    for (int i = 0; i < rowBytes; i++)
                    {
                        int left = i >= step ? row[i - step] : 0;
                        int upperLeft = i >= step ? prior[i - step] : 0;
                        row[i] += Paeth(left, prior[i], upperLeft);
                    }
                    break;
                default:
                    throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: row {y} has filter type {filter} (only 0 to 4 exist)");
            }
        }
    }

    static byte Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        // Ties go to a, then b: the order the standard fixes.
        if (pa <= pb && pa <= pc) return (byte)a;
        return (byte)(pb <= pc ? b : c);
    }

    static RgbImage ToRgb(byte[] raw, Header h, byte[]? palette, string name)
    {
        int width = h.Width, stride = (int)h.RowBytes + 1;
        var rgb = new byte[(long)width * h.Height * 3];
        int bytesPerSample = h.BitDepth == 16 ? 2 : 1; // 16-bit samples are big-endian: the first byte is the high one
        for (int y = 0; y < h.Height; y++)
        {
            var row = raw.AsSpan(y * stride + 1, stride - 1);
            var dst = rgb.AsSpan(y * width * 3, width * 3);
            switch (h.Colour)
            {
                case ColourType.Rgb:
                case ColourType.Rgba:
                {
                    int pixelBytes = h.Channels * bytesPerSample;
                    for (int x = 0; x < width; x++)
                    {
                        int s = x * pixelBytes;
                        dst[3 * x] = row[s];
                        dst[3 * x + 1] = row[s + bytesPerSample];
                        dst[3 * x + 2] = row[s + 2 * bytesPerSample];
                    }
                    break;
                }
                case ColourType.GreyAlpha:
                    for (int x = 0; x < width; x++)
                        dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x * 2 * bytesPerSample];
                    break;
                case ColourType.Grey:
                    for (int x = 0; x < width; x++)
                    {
                        byte g = h.BitDepth >= 8 ? row[x * bytesPerSample] : ScaleToByte(PackedSample(row, x, h.BitDepth), h.BitDepth);
                        dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = g;
                    }
                    break;
                case ColourType.Palette:
                {
                    int entries = palette!.Length / 3;
                    for (int x = 0; x < width; x++)
                    {
                        int index = h.BitDepth == 8 ? row[x] : PackedSample(row, x, h.BitDepth);
                        if (index >= entries)
                            throw ImageFormatException.Corrupt(name, $"the PNG is corrupt: pixel ({x}, {y}) uses palette entry {index}, and the palette has {entries}");
                        dst[3 * x] = palette[3 * index];
                        dst[3 * x + 1] = palette[3 * index + 1];
                        dst[3 * x + 2] = palette[3 * index + 2];
                    }
                    break;
                }
            }
        }
        return new RgbImage(width, h.Height, rgb);
    }

    /// <summary>Sample <paramref name="x"/> of a row packed at 1, 2 or 4 bits, leftmost pixel in the high bits.</summary>
    static int PackedSample(ReadOnlySpan<byte> row, int x, int bits)
    {
        int perByte = 8 / bits;
        int shift = 8 - bits * (x % perByte + 1);
        return (row[x / perByte] >> shift) & ((1 << bits) - 1);
    }

    /// <summary>A 1, 2 or 4-bit grey level stretched to 0..255 (1 -> 255, 3 -> 255, 15 -> 255).</summary>
    static byte ScaleToByte(int value, int bits) => (byte)(value * 255 / ((1 << bits) - 1));

    /// <summary>The CRC-32 PNG chunks carry (ISO 3309 / ITU-T V.42, reflected polynomial 0xEDB88320).</summary>
    static class Crc32
    {
        static readonly uint[] Table = MakeTable();

        static uint[] MakeTable()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }

        public static uint Compute(ReadOnlySpan<byte> bytes)
        {
            uint c = 0xFFFFFFFFu;
            foreach (byte b in bytes) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
            return c ^ 0xFFFFFFFFu;
        }
    }
}
