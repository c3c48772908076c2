using Engine.Tensors;

namespace Engine.ResNet.Data;

/// <summary>
/// One split of SIGNS (hand signs for 0 to 5), ready for training: images scaled to [0, 1] and
/// labels one-hot, plus the labels and class list as stored.
/// </summary>
public sealed class SignsSplit : IDisposable
{
    internal SignsSplit(string filePath, Tensor<float> x, Tensor<float> y, int[] labels, long[] classes)
    {
        FilePath = filePath;
        X = x;
        Y = y;
        Labels = labels;
        Classes = classes;
    }

    /// <summary>The file it was read from.</summary>
    public string FilePath { get; }

    /// <summary>Images [N, 64, 64, 3] (NHWC, RGB), pixel / 255.</summary>
    public Tensor<float> X { get; }

    /// <summary>One-hot labels [N, classes].</summary>
    public Tensor<float> Y { get; }

    /// <summary>The label of each image, 0..classes-1.</summary>
    public int[] Labels { get; }

    /// <summary>The file's list_classes.</summary>
    public long[] Classes { get; }

    public int Count => Labels.Length;

    public void Dispose()
    {
        X.Dispose();
        Y.Dispose();
    }
}

/// <summary>
/// The SIGNS data set as the course ships it: train_signs.h5 (1080 images) and test_signs.h5
/// (120), each with <c>{prefix}_set_x</c> uint8 (N, 64, 64, 3), <c>{prefix}_set_y</c> int64
/// (N,) and <c>list_classes</c> int64 (6,). Anything else is refused with a
/// <see cref="DataFormatException"/> that names the file and the problem.
/// </summary>
public sealed class SignsDataset : IDisposable
{
    public const string TrainFileName = "train_signs.h5";
    public const string TestFileName = "test_signs.h5";
    public const int ImageSize = 64;
    public const int Channels = 3;

    SignsDataset(SignsSplit train, SignsSplit test)
    {
        Train = train;
        Test = test;
    }

    public SignsSplit Train { get; }
    public SignsSplit Test { get; }

    /// <summary>Number of classes (the length of list_classes): 6 for SIGNS.</summary>
    public int ClassCount => Train.Classes.Length;

    /// <summary>Loads train_signs.h5 and test_signs.h5 from <paramref name="directory"/>.</summary>
    public static SignsDataset Load(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DataFormatException(directory,
                $"{directory}: no such folder. It should hold the course's SIGNS files {TrainFileName} and {TestFileName}.");
        var train = LoadSplit(Path.Combine(directory, TrainFileName), "train");
        try
        {
            var test = LoadSplit(Path.Combine(directory, TestFileName), "test");
            if (!test.Classes.AsSpan().SequenceEqual(train.Classes))
            {
                test.Dispose();
                throw new DataFormatException(test.FilePath,
                    $"{test.FilePath}: list_classes is [{string.Join(", ", test.Classes)}] but {train.FilePath} has " +
                    $"[{string.Join(", ", train.Classes)}]. Both files must come from the same SIGNS release.");
            }
            return new SignsDataset(train, test);
        }
        catch
        {
            train.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads one split: <paramref name="prefix"/> "train" reads train_set_x and train_set_y,
    /// "test" reads test_set_x and test_set_y.
    /// </summary>
    public static SignsSplit LoadSplit(string path, string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new DataFormatException(path,
                $"{path}: no such file. Put the course's SIGNS files ({TrainFileName}, {TestFileName}) in " +
                $"{Path.GetDirectoryName(Path.GetFullPath(path))}.");
        try
        {
            using var file = Hdf5File.OpenRead(path);
            return Read(file, path, prefix);
        }
        catch (Hdf5Exception e)
        {
            throw Bad(path, prefix, e.Problem, e);
        }
    }

    static SignsSplit Read(Hdf5File file, string path, string prefix)
    {
        string xKey = prefix + "_set_x", yKey = prefix + "_set_y", classesKey = "list_classes";
        using var xSet = Open(file, path, prefix, xKey);
        using var ySet = Open(file, path, prefix, yKey);
        using var classSet = Open(file, path, prefix, classesKey);

        var xType = xSet.ElementType;
        if (!(xType.IsInteger && xType.Size == 1 && !xType.IsSigned))
            throw Bad(path, prefix, $"{xKey} is {xType}, expected uint8 pixels (0 to 255)");
        if (xSet.Rank != 4 || xSet.Dims[1] != ImageSize || xSet.Dims[2] != ImageSize || xSet.Dims[3] != Channels)
            throw Bad(path, prefix, $"{xKey} has shape {xSet.ShapeText}, expected (N, {ImageSize}, {ImageSize}, {Channels}) images");
        int count = checked((int)xSet.Dims[0]);
        if (count == 0) throw Bad(path, prefix, $"{xKey} holds no images");

        RequireIntegerVector(ySet, yKey, "labels", path, prefix);
        if (ySet.Dims[0] != count)
            throw Bad(path, prefix, $"{xKey} holds {count} images but {yKey} holds {ySet.Dims[0]} labels");
        RequireIntegerVector(classSet, classesKey, "class values", path, prefix);
        long[] classes = classSet.Read<long>();
        if (classes.Length == 0) throw Bad(path, prefix, $"{classesKey} is empty");

        long[] stored = ySet.Read<long>();
        var labels = new int[count];
        int outside = 0, first = -1;
        for (int i = 0; i < count; i++)
        {
            if (stored[i] < 0 || stored[i] >= classes.Length)
            {
                outside++;
                if (first < 0) first = i;
                continue;
            }
            labels[i] = (int)stored[i];
        }
        if (outside > 0)
            throw Bad(path, prefix, $"{yKey} holds {outside} label(s) outside 0..{classes.Length - 1} " +
                $"({classesKey} has {classes.Length} classes), the first {stored[first]} at row {first}");

        var pixels = xSet.Read<byte>();
        var x = Preprocessing.ScalePixels(pixels, new Shape(count, ImageSize, ImageSize, Channels));
        var y = Preprocessing.ConvertToOneHot(labels, classes.Length);
        return new SignsSplit(path, x, y, labels, classes);
    }

    static Hdf5Dataset Open(Hdf5File file, string path, string prefix, string key)
    {
        if (file.IsDataset(key)) return file.OpenDataset(key);
        if (file.Exists(key)) throw Bad(path, prefix, $"'{key}' is not a dataset");
        var names = file.ChildNames();
        string found = names.Count == 0 ? "nothing" : string.Join(", ", names);
        throw Bad(path, prefix, $"no dataset '{key}' (the file holds: {found})");
    }

    static void RequireIntegerVector(Hdf5Dataset set, string key, string what, string path, string prefix)
    {
        if (!set.ElementType.IsInteger)
            throw Bad(path, prefix, $"{key} is {set.ElementType}, expected integer {what} (int64)");
        if (set.Rank != 1)
            throw Bad(path, prefix, $"{key} has shape {set.ShapeText}, expected a vector (N,) of {what}");
    }

    static DataFormatException Bad(string path, string prefix, string problem, Exception? inner = null) =>
        new(path, $"{path}: {problem}. Expected the course's SIGNS {prefix} file: {prefix}_set_x uint8 " +
            $"(N, {ImageSize}, {ImageSize}, {Channels}), {prefix}_set_y int64 (N,), list_classes int64 (classes,).", inner);

    public void Dispose()
    {
        Train.Dispose();
        Test.Dispose();
    }
}
