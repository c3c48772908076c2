namespace Engine.ResNet.Data;

/// <summary>HDF5's datatype classes (H5T_class_t), in the library's numbering.</summary>
public enum Hdf5TypeClass
{
    Integer = 0, Float = 1, Time = 2, String = 3, Bitfield = 4, Opaque = 5,
    Compound = 6, Reference = 7, Enum = 8, VariableLength = 9, Array = 10,
}

/// <summary>
/// What one stored element is: class, size in bytes and, for integers, sign. Prints the way NumPy
/// names dtypes (uint8, int64, float32), so error messages read like the course's notebooks.
/// </summary>
public readonly record struct Hdf5ElementType(Hdf5TypeClass Class, int Size, bool IsSigned)
{
    public bool IsInteger => Class == Hdf5TypeClass.Integer;
    public bool IsFloat => Class == Hdf5TypeClass.Float;

    public override string ToString() => Class switch
    {
        Hdf5TypeClass.Integer => $"{(IsSigned ? "int" : "uint")}{8 * Size}",
        Hdf5TypeClass.Float => $"float{8 * Size}",
        Hdf5TypeClass.String => "string",
        _ => $"{Class.ToString().ToLowerInvariant()} ({Size} bytes)",
    };

    /// <summary>Describes an open datatype; <paramref name="owner"/> names the object for errors.</summary>
    internal static Hdf5ElementType Of(long type, string file, string owner)
    {
        int typeClass = Hdf5.H5Tget_class(type);
        if (typeClass < 0) throw Hdf5.Failure(file, $"get the type class of {owner}", owner);
        nuint size = Hdf5.H5Tget_size(type);
        if (size == 0) throw Hdf5.Failure(file, $"get the element size of {owner}", owner);
        bool signed = false;
        if (typeClass == (int)Hdf5TypeClass.Integer)
        {
            int sign = Hdf5.H5Tget_sign(type);
            if (sign < 0) throw Hdf5.Failure(file, $"get the sign of {owner}", owner);
            signed = sign == 1; // H5T_SGN_2: two's complement
        }
        // A variable-length string reports the size of its pointer; that is still a string.
        return new Hdf5ElementType((Hdf5TypeClass)typeClass, checked((int)Math.Min(size, int.MaxValue)), signed);
    }
}
