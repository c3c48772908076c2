using Engine.ResNet.Data;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The HDF5 binding: what it writes it reads back unchanged (groups, datasets, the string
/// attributes Keras uses), and a bad file is refused with an exception naming it.
/// </summary>
public class Hdf5Tests
{
    TempFolder _temp = null!;

    [SetUp] public void CreateFolder() => _temp = new TempFolder();
    [TearDown] public void DeleteFolder() => _temp.Dispose();

    static readonly int[] KernelDims = [3, 3, 2, 4];
    static readonly float[] Kernel = TestData.Random<float>(3 * 3 * 2 * 4, 11);
    static readonly float[] Bias = [0.5f, -1.25f, float.Epsilon, float.MaxValue];

    /// <summary>A small file in Keras' weight-file layout.</summary>
    string WriteKerasLikeFile(string name = "model.h5")
    {
        string path = _temp.File(name);
        using var file = Hdf5File.Create(path);
        file.WriteStringAttribute("model_config", """{"class_name": "Model", "name": "résnet"}""");
        using (var conv = file.CreateGroup("model_weights/conv1/conv1"))
        {
            conv.WriteDataset<float>("kernel:0", KernelDims, Kernel);
            conv.WriteDataset<float>("bias:0", [4], Bias);
        }
        using (var weights = file.OpenGroup("model_weights"))
            weights.WriteStringArrayAttribute("layer_names", ["conv1", "bn_conv1", "activation_1"]);
        using (var layer = file.OpenGroup("/model_weights/conv1"))
            layer.WriteStringArrayAttribute("weight_names", ["conv1/kernel:0", "conv1/bias:0"]);
        using (var kernel = file.OpenDataset("model_weights/conv1/conv1/kernel:0"))
            kernel.WriteStringAttribute("note", "HWIO");
        return path;
    }

    [Test]
    public void GroupsDatasetsAndAttributesRoundTrip()
    {
        string path = WriteKerasLikeFile();
        using var file = Hdf5File.OpenRead(path);
        Assert.That(file.Name, Is.EqualTo("/"));
        Assert.That(file.IsWritable, Is.False);
        Assert.That(file.ChildNames(), Is.EqualTo(new[] { "model_weights" }));
        Assert.That(file.ReadStringAttribute("model_config"), Is.EqualTo("""{"class_name": "Model", "name": "résnet"}"""));

        using var weights = file.OpenGroup("model_weights");
        Assert.That(weights.Name, Is.EqualTo("/model_weights"));
        Assert.That(weights.ReadStringArrayAttribute("layer_names"), Is.EqualTo(new[] { "conv1", "bn_conv1", "activation_1" }));
        using var layer = weights.OpenGroup("conv1");
        Assert.That(layer.Name, Is.EqualTo("/model_weights/conv1"));
        Assert.That(layer.ReadStringArrayAttribute("weight_names"), Is.EqualTo(new[] { "conv1/kernel:0", "conv1/bias:0" }));
        Assert.That(layer.ChildNames(), Is.EqualTo(new[] { "conv1" }));
        using var conv = layer.OpenGroup("conv1");
        Assert.That(conv.ChildNames(), Is.EqualTo(new[] { "bias:0", "kernel:0" }), "children in name order");

        using var kernel = conv.OpenDataset("kernel:0");
        Assert.That(kernel.Name, Is.EqualTo("/model_weights/conv1/conv1/kernel:0"));
        Assert.That(kernel.Dims, Is.EqualTo(new long[] { 3, 3, 2, 4 }));
        Assert.That(kernel.ElementCount, Is.EqualTo(72));
        Assert.That(kernel.ElementType, Is.EqualTo(new Hdf5ElementType(Hdf5TypeClass.Float, 4, false)));
        Assert.That(kernel.ElementType.ToString(), Is.EqualTo("float32"));
        Assert.That(kernel.ShapeText, Is.EqualTo("(3, 3, 2, 4)"));
        Assert.That(kernel.Read<float>(), Is.EqualTo(Kernel), "float32 values bit for bit");
        Assert.That(kernel.Read<double>(), Is.EqualTo(Kernel.Select(v => (double)v).ToArray()), "converted to float64 by HDF5");
        Assert.That(kernel.ReadStringAttribute("note"), Is.EqualTo("HWIO"));

        using var bias = file.OpenDataset("/model_weights/conv1/conv1/bias:0");
        Assert.That(bias.ShapeText, Is.EqualTo("(4,)"));
        Assert.That(bias.Read<float>(), Is.EqualTo(Bias));
    }

    [Test]
    public void ExistenceAndKindOfPaths()
    {
        using var file = Hdf5File.OpenRead(WriteKerasLikeFile());
        Assert.That(file.Exists("model_weights"), Is.True);
        Assert.That(file.Exists("model_weights/conv1/conv1/kernel:0"), Is.True);
        Assert.That(file.Exists("/model_weights/conv1"), Is.True);
        Assert.That(file.Exists("/"), Is.True);
        Assert.That(file.Exists("optimizer_weights"), Is.False);
        Assert.That(file.Exists("nope/deeper/still"), Is.False, "a missing intermediate group answers false, not an error");
        Assert.That(file.Exists("model_weights/conv1/missing"), Is.False);
        Assert.That(file.IsGroup("model_weights/conv1"), Is.True);
        Assert.That(file.IsDataset("model_weights/conv1"), Is.False);
        Assert.That(file.IsDataset("model_weights/conv1/conv1/bias:0"), Is.True);
        Assert.That(file.IsGroup("model_weights/conv1/conv1/bias:0"), Is.False);
        Assert.That(file.IsDataset("nope/bias:0"), Is.False);

        Assert.That(file.HasAttribute("model_config"), Is.True);
        Assert.That(file.HasAttribute("training_config"), Is.False);
        using var kernel = file.OpenDataset("model_weights/conv1/conv1/kernel:0");
        Assert.That(kernel.HasAttribute("note"), Is.True);
        Assert.That(kernel.HasAttribute("model_config"), Is.False);
    }

    [Test]
    public void IntegerFloat64AndScalarDatasetsRoundTrip()
    {
        string path = _temp.File("numbers.h5");
        byte[] pixels = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        long[] labels = [0, -1, long.MaxValue, long.MinValue, 5];
        int[] ints = [int.MinValue, 0, int.MaxValue];
        double[] doubles = [Math.PI, -0.0, 1e-300];
        using (var file = Hdf5File.Create(path))
        {
            Assert.That(file.IsWritable, Is.True);
            file.WriteDataset<byte>("x", [4, 8, 8], pixels);
            file.WriteDataset<long>("deep/er/y", [5], labels);
            file.WriteDataset<int>("i", [3], ints);
            file.WriteDataset<double>("d", [1, 3], doubles);
            file.WriteDataset<long>("iterations", [], [42]);
            file.WriteDataset<float>("nothing", [0, 3], ReadOnlySpan<float>.Empty);
        }
        using (var file = Hdf5File.OpenRead(path))
        {
            using var x = file.OpenDataset("x");
            Assert.That(x.ElementType.ToString(), Is.EqualTo("uint8"));
            Assert.That(x.ElementType.IsSigned, Is.False);
            Assert.That(x.Read<byte>(), Is.EqualTo(pixels));
            Assert.That(x.Read<float>(), Is.EqualTo(pixels.Select(p => (float)p).ToArray()), "uint8 converted to float32");
            using var y = file.OpenDataset("deep/er/y");
            Assert.That(y.ElementType.ToString(), Is.EqualTo("int64"));
            Assert.That(y.Read<long>(), Is.EqualTo(labels));
            using var i = file.OpenDataset("i");
            Assert.That(i.ElementType.ToString(), Is.EqualTo("int32"));
            Assert.That(i.Read<int>(), Is.EqualTo(ints));
            Assert.That(i.Read<long>(), Is.EqualTo(ints.Select(v => (long)v).ToArray()));
            using var d = file.OpenDataset("d");
            Assert.That(d.ElementType.ToString(), Is.EqualTo("float64"));
            Assert.That(d.Dims, Is.EqualTo(new long[] { 1, 3 }));
            Assert.That(d.Read<double>(), Is.EqualTo(doubles));
            using var scalar = file.OpenDataset("iterations");
            Assert.That(scalar.Rank, Is.EqualTo(0));
            Assert.That(scalar.ElementCount, Is.EqualTo(1));
            Assert.That(scalar.Read<long>(), Is.EqualTo(new long[] { 42 }));
            using var nothing = file.OpenDataset("nothing");
            Assert.That(nothing.Dims, Is.EqualTo(new long[] { 0, 3 }));
            Assert.That(nothing.Read<float>(), Is.Empty);
        }
    }

    [Test]
    public void StringAttributesBeyondTheObjectHeaderLimitRoundTrip()
    {
        // ResNet50's model_config is well over the 64 KiB an object header holds.
        string config = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"layer{i},"));
        Assert.That(config.Length, Is.GreaterThan(100_000));
        string path = _temp.File("big.h5");
        using (var file = Hdf5File.Create(path)) file.WriteStringAttribute("model_config", config);
        using (var file = Hdf5File.OpenRead(path)) Assert.That(file.ReadStringAttribute("model_config"), Is.EqualTo(config));
    }

    [Test]
    public void AttributesAreReplacedAndHandleEmptyAndUtf8Arrays()
    {
        string path = _temp.File("attrs.h5");
        using (var file = Hdf5File.Create(path))
        {
            file.WriteStringAttribute("a", "first");
            file.WriteStringAttribute("a", "second, longer than the first");
            file.WriteStringArrayAttribute("names", ["x", "yy"]);
            file.WriteStringArrayAttribute("names", ["zzz"]);
            file.WriteStringArrayAttribute("empty", []);
            file.WriteStringArrayAttribute("blank", ["", "b", ""]);
            file.WriteStringArrayAttribute("utf8", ["größe", "ß"]);
        }
        using (var file = Hdf5File.OpenRead(path))
        {
            Assert.That(file.ReadStringAttribute("a"), Is.EqualTo("second, longer than the first"));
            Assert.That(file.ReadStringArrayAttribute("a"), Is.EqualTo(new[] { "second, longer than the first" }), "a scalar reads as one element");
            Assert.That(file.ReadStringArrayAttribute("names"), Is.EqualTo(new[] { "zzz" }));
            Assert.That(file.ReadStringAttribute("names"), Is.EqualTo("zzz"), "a fixed-length one-element array reads as a string");
            Assert.That(file.ReadStringArrayAttribute("empty"), Is.Empty);
            Assert.That(file.ReadStringArrayAttribute("blank"), Is.EqualTo(new[] { "", "b", "" }));
            Assert.That(file.ReadStringArrayAttribute("utf8"), Is.EqualTo(new[] { "größe", "ß" }));
            var e = Assert.Throws<Hdf5Exception>(() => file.ReadStringAttribute("blank"));
            Assert.That(e!.Message, Does.Contain(path).And.Contain("'blank'").And.Contain("3 strings"));
        }
    }

    [Test]
    public void AMissingFileIsRefusedByName()
    {
        string path = _temp.File("absent.h5");
        var e = Assert.Throws<Hdf5Exception>(() => Hdf5File.OpenRead(path));
        Assert.That(e!.Message, Is.EqualTo($"{path}: no such file"));
        Assert.That(e.FilePath, Is.EqualTo(path));
    }

    [Test]
    public void AnEmptyFileIsRefusedByName()
    {
        string path = _temp.File("empty.h5");
        File.WriteAllBytes(path, []);
        var e = Assert.Throws<Hdf5Exception>(() => Hdf5File.OpenRead(path));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("empty"));
    }

    [Test]
    public void ATextFileIsRefusedByName()
    {
        string path = _temp.File("notes.h5");
        File.WriteAllText(path, "train_set_x, train_set_y: not HDF5 at all\n");
        var e = Assert.Throws<Hdf5Exception>(() => Hdf5File.OpenRead(path));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("not an HDF5 file"));
    }

    [Test]
    public void ATruncatedCopyIsRefusedByName()
    {
        string whole = WriteKerasLikeFile();
        byte[] bytes = File.ReadAllBytes(whole);
        string path = _temp.File("cut.h5");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<Hdf5Exception>(() => Hdf5File.OpenRead(path));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("truncated"));
        Assert.That(e.Message, Does.Not.Contain("\n"), "one line, not HDF5's error stack");
    }

    [Test]
    public void MissingObjectsAreNamedWithTheirFile()
    {
        string path = WriteKerasLikeFile();
        using var file = Hdf5File.OpenRead(path);
        var e = Assert.Throws<Hdf5Exception>(() => file.OpenDataset("model_weights/conv1/conv1/gamma:0"));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("'/model_weights/conv1/conv1/gamma:0'").And.Contain("doesn't exist"));
        Assert.That(e.ObjectName, Is.EqualTo("/model_weights/conv1/conv1/gamma:0"));

        e = Assert.Throws<Hdf5Exception>(() => file.OpenGroup("optimizer_weights"));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("group '/optimizer_weights'"));

        e = Assert.Throws<Hdf5Exception>(() => file.ReadStringAttribute("training_config"));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("attribute 'training_config' of '/'"));

        using var kernel = file.OpenDataset("model_weights/conv1/conv1/kernel:0");
        e = Assert.Throws<Hdf5Exception>(() => kernel.ReadStringArrayAttribute("weight_names"));
        Assert.That(e!.Message, Does.Contain("attribute 'weight_names' of '/model_weights/conv1/conv1/kernel:0'"));
    }

    [Test]
    public void WritingToAFileOpenedReadOnlyFails()
    {
        string path = WriteKerasLikeFile();
        using var file = Hdf5File.OpenRead(path);
        var e = Assert.Throws<Hdf5Exception>(() => file.WriteDataset<float>("extra", [1], [1f]));
        Assert.That(e!.Message, Does.StartWith(path + ": ").And.Contain("dataset '/extra'").And.Contain("no write intent"));
    }

    [Test]
    public void WrongValueCountsAndClosedObjectsAreCallerErrors()
    {
        string path = _temp.File("w.h5");
        using var file = Hdf5File.Create(path);
        Assert.Throws<ArgumentException>(() => file.WriteDataset<float>("v", [2, 2], [1f, 2f, 3f]));
        var group = file.CreateGroup("g");
        group.Dispose();
        Assert.Throws<ObjectDisposedException>(() => group.ChildNames());
        file.WriteDataset<float>("v", [2], [1f, 2f]);
        using var v = file.OpenDataset("v");
        Assert.Throws<ArgumentException>(() => v.Read<float>(new float[3]));
        Assert.Throws<NotSupportedException>(() => v.Read<short>());
    }
}
