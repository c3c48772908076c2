namespace Engine.ResNet.Data;

/// <summary>
/// An HDF5 file, which is also its root group "/". Open one read-only with <see cref="OpenRead"/>
/// or create one with <see cref="Create"/>; dispose it to close it.
/// </summary>
public sealed class Hdf5File : Hdf5Group
{
    Hdf5File(Hdf5Handle handle, string filePath, bool writable) : base(handle, filePath, "/")
    {
        IsWritable = writable;
    }

    /// <summary>True for a file made by <see cref="Create"/>.</summary>
    public bool IsWritable { get; }

    /// <summary>
    /// Opens an existing file read-only. A missing, empty, non-HDF5 or damaged (truncated) file
    /// gives an <see cref="Hdf5Exception"/> that says which of these it is.
    /// </summary>
    public static Hdf5File OpenRead(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Hdf5.Initialize();
        if (Directory.Exists(path)) throw new Hdf5Exception(path, null, "is a folder, not an HDF5 file");
        var info = new FileInfo(path);
        if (!info.Exists) throw new Hdf5Exception(path, null, "no such file");
        if (info.Length == 0) throw new Hdf5Exception(path, null, "the file is empty (0 bytes), not an HDF5 file");

        // H5Fopen on a file that is not HDF5 only says it cannot find a superblock; ask first.
        int isHdf5 = Hdf5.H5Fis_hdf5(path);
        if (isHdf5 < 0) throw Hdf5.Failure(path, "read the file");
        if (isHdf5 == 0) throw new Hdf5Exception(path, null, "not an HDF5 file (no HDF5 signature found)");

        long id = Hdf5.H5Fopen(path, Hdf5.FileReadOnly, Hdf5.Default);
        if (id < 0) throw Hdf5.Failure(path, "open the file as HDF5 (is it damaged or cut short?)");
        return new Hdf5File(new Hdf5Handle(id, Hdf5Kind.File), path, writable: false);
    }

    /// <summary>Creates a file, replacing any file of that name.</summary>
    public static Hdf5File Create(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Hdf5.Initialize();
        long id = Hdf5.H5Fcreate(path, Hdf5.FileTruncate, Hdf5.Default, Hdf5.Default);
        if (id < 0) throw Hdf5.Failure(path, "create the file");
        return new Hdf5File(new Hdf5Handle(id, Hdf5Kind.File), path, writable: true);
    }

    /// <summary>Writes everything buffered for this file to disk.</summary>
    public void Flush() => Check(Hdf5.H5Fflush(Id, Hdf5.FlushGlobal), "write the file to disk");

    /// <summary>
    /// Closes the file. A writable file is flushed first, and a failed flush throws: a model that
    /// silently did not reach the disk is worse than an exception here.
    /// </summary>
    public override void Dispose()
    {
        if (Handle.IsClosed) return;
        try
        {
            if (IsWritable) Flush();
        }
        finally
        {
            base.Dispose();
        }
    }
}
