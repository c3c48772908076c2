using System.Text;

namespace Engine.ResNet.Data;

/// <summary>
/// Keras 2's string-list attributes (layer_names, weight_names). An attribute lives in its
/// object's header, which HDF5 limits to 64 KiB, so Keras splits a long list into name0, name1,
/// ... chunks, and refuses a single entry larger than the limit. Both sides follow its rule.
/// </summary>
static class KerasAttributes
{
    /// <summary>Keras' HDF5_OBJECT_HEADER_LIMIT: the most bytes one attribute may hold.</summary>
    internal const int HeaderLimit = 64512;

    /// <summary>
    /// Writes <paramref name="values"/> as one fixed-width string array, or in as few chunks
    /// as keep each under <see cref="HeaderLimit"/> (every entry padded to the longest, as
    /// NumPy stores them, and split as numpy.array_split splits).
    /// </summary>
    public static void WriteStrings(Hdf5Object target, string name, IReadOnlyList<string> values)
    {
        int width = values.Count == 0 ? 0 : values.Max(v => Encoding.UTF8.GetByteCount(v));
        if (width > HeaderLimit)
        {
            string tooLong = values.First(v => Encoding.UTF8.GetByteCount(v) > HeaderLimit);
            throw new Hdf5Exception(target.FilePath, target.Name,
                $"cannot store {name} of '{target.Name}': the entry '{Shorten(tooLong)}' is {Encoding.UTF8.GetByteCount(tooLong)} bytes, " +
                $"more than the {HeaderLimit} an HDF5 attribute may hold (Keras refuses it too); use shorter layer names");
        }
        int chunks = 1;
        while ((long)((values.Count + chunks - 1) / chunks) * width > HeaderLimit) chunks++;
        if (chunks == 1)
        {
            target.WriteStringArrayAttribute(name, values);
            return;
        }
        int start = 0;
        for (int c = 0; c < chunks; c++)
        {
            int count = values.Count / chunks + (c < values.Count % chunks ? 1 : 0);
            target.WriteStringArrayAttribute($"{name}{c}", values.Skip(start).Take(count).ToArray());
            start += count;
        }
    }

    /// <summary>True when the list is stored, whole or in chunks.</summary>
    public static bool Has(Hdf5Object source, string name) => source.HasAttribute(name) || source.HasAttribute(name + "0");

    /// <summary>The list, from one attribute or from its name0, name1, ... chunks in order.</summary>
    public static string[] ReadStrings(Hdf5Object source, string name)
    {
        if (source.HasAttribute(name)) return source.ReadStringArrayAttribute(name);
        var values = new List<string>();
        for (int c = 0; source.HasAttribute($"{name}{c}"); c++) values.AddRange(source.ReadStringArrayAttribute($"{name}{c}"));
        return values.ToArray();
    }

    static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
