using Engine.ResNet.Data;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The real SIGNS files, found through SIGNS_DIR. Unset, these skip and say so; set to a folder
/// without the right files, they fail.
/// </summary>
public class SignsDatasetTests
{
    SignsDataset _data = null!;
    string _dir = null!;

    [OneTimeSetUp]
    public void LoadOnce()
    {
        string? dir = Environment.GetEnvironmentVariable("SIGNS_DIR");
        if (string.IsNullOrWhiteSpace(dir))
            Assert.Ignore("SIGNS_DIR is not set: point it at the folder holding train_signs.h5 and test_signs.h5 to run the SIGNS data tests");
        _dir = dir;
        _data = SignsDataset.Load(dir); // a missing or malformed file fails every test here
    }

    [OneTimeTearDown]
    public void Release() => _data?.Dispose();

    [Test]
    public void SplitsHaveTheCourseShapes()
    {
        Assert.That(_data.Train.X.Shape, Is.EqualTo(new Shape(1080, 64, 64, 3)));
        Assert.That(_data.Train.Y.Shape, Is.EqualTo(new Shape(1080, 6)));
        Assert.That(_data.Train.Labels, Has.Length.EqualTo(1080));
        Assert.That(_data.Test.X.Shape, Is.EqualTo(new Shape(120, 64, 64, 3)));
        Assert.That(_data.Test.Y.Shape, Is.EqualTo(new Shape(120, 6)));
        Assert.That(_data.Test.Count, Is.EqualTo(120));
        Assert.That(_data.ClassCount, Is.EqualTo(6));
        Assert.That(_data.Train.Classes, Is.EqualTo(new long[] { 0, 1, 2, 3, 4, 5 }));
        Assert.That(_data.Test.Classes, Is.EqualTo(new long[] { 0, 1, 2, 3, 4, 5 }));
        Assert.That(_data.Train.FilePath, Is.EqualTo(Path.Combine(_dir, SignsDataset.TrainFileName)));
    }

    [TestCase("train"), TestCase("test")]
    public void ImagesAreTheStoredPixelsOver255(string split)
    {
        var set = split == "train" ? _data.Train : _data.Test;
        byte[] raw = ReadRaw<byte>(split, $"{split}_set_x");
        var x = set.X.Span;
        Assert.That(x.Length, Is.EqualTo(raw.Length));
        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in x) { min = Math.Min(min, v); max = Math.Max(max, v); }
        Assert.That(min, Is.GreaterThanOrEqualTo(0f));
        Assert.That(max, Is.LessThanOrEqualTo(1f));
        Assert.That(max, Is.GreaterThan(0.5f), "pixels were scaled once, not twice");

        var rng = new Rng(7);
        for (int k = 0; k < 2000; k++)
        {
            int i = (int)(rng.NextDouble() * raw.Length);
            Assert.That(x[i], Is.EqualTo(raw[i] / 255f), $"{split} element {i} (raw {raw[i]})");
        }
        // The corners of the first and last image pin the NHWC order to the file's.
        foreach (int[] at in new[] { new[] { 0, 0, 0, 0 }, [0, 0, 0, 2], [0, 63, 0, 1], [set.Count - 1, 63, 63, 2] })
        {
            int flat = ((at[0] * 64 + at[1]) * 64 + at[2]) * 3 + at[3];
            Assert.That(set.X[at], Is.EqualTo(raw[flat] / 255f), $"{split} X[{string.Join(", ", at)}]");
        }
    }

    [TestCase("train", 180), TestCase("test", 20)]
    public void EachClassHasItsShareOfLabels(string split, int perClass)
    {
        var set = split == "train" ? _data.Train : _data.Test;
        long[] raw = ReadRaw<long>(split, $"{split}_set_y");
        Assert.That(set.Labels.Select(l => (long)l), Is.EqualTo(raw), "labels as stored");
        Assert.That(set.Labels, Is.All.InRange(0, 5));
        for (int c = 0; c < 6; c++)
            Assert.That(set.Labels.Count(l => l == c), Is.EqualTo(perClass), $"{split} images of class {c}");
    }

    [TestCase("train"), TestCase("test")]
    public void OneHotRowsMarkTheLabel(string split)
    {
        var set = split == "train" ? _data.Train : _data.Test;
        var y = set.Y.Span;
        for (int i = 0; i < set.Count; i++)
        {
            var row = y.Slice(i * 6, 6);
            float sum = 0;
            foreach (float v in row) sum += v;
            Assert.That(sum, Is.EqualTo(1f), $"{split} row {i} sums to 1");
            Assert.That(row[set.Labels[i]], Is.EqualTo(1f), $"{split} row {i} has its 1 at label {set.Labels[i]}");
        }
    }

    T[] ReadRaw<T>(string split, string key) where T : unmanaged
    {
        using var file = Hdf5File.OpenRead(Path.Combine(_dir, $"{split}_signs.h5"));
        using var set = file.OpenDataset(key);
        return set.Read<T>();
    }
}

