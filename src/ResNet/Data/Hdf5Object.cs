using System.Text;

namespace Engine.ResNet.Data;

/// <summary>
/// A file, group or dataset: something with a name in the file and attributes. Disposing closes
/// it; objects opened from it stay usable until they are disposed themselves.
/// </summary>
public abstract unsafe class Hdf5Object : IDisposable
{
    private protected readonly Hdf5Handle Handle;

    private protected Hdf5Object(Hdf5Handle handle, string filePath, string name)
    {
        Handle = handle;
        FilePath = filePath;
        Name = name;
    }

    /// <summary>The file this object lives in.</summary>
    public string FilePath { get; }

    /// <summary>The object's absolute path in the file: "/" for the root, "/model_weights/conv1".</summary>
    public string Name { get; }

    private protected long Id => Handle.Id;

    public virtual void Dispose() => Handle.Dispose();

    /// <summary>
    /// Throws for a negative result. Also keeps this object, and so its handle, alive until the
    /// native call that produced <paramref name="result"/> has returned.
    /// </summary>
    private protected long Check(long result, string action, string? objectName = null) =>
        result < 0 ? throw Hdf5.Failure(FilePath, action, objectName ?? Name) : result;

    private protected Hdf5Handle Own(long id, Hdf5Kind kind, string action, string? objectName = null) =>
        new(Check(id, action, objectName), kind);

    /// <summary>The absolute path of <paramref name="path"/> taken relative to this object.</summary>
    private protected string PathOf(string path) =>
        path.StartsWith('/') ? path : Name == "/" ? "/" + path : Name + "/" + path;

    string AttributeName(string name) => $"{Name}@{name}";

    /// <summary>True when this object has an attribute called <paramref name="name"/>.</summary>
    public bool HasAttribute(string name) =>
        Check(Hdf5.H5Aexists(Id, name), $"look for attribute '{name}' on '{Name}'", AttributeName(name)) > 0;

    /// <summary>
    /// Writes (replacing) a scalar string attribute, as h5py writes a Python str: variable-length
    /// UTF-8. Its text then lives in the file's global heap, not the object header, so it is not
    /// held to the header's 64 KiB limit: Keras' model_config for ResNet50 is larger than that.
    /// </summary>
    public void WriteStringAttribute(string name, string value) => WriteVariableString(name, value, Hdf5.CharsetUtf8);

    /// <summary>
    /// Writes (replacing) a scalar string attribute as h5py writes a Python bytes object:
    /// variable-length with the ASCII character set, the text stored as UTF-8 bytes. Keras 2
    /// writes keras_version, backend and model_config so, and under h5py 2 reads them back as
    /// bytes to decode; a UTF-8-typed attribute would come back as str and fail there.
    /// </summary>
    public void WriteBytesAttribute(string name, string value) => WriteVariableString(name, value, Hdf5.CharsetAscii);

    void WriteVariableString(string name, string value, int charset)
    {
        using var type = Own(Hdf5.H5Tcopy(Hdf5.CString), Hdf5Kind.Datatype, "copy the string type");
        Check(Hdf5.H5Tset_size(type.Id, Hdf5.VariableSize), "make a variable-length string type");
        Check(Hdf5.H5Tset_cset(type.Id, charset), "set a string type's character set");
        using var space = Own(Hdf5.H5Screate(Hdf5.ScalarSpace), Hdf5Kind.Dataspace, "create a scalar dataspace");
        using var attribute = CreateAttribute(name, type.Id, space.Id);
        byte[] text = Utf8WithTerminator(value);
        fixed (byte* p = text)
        {
            nint pointer = (nint)p;
            Check(Hdf5.H5Awrite(attribute.Id, type.Id, &pointer), $"write attribute '{name}' of '{Name}'", AttributeName(name));
        }
    }

    /// <summary>
    /// Writes (replacing) a one-dimensional attribute of fixed-length, zero-padded byte strings,
    /// as NumPy's 'S' arrays are stored: Keras keeps layer_names and weight_names so.
    /// </summary>
    public void WriteStringArrayAttribute(string name, IReadOnlyList<string> values)
    {
        var encoded = values.Select(Encoding.UTF8.GetBytes).ToArray();
        int width = Math.Max(1, encoded.Length == 0 ? 1 : encoded.Max(b => b.Length));
        bool ascii = encoded.All(b => b.All(c => c < 0x80));
        var buffer = new byte[Math.Max(1, encoded.Length * width)];
        for (int i = 0; i < encoded.Length; i++) encoded[i].CopyTo(buffer, i * width);

        using var type = Own(Hdf5.H5Tcopy(Hdf5.CString), Hdf5Kind.Datatype, "copy the string type");
        Check(Hdf5.H5Tset_size(type.Id, (nuint)width), "size a fixed-length string type");
        Check(Hdf5.H5Tset_strpad(type.Id, Hdf5.StringPadNull), "make a zero-padded string type");
        Check(Hdf5.H5Tset_cset(type.Id, ascii ? Hdf5.CharsetAscii : Hdf5.CharsetUtf8), "set a string type's character set");
        ulong count = (ulong)encoded.Length;
        using var space = Own(Hdf5.H5Screate_simple(1, &count, null), Hdf5Kind.Dataspace, "create a dataspace");
        using var attribute = CreateAttribute(name, type.Id, space.Id);
        fixed (byte* p = buffer)
            Check(Hdf5.H5Awrite(attribute.Id, type.Id, p), $"write attribute '{name}' of '{Name}'", AttributeName(name));
    }

