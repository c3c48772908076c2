using System.Text;

namespace Engine.ResNet.Data;

/// <summary>
/// A group: named links to groups and datasets. Paths are relative to this group unless they
/// start with '/', and may be nested ("model_weights/conv1/conv1").
/// </summary>
public unsafe class Hdf5Group : Hdf5Object
{
    private protected Hdf5Group(Hdf5Handle handle, string filePath, string name) : base(handle, filePath, name) { }

    /// <summary>Opens an existing group.</summary>
    public Hdf5Group OpenGroup(string path)
    {
        string name = PathOf(path);
        return new Hdf5Group(Own(Hdf5.H5Gopen2(Id, path, Hdf5.Default), Hdf5Kind.Group, $"open group '{name}'", name), FilePath, name);
    }

    /// <summary>Creates a group, and any missing groups on its path; fails if it exists already.</summary>
    public Hdf5Group CreateGroup(string path)
    {
        string name = PathOf(path);
        long id = Hdf5.H5Gcreate2(Id, path, Hdf5.CreateIntermediateGroups, Hdf5.Default, Hdf5.Default);
        return new Hdf5Group(Own(id, Hdf5Kind.Group, $"create group '{name}'", name), FilePath, name);
    }

    /// <summary>
    /// True when every link on <paramref name="path"/> exists and the last one leads to an object.
    /// Each level is tested in turn because HDF5 fails, rather than answering false, when an
    /// intermediate group is missing.
    /// </summary>
    public bool Exists(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts is ["."]) return true;
        var prefix = new StringBuilder(path.StartsWith('/') ? "/" : "");
        foreach (var part in parts)
        {
            if (prefix.Length > 0 && prefix[^1] != '/') prefix.Append('/');
            prefix.Append(part);
            string link = prefix.ToString();
            if (Check(Hdf5.H5Lexists(Id, link, Hdf5.Default), $"look for '{PathOf(link)}'", PathOf(link)) <= 0) return false;
        }
        return Check(Hdf5.H5Oexists_by_name(Id, path, Hdf5.Default), $"look for '{PathOf(path)}'", PathOf(path)) > 0;
    }

    /// <summary>True when <paramref name="path"/> exists and is a group.</summary>
    public bool IsGroup(string path) => KindOf(path) == Hdf5.IdGroup;

    /// <summary>True when <paramref name="path"/> exists and is a dataset.</summary>
    public bool IsDataset(string path) => KindOf(path) == Hdf5.IdDataset;

    int KindOf(string path)
    {
        if (!Exists(path)) return -1;
        string name = PathOf(path);
        using var handle = Own(Hdf5.H5Oopen(Id, path, Hdf5.Default), Hdf5Kind.Object, $"open '{name}'", name);
        return (int)Check(Hdf5.H5Iget_type(handle.Id), $"get the kind of '{name}'", name);
    }

    /// <summary>The names of this group's direct children (groups and datasets), in name order.</summary>
    public IReadOnlyList<string> ChildNames()
    {
        Hdf5.GroupInfo info;
        Check(Hdf5.H5Gget_info(Id, &info), $"list group '{Name}'");
        var names = new List<string>((int)info.LinkCount);
        for (ulong i = 0; i < info.LinkCount; i++)
        {
            int length = checked((int)Check(Hdf5.H5Lget_name_by_idx(Id, ".", Hdf5.IndexByName, Hdf5.IterateIncreasing, i, null, 0, Hdf5.Default), $"list group '{Name}'"));
            var buffer = new byte[length + 1];
            fixed (byte* p = buffer)
                Check(Hdf5.H5Lget_name_by_idx(Id, ".", Hdf5.IndexByName, Hdf5.IterateIncreasing, i, p, (nuint)buffer.Length, Hdf5.Default), $"list group '{Name}'");
            names.Add(Encoding.UTF8.GetString(buffer, 0, length));
        }
        return names;
    }

    /// <summary>Opens an existing dataset.</summary>
    public Hdf5Dataset OpenDataset(string path)
    {
        string name = PathOf(path);
        var handle = Own(Hdf5.H5Dopen2(Id, path, Hdf5.Default), Hdf5Kind.Dataset, $"open dataset '{name}'", name);
        try
        {
            return new Hdf5Dataset(handle, FilePath, name);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a dataset of the given dimensions (none for a scalar) and writes
    /// <paramref name="values"/> to it, row-major; missing groups on the path are created. T is
    /// byte, int, long, float or double, stored little-endian as uint8, int32, int64, float32, float64.
    /// </summary>
    public void WriteDataset<T>(string path, ReadOnlySpan<int> dims, ReadOnlySpan<T> values) where T : unmanaged
    {
        string name = PathOf(path);
        long count = 1;
        var extent = new ulong[dims.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] < 0) throw new ArgumentException($"negative dimension {dims[i]} for dataset '{name}'", nameof(dims));
            extent[i] = (ulong)dims[i];
            count *= dims[i];
        }
        if (values.Length != count)
            throw new ArgumentException($"{values.Length} values do not fill dataset '{name}' of dimensions ({string.Join(", ", dims.ToArray())})", nameof(values));

        long memoryType = Hdf5.MemoryType<T>(), fileType = Hdf5.FileType<T>();
        using var space = dims.Length == 0
            ? Own(Hdf5.H5Screate(Hdf5.ScalarSpace), Hdf5Kind.Dataspace, "create a scalar dataspace", name)
            : CreateSimpleSpace(extent, name);
        using var dataset = Own(Hdf5.H5Dcreate2(Id, path, fileType, space.Id, Hdf5.CreateIntermediateGroups, Hdf5.Default, Hdf5.Default),
            Hdf5Kind.Dataset, $"create dataset '{name}'", name);
        if (count == 0) return;
        fixed (T* p = values)
            Check(Hdf5.H5Dwrite(dataset.Id, memoryType, Hdf5.Default, Hdf5.Default, Hdf5.Default, p), $"write dataset '{name}'", name);
    }

    Hdf5Handle CreateSimpleSpace(ulong[] extent, string name)
    {
        fixed (ulong* d = extent)
            return Own(Hdf5.H5Screate_simple(extent.Length, d, null), Hdf5Kind.Dataspace, "create a dataspace", name);
    }
}