/// <summary>
/// Malformed SIGNS files, built small in a temp folder: each is refused with one message that
/// names the file and the problem.
/// </summary>
public class SignsFormatTests
{
    TempFolder _temp = null!;

    [SetUp] public void CreateFolder() => _temp = new TempFolder();
    [TearDown] public void DeleteFolder() => _temp.Dispose();

    const int N = 4;
    static readonly long[] GoodLabels = [0, 5, 2, 2];
    static readonly long[] SixClasses = [0, 1, 2, 3, 4, 5];

    static byte[] Pixels(int count) => Enumerable.Range(0, count).Select(i => (byte)(i * 7 % 256)).ToArray();

    /// <summary>A SIGNS-layout file; each argument bends one part of it.</summary>
    string Write(string name, string prefix = "train", int[]? xDims = null, bool floatPixels = false,
        long[]? labels = null, int[]? labelDims = null, bool floatLabels = false, long[]? classes = null,
        string? omit = null, string? asGroup = null)
    {
        string path = _temp.File(name);
        xDims ??= [N, 64, 64, 3];
        labels ??= GoodLabels;
        labelDims ??= [labels.Length];
        classes ??= SixClasses;
        int pixelCount = xDims.Aggregate(1, (a, d) => a * d);
        using var file = Hdf5File.Create(path);
        foreach (var key in new[] { $"{prefix}_set_x", $"{prefix}_set_y", "list_classes" })
        {
            if (key == omit) continue;
            if (key == asGroup)
            {
                file.CreateGroup(key).Dispose();
                continue;
            }
            if (key.EndsWith("_x"))
            {
                if (floatPixels) file.WriteDataset<float>(key, xDims, Pixels(pixelCount).Select(p => p / 255f).ToArray());
                else file.WriteDataset<byte>(key, xDims, Pixels(pixelCount));
            }
            else if (key.EndsWith("_y"))
            {
                if (floatLabels) file.WriteDataset<double>(key, labelDims, labels.Select(l => (double)l).ToArray());
                else file.WriteDataset<long>(key, labelDims, labels);
            }
            else file.WriteDataset<long>(key, [classes.Length], classes);
        }
        return path;
    }

    static DataFormatException Refused(string path, string prefix = "train")
    {
        var e = Assert.Throws<DataFormatException>(() => SignsDataset.LoadSplit(path, prefix).Dispose());
        Assert.That(e!.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.StartWith(path + ": "), "the message starts with the file");
        Assert.That(e.Message, Does.Not.Contain("\n"), "one line, no HDF5 stack");
        return e;
    }

    [Test]
    public void AWellFormedSmallFileLoads()
    {
        string path = Write("train_signs.h5");
        using var split = SignsDataset.LoadSplit(path, "train");
        Assert.That(split.X.Shape, Is.EqualTo(new Shape(N, 64, 64, 3)));
        Assert.That(split.X.ToArray(), Is.EqualTo(Pixels(N * 64 * 64 * 3).Select(p => p / 255f).ToArray()));
        Assert.That(split.Labels, Is.EqualTo(new[] { 0, 5, 2, 2 }));
        Assert.That(split.Classes, Is.EqualTo(SixClasses));
        Assert.That(split.Y.Shape, Is.EqualTo(new Shape(N, 6)));
        Assert.That(split.Y[1, 5], Is.EqualTo(1f));
        Assert.That(split.Y.ToArray().Sum(), Is.EqualTo(N));
    }

    [Test]
    public void AFolderWithBothFilesLoads()
    {
        Write("train_signs.h5");
        Write("test_signs.h5", prefix: "test", labels: [1, 1, 3, 4]);
        using var data = SignsDataset.Load(_temp.Path);
        Assert.That(data.Train.Labels, Is.EqualTo(new[] { 0, 5, 2, 2 }));
        Assert.That(data.Test.Labels, Is.EqualTo(new[] { 1, 1, 3, 4 }));
        Assert.That(data.ClassCount, Is.EqualTo(6));
    }

    [Test]
    public void AMissingFileSaysWhereToPutIt()
    {
        string path = _temp.File("train_signs.h5");
        var e = Refused(path);
        Assert.That(e.Message, Does.Contain("no such file").And.Contain(_temp.Path));
    }

    [Test]
    public void AFolderMissingTheTestFileNamesIt()
    {
        Write("train_signs.h5");
        var e = Assert.Throws<DataFormatException>(() => SignsDataset.Load(_temp.Path).Dispose());
        Assert.That(e!.Message, Does.StartWith(_temp.File("test_signs.h5") + ": ").And.Contain("no such file"));
    }

    [Test]
    public void AMissingFolderIsNamed()
    {
        string dir = _temp.File("nowhere");
        var e = Assert.Throws<DataFormatException>(() => SignsDataset.Load(dir).Dispose());
        Assert.That(e!.Message, Does.StartWith(dir + ": ").And.Contain("no such folder").And.Contain("train_signs.h5"));
    }

