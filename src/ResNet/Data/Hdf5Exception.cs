namespace Engine.ResNet.Data;

/// <summary>
/// An HDF5 call failed, or a file is not HDF5 at all. The message starts with the file, names the
/// object being accessed, and ends with HDF5's own reason.
/// </summary>
public sealed class Hdf5Exception : IOException
{
    /// <summary>The file being read or written, as given to <see cref="Hdf5File"/>.</summary>
    public string FilePath { get; }

    /// <summary>The object inside the file (a group, dataset or attribute path), when there was one.</summary>
    public string? ObjectName { get; }

    /// <summary>What went wrong, without the file name in front.</summary>
    public string Problem { get; }

    public Hdf5Exception(string filePath, string? objectName, string problem)
        : base($"{filePath}: {problem}")
    {
        FilePath = filePath;
        ObjectName = objectName;
        Problem = problem;
    }
}
