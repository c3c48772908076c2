namespace Engine.ResNet.Data;

/// <summary>
/// An open dataset: its dimensions and element type are read when it is opened, its values on
/// request, converted by HDF5 to the element type asked for.
/// </summary>
public sealed unsafe class Hdf5Dataset : Hdf5Object
{
    internal Hdf5Dataset(Hdf5Handle handle, string filePath, string name) : base(handle, filePath, name)
    {
        using var space = Own(Hdf5.H5Dget_space(Id), Hdf5Kind.Dataspace, $"get the shape of dataset '{name}'");
        int spaceClass = (int)Check(Hdf5.H5Sget_simple_extent_type(space.Id), $"get the shape of dataset '{name}'");
        if (spaceClass == Hdf5.NullSpace)
        {
            Dims = [];
            ElementCount = 0;
        }
        else
        {
            int rank = (int)Check(Hdf5.H5Sget_simple_extent_ndims(space.Id), $"get the rank of dataset '{name}'");
            var dims = new ulong[rank];
            fixed (ulong* d = dims)
                Check(Hdf5.H5Sget_simple_extent_dims(space.Id, d, null), $"get the dimensions of dataset '{name}'");
            Dims = Array.ConvertAll(dims, d => checked((long)d));
            ElementCount = Check(Hdf5.H5Sget_simple_extent_npoints(space.Id), $"count the elements of dataset '{name}'");
        }
        using var type = Own(Hdf5.H5Dget_type(Id), Hdf5Kind.Datatype, $"get the type of dataset '{name}'");
        ElementType = Hdf5ElementType.Of(type.Id, filePath, $"dataset '{name}'");
    }

    /// <summary>Dimensions, outermost first; empty for a scalar (or a dataset with no dataspace).</summary>
    public long[] Dims { get; }

    public int Rank => Dims.Length;

    /// <summary>Number of elements: the product of <see cref="Dims"/>, 1 for a scalar.</summary>
    public long ElementCount { get; }

    /// <summary>The element type as stored in the file.</summary>
    public Hdf5ElementType ElementType { get; }

    /// <summary>"(1080, 64, 64, 3)", as NumPy prints shapes.</summary>
    public string ShapeText => Dims.Length == 1 ? $"({Dims[0]},)" : $"({string.Join(", ", Dims)})";

    /// <summary>
    /// All values, row-major, converted to T (byte, int, long, float or double) by HDF5.
    /// Integers out of T's range saturate, as HDF5 converts them.
    /// </summary>
    public T[] Read<T>() where T : unmanaged
    {
        if (ElementCount > Array.MaxLength)
            throw new Hdf5Exception(FilePath, Name, $"dataset '{Name}' {ShapeText} is too large to read into one array");
        var values = new T[ElementCount];
        Read<T>(values);
        return values;
    }

    /// <summary>Reads all values into <paramref name="destination"/>, which must hold exactly <see cref="ElementCount"/>.</summary>
    public void Read<T>(Span<T> destination) where T : unmanaged
    {
        if (destination.Length != ElementCount)
            throw new ArgumentException($"dataset '{Name}' {ShapeText} has {ElementCount} elements, the destination {destination.Length}", nameof(destination));
        long memoryType = Hdf5.MemoryType<T>();
        if (ElementCount == 0) return;
        fixed (T* p = destination)
            Check(Hdf5.H5Dread(Id, memoryType, Hdf5.Default, Hdf5.Default, Hdf5.Default, p), $"read dataset '{Name}' {ShapeText} ({ElementType}) as {typeof(T).Name}");
    }
}