    [Test]
    public void ClassListsThatDisagreeAreRefused()
    {
        Write("train_signs.h5");
        Write("test_signs.h5", prefix: "test", classes: [0, 1, 2, 3, 4, 5, 6]);
        var e = Assert.Throws<DataFormatException>(() => SignsDataset.Load(_temp.Path).Dispose());
        Assert.That(e!.Message, Does.StartWith(_temp.File("test_signs.h5") + ": ").And.Contain("list_classes"));
    }

    [Test]
    public void AnEmptyFileIsRefused()
    {
        string path = _temp.File("train_signs.h5");
        File.WriteAllBytes(path, []);
        Assert.That(Refused(path).Message, Does.Contain("empty"));
    }

    [Test]
    public void ATruncatedFileIsRefused()
    {
        byte[] bytes = File.ReadAllBytes(Write("whole.h5"));
        string path = _temp.File("train_signs.h5");
        File.WriteAllBytes(path, bytes[..(bytes.Length * 2 / 3)]);
        var e = Refused(path);
        Assert.That(e.Message, Does.Contain("truncated"));
        Assert.That(e.InnerException, Is.TypeOf<Hdf5Exception>());
    }

    [Test]
    public void ATextFileIsRefused()
    {
        string path = _temp.File("train_signs.h5");
        File.WriteAllText(path, "<html>404 Not Found</html>\n");
        Assert.That(Refused(path).Message, Does.Contain("not an HDF5 file").And.Contain("Expected the course's SIGNS train file"));
    }

    [TestCase("train_set_x"), TestCase("train_set_y"), TestCase("list_classes")]
    public void AMissingDatasetIsNamed(string key)
    {
        string path = Write("train_signs.h5", omit: key);
        Assert.That(Refused(path).Message, Does.Contain($"no dataset '{key}'").And.Contain("the file holds: "));
    }

    [Test]
    public void TheWrongSplitsKeysAreNamed()
    {
        string path = Write("train_signs.h5");
        Assert.That(Refused(path, prefix: "test").Message,
            Does.Contain("no dataset 'test_set_x' (the file holds: list_classes, train_set_x, train_set_y)"));
    }

    [Test]
    public void AGroupWhereADatasetShouldBeIsRefused()
    {
        string path = Write("train_signs.h5", asGroup: "train_set_y");
        Assert.That(Refused(path).Message, Does.Contain("'train_set_y' is not a dataset"));
    }

    [Test]
    public void ImagesOfTheWrongSizeAreRefused()
    {
        string path = Write("train_signs.h5", xDims: [N, 32, 32, 3]);
        Assert.That(Refused(path).Message, Does.Contain("train_set_x has shape (4, 32, 32, 3), expected (N, 64, 64, 3)"));
    }

    [Test]
    public void ImagesOfTheWrongRankAreRefused()
    {
        string path = Write("train_signs.h5", xDims: [N, 64 * 64 * 3]);
        Assert.That(Refused(path).Message, Does.Contain("train_set_x has shape (4, 12288)"));
    }

    [Test]
    public void FloatImagesAreRefused()
    {
        string path = Write("train_signs.h5", floatPixels: true);
        Assert.That(Refused(path).Message, Does.Contain("train_set_x is float32, expected uint8"));
    }

    [Test]
    public void FloatLabelsAreRefused()
    {
        string path = Write("train_signs.h5", floatLabels: true);
        Assert.That(Refused(path).Message, Does.Contain("train_set_y is float64, expected integer labels"));
    }

    [Test]
    public void LabelsOfTheWrongRankAreRefused()
    {
        string path = Write("train_signs.h5", labelDims: [1, N]);
        Assert.That(Refused(path).Message, Does.Contain("train_set_y has shape (1, 4), expected a vector"));
    }

    [Test]
    public void ImageAndLabelCountsThatDifferAreRefused()
    {
        string path = Write("train_signs.h5", labels: [0, 1, 2]);
        Assert.That(Refused(path).Message, Does.Contain("train_set_x holds 4 images but train_set_y holds 3 labels"));
    }

    [TestCase(6, 2), TestCase(-1, 0), TestCase(long.MaxValue, 3)]
    public void LabelsOutsideTheClassesAreRefused(long bad, int row)
    {
        var labels = (long[])GoodLabels.Clone();
        labels[row] = bad;
        string path = Write("train_signs.h5", labels: labels);
        Assert.That(Refused(path).Message,
            Does.Contain("train_set_y holds 1 label(s) outside 0..5 (list_classes has 6 classes)").And.Contain($"the first {bad} at row {row}"));
    }

    [Test]
    public void AnEmptyClassListIsRefused()
    {
        string path = Write("train_signs.h5", classes: []);
        Assert.That(Refused(path).Message, Does.Contain("list_classes is empty"));
    }

    [Test]
    public void AFileWithNoImagesIsRefused()
    {
        string path = Write("train_signs.h5", xDims: [0, 64, 64, 3], labels: []);
        Assert.That(Refused(path).Message, Does.Contain("train_set_x holds no images"));
    }
}