    /// <summary>Reads a string attribute holding one string, fixed- or variable-length.</summary>
    public string ReadStringAttribute(string name)
    {
        var strings = ReadStrings(name);
        if (strings.Length != 1)
            throw new Hdf5Exception(FilePath, AttributeName(name), $"attribute '{name}' of '{Name}' holds {strings.Length} strings, not one");
        return strings[0];
    }

    /// <summary>Reads a string attribute as an array: one element for a scalar, none for an empty array.</summary>
    public string[] ReadStringArrayAttribute(string name) => ReadStrings(name);

    Hdf5Handle CreateAttribute(string name, long type, long space)
    {
        if (HasAttribute(name))
            Check(Hdf5.H5Adelete(Id, name), $"replace attribute '{name}' of '{Name}'", AttributeName(name));
        return Own(Hdf5.H5Acreate2(Id, name, type, space, Hdf5.Default, Hdf5.Default), Hdf5Kind.Attribute,
            $"create attribute '{name}' on '{Name}'", AttributeName(name));
    }

    string[] ReadStrings(string name)
    {
        string what = $"attribute '{name}' of '{Name}'", where = AttributeName(name);
        using var attribute = Own(Hdf5.H5Aopen(Id, name, Hdf5.Default), Hdf5Kind.Attribute, "open " + what, where);
        using var type = Own(Hdf5.H5Aget_type(attribute.Id), Hdf5Kind.Datatype, $"get the type of {what}", where);
        using var space = Own(Hdf5.H5Aget_space(attribute.Id), Hdf5Kind.Dataspace, $"get the shape of {what}", where);
        int count = checked((int)Check(Hdf5.H5Sget_simple_extent_npoints(space.Id), $"count the elements of {what}", where));
        if (count == 0) return [];
        var elementType = Hdf5ElementType.Of(type.Id, FilePath, what);
        if (elementType.Class != Hdf5TypeClass.String)
            throw new Hdf5Exception(FilePath, where, $"{what} holds {elementType}, not strings");

        var result = new string[count];
        if (Check(Hdf5.H5Tis_variable_str(type.Id), $"inspect the string type of {what}", where) > 0)
        {
            // Read through a native variable-length type; HDF5 allocates each string and we free it.
            using var memory = Own(Hdf5.H5Tcopy(Hdf5.CString), Hdf5Kind.Datatype, "copy the string type");
            Check(Hdf5.H5Tset_size(memory.Id, Hdf5.VariableSize), "make a variable-length string type");
            Check(Hdf5.H5Tset_cset(memory.Id, Hdf5.H5Tget_cset(type.Id)), "set a string type's character set");
            var pointers = new nint[count];
            fixed (nint* p = pointers)
                Check(Hdf5.H5Aread(attribute.Id, memory.Id, p), "read " + what, where);
            for (int i = 0; i < count; i++)
            {
                result[i] = System.Runtime.InteropServices.Marshal.PtrToStringUTF8(pointers[i]) ?? "";
                if (pointers[i] != 0) Hdf5.H5free_memory(pointers[i]);
            }
            return result;
        }

        int width = elementType.Size;
        int pad = Hdf5.H5Tget_strpad(type.Id);
        var buffer = new byte[checked(count * width)];
        fixed (byte* p = buffer)
            Check(Hdf5.H5Aread(attribute.Id, type.Id, p), "read " + what, where);
        for (int i = 0; i < count; i++)
        {
            var bytes = buffer.AsSpan(i * width, width);
            int end = bytes.IndexOf((byte)0);
            if (end >= 0) bytes = bytes[..end];
            if (pad == Hdf5.StringPadSpace) bytes = bytes.TrimEnd((byte)' ');
            result[i] = Encoding.UTF8.GetString(bytes);
        }
        return result;
    }

    static byte[] Utf8WithTerminator(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
