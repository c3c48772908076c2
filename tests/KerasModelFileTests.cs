using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Layers;
using Engine.ResNet.Data;
using Engine.ResNet.Models;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Whole models in Keras 2's HDF5 layout: what we save loads back as the same network (names,
/// summary, every weight, the same predictions); the file has Keras' structure; a file written
/// the way Keras writes a Sequential model loads and predicts what the arithmetic says; bad files
/// are refused with one message naming the file; a failed save leaves the old file alone.
/// </summary>
public class KerasModelFileTests
{
    TempFolder _temp = null!;

    [SetUp]
    public void Setup()
    {
        _temp = new TempFolder();
        LayerNames.Reset();
    }

    [TearDown] public void DeleteFolder() => _temp.Dispose();

    /// <summary>A stem, one convolutional and one identity block and a softmax head on 12x12x3 images.</summary>
    static Model<float> SmallResidualModel()
    {
        var input = Functional.Input<float>(new Shape(12, 12, 3));
        var x = new ZeroPadding2D<float>((1, 1)).Call(input);
        x = new Conv2D<float>(8, 3, seed: 3, name: "conv1").Call(x);
        x = new BatchNormalization<float>(momentum: 0.9, epsilon: 1e-5, name: "bn_conv1").Call(x);
        x = new ReLU<float>().Call(x);
        x = new MaxPooling2D<float>(2).Call(x);
        x = ResNetModels.ConvolutionalBlock(x, 3, [2, 2, 4], stage: 2, block: "a", s: 2);
        x = ResNetModels.IdentityBlock(x, 3, [2, 2, 4], stage: 2, block: "b");
        x = new AveragePooling2D<float>(2, name: "avg_pool").Call(x);
        x = new Flatten<float>().Call(x);
        x = new Dense<float>(3, "softmax", seed: 4, name: "fc3").Call(x);
        return new Model<float>(input, x, "small_resnet");
    }

    /// <summary>Gives every weight and moving statistic values unlike its initial ones.</summary>
    static void Scramble(Model<float> model)
    {
        ulong seed = 100;
        foreach (var layer in model.Layers)
        {
            foreach (var p in layer.Parameters) TestData.Random<float>(p.Value.Length, seed++, -0.5, 0.5).CopyTo(p.Value.Span);
            foreach (var (name, value) in layer.State)
                TestData.Random<float>(value.Length, seed++, name.EndsWith("variance") ? 0.5 : -0.3, name.EndsWith("variance") ? 2.0 : 0.3).CopyTo(value.Span);
        }
    }

    [Test]
    public void ASavedModelLoadsBackAsTheSameNetwork()
    {
        var model = SmallResidualModel();
        Scramble(model);
        string path = _temp.File("small.h5");
        KerasModelFile.Save(model, path);
        var loaded = KerasModelFile.Load(path);

        Assert.That(loaded.Name, Is.EqualTo("small_resnet"));
        Assert.That(loaded.Layers.Select(l => l.Name), Is.EqualTo(model.Layers.Select(l => l.Name)));
        Assert.That(loaded.Layers.Select(l => l.GetType()), Is.EqualTo(model.Layers.Select(l => l.GetType())));
        Assert.That(loaded.Layers.Select(l => l.TypeName), Does.Contain("ReLU"));
        Assert.That(loaded.Summary(), Is.EqualTo(model.Summary()));

        for (int i = 0; i < model.Layers.Count; i++)
        {
            var (a, b) = (model.Layers[i], loaded.Layers[i]);
            Assert.That(b.Parameters.Select(p => p.Name), Is.EqualTo(a.Parameters.Select(p => p.Name)), a.Name);
            for (int p = 0; p < a.Parameters.Count; p++)
                Assert.That(b.Parameters[p].Value.ToArray(), Is.EqualTo(a.Parameters[p].Value.ToArray()), a.Parameters[p].Name);
            Assert.That(b.State.Select(s => s.Name), Is.EqualTo(a.State.Select(s => s.Name)), a.Name);
            for (int s = 0; s < a.State.Count; s++)
                Assert.That(b.State[s].Value.ToArray(), Is.EqualTo(a.State[s].Value.ToArray()), a.State[s].Name);
        }
        var bn = (BatchNormalization<float>)loaded.GetLayer("bn_conv1");
        Assert.That((bn.Momentum, bn.Epsilon), Is.EqualTo((0.9, 1e-5)));
        var conv = (Conv2D<float>)loaded.GetLayer("res2a_branch2b");
        Assert.That((conv.KernelSize, conv.Strides, conv.Padding, conv.UseBias, conv.Seed), Is.EqualTo(((3, 3), (1, 1), "same", true, 0UL)));
        Assert.That(((Conv2D<float>)loaded.GetLayer("res2a_branch1")).Strides, Is.EqualTo((2, 2)));
        Assert.That(((Dense<float>)loaded.GetLayer("fc3")).ActivationName, Is.EqualTo("softmax"));
        Assert.That(((ZeroPadding2D<float>)loaded.GetLayer("zero_padding2d_1")).Rows, Is.EqualTo((1, 1)));
        Assert.That(loaded.Training, Is.False);

        var x = Tensor<float>.FromArray(TestData.Random<float>(5 * 12 * 12 * 3, 9), new Shape(5, 12, 12, 3));
        var expected = model.Predict(x).ToArray();
        Assert.That(expected.Distinct().Count(), Is.GreaterThan(10), "the batch gives varied outputs");
        Assert.That(loaded.Predict(x).ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void ResNet50IsWrittenInKerasLayout()
    {
        var model = ResNetModels.ResNet50<float>();
        string path = _temp.File("resnet50.h5");
        KerasModelFile.Save(model, path);

        using (var file = Hdf5File.OpenRead(path))
        {
            Assert.That(file.ReadStringAttribute("keras_version"), Is.EqualTo("2.2.4"));
            Assert.That(file.ReadStringAttribute("backend"), Is.EqualTo("tensorflow"));
            using var weights = file.OpenGroup("model_weights");
            Assert.That(weights.ReadStringArrayAttribute("layer_names"), Is.EqualTo(model.Layers.Select(l => l.Name)));
            Assert.That(weights.ReadStringAttribute("keras_version"), Is.EqualTo("2.2.4"));
            Assert.That(weights.ReadStringAttribute("backend"), Is.EqualTo("tensorflow"));
            using (var kernel = file.OpenDataset("model_weights/conv1/conv1/kernel:0"))
            {
                Assert.That(kernel.Dims, Is.EqualTo(new long[] { 7, 7, 3, 64 }));
                Assert.That(kernel.ElementType.ToString(), Is.EqualTo("float32"));
                Assert.That(kernel.Read<float>(), Is.EqualTo(model.GetLayer("conv1").Parameters[0].Value.ToArray()));
            }
            using (var fc = file.OpenDataset("model_weights/fc6/fc6/kernel:0")) Assert.That(fc.Dims, Is.EqualTo(new long[] { 2048, 6 }));
            using (var bn = file.OpenGroup("model_weights/bn_conv1"))
                Assert.That(bn.ReadStringArrayAttribute("weight_names"),
                    Is.EqualTo(new[] { "bn_conv1/gamma:0", "bn_conv1/beta:0", "bn_conv1/moving_mean:0", "bn_conv1/moving_variance:0" }));
            using (var relu = file.OpenGroup("model_weights/activation_1"))
                Assert.That(relu.ReadStringArrayAttribute("weight_names"), Is.Empty);

            using var config = JsonDocument.Parse(file.ReadStringAttribute("model_config"));
            var root = config.RootElement;
            Assert.That(root.GetProperty("class_name").GetString(), Is.EqualTo("Model"));
            var c = root.GetProperty("config");
            Assert.That(c.GetProperty("name").GetString(), Is.EqualTo("resnet50"));
            var layers = c.GetProperty("layers");
            Assert.That(layers.GetArrayLength(), Is.EqualTo(model.Layers.Count));
            Assert.That(c.GetProperty("input_layers").GetRawText(), Is.EqualTo("""[["input_1",0,0]]"""));
            Assert.That(c.GetProperty("output_layers").GetRawText(), Is.EqualTo("""[["fc6",0,0]]"""));
            var input = layers[0];
            Assert.That(input.GetProperty("class_name").GetString(), Is.EqualTo("InputLayer"));
            Assert.That(input.GetProperty("config").GetProperty("batch_input_shape").GetRawText(), Is.EqualTo("[null,64,64,3]"));
            Assert.That(input.GetProperty("inbound_nodes").GetArrayLength(), Is.EqualTo(0));
            var conv1 = layers.EnumerateArray().Single(l => l.GetProperty("name").GetString() == "conv1");
            Assert.That(conv1.GetProperty("class_name").GetString(), Is.EqualTo("Conv2D"));
            var cc = conv1.GetProperty("config");
            Assert.That((cc.GetProperty("filters").GetInt32(), cc.GetProperty("kernel_size").GetRawText(), cc.GetProperty("strides").GetRawText(),
                cc.GetProperty("padding").GetString(), cc.GetProperty("dilation_rate").GetRawText(), cc.GetProperty("activation").GetString()),
                Is.EqualTo((64, "[7,7]", "[2,2]", "valid", "[1,1]", "linear")));
            Assert.That(cc.GetProperty("kernel_initializer").GetProperty("config").GetProperty("seed").GetInt32(), Is.EqualTo(0));
            Assert.That(conv1.GetProperty("inbound_nodes").GetRawText(), Is.EqualTo("""[[["zero_padding2d_1",0,0,{}]]]"""));
            var bnConfig = layers.EnumerateArray().Single(l => l.GetProperty("name").GetString() == "bn_conv1").GetProperty("config");
            Assert.That((bnConfig.GetProperty("axis").GetInt32(), bnConfig.GetProperty("momentum").GetDouble(), bnConfig.GetProperty("epsilon").GetDouble()),
                Is.EqualTo((3, 0.99, 0.001)));
            var add = layers.EnumerateArray().First(l => l.GetProperty("class_name").GetString() == "Add");
            Assert.That(add.GetProperty("inbound_nodes").GetRawText(), Is.EqualTo("""[[["bn2a_branch2c",0,0,{}],["bn2a_branch1",0,0,{}]]]"""));
            var padding = layers.EnumerateArray().Single(l => l.GetProperty("class_name").GetString() == "ZeroPadding2D").GetProperty("config");
            Assert.That(padding.GetProperty("padding").GetRawText(), Is.EqualTo("[[3,3],[3,3]]"));
        }

        var loaded = KerasModelFile.Load(path);
        Assert.That(loaded.ParameterCount, Is.EqualTo(23_600_006));
        Assert.That(loaded.TrainableParameterCount, Is.EqualTo(model.TrainableParameterCount));
        Assert.That(loaded.Layers.Select(l => l.Name), Is.EqualTo(model.Layers.Select(l => l.Name)));
        Assert.That(loaded.GetLayer("res5c_branch2c").Parameters[0].Value.ToArray(), Is.EqualTo(model.GetLayer("res5c_branch2c").Parameters[0].Value.ToArray()));
    }

    // --- a Sequential model as Keras 2.2.4 writes one, built by hand ---

    static readonly float[] ConvKernel = TestData.Random<float>(3 * 3 * 3 * 2, 21);
    static readonly float[] ConvBias = [0.1f, -0.2f];
    static readonly float[] DenseKernel = TestData.Random<float>(72 * 2, 22, -0.3, 0.3);
    static readonly float[] DenseBias = [0.05f, -0.05f];

    const string ConvConfig = """
        {"class_name": "Conv2D", "config": {"name": "conv2d_1", "trainable": true, "batch_input_shape": [null, 8, 8, 3], "dtype": "float32",
         "filters": 2, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1],
         "activation": "linear", "use_bias": true,
         "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": null}},
         "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null,
         "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}
        """;
    const string ReluConfig = """{"class_name": "ReLU", "config": {"name": "re_lu_1", "trainable": true, "max_value": null, "negative_slope": 0.0, "threshold": 0.0}}""";
    const string FlattenConfig = """{"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": true, "data_format": "channels_last"}}""";
    const string DenseConfig = """
        {"class_name": "Dense", "config": {"name": "dense_1", "trainable": true, "units": 2, "activation": "softmax", "use_bias": true,
         "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": null}},
         "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null,
         "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}
        """;

    /// <summary>Keras 2.2.4's Sequential config: {"class_name": "Sequential", "config": {"name": ..., "layers": [...]}}.</summary>
    static JsonObject SequentialConfig() => new()
    {
        ["class_name"] = "Sequential",
        ["config"] = new JsonObject
        {
            ["name"] = "sequential_1",
            ["layers"] = new JsonArray(JsonNode.Parse(ConvConfig), JsonNode.Parse(ReluConfig), JsonNode.Parse(FlattenConfig), JsonNode.Parse(DenseConfig)),
        },
    };

    static JsonArray LayersOf(JsonObject config) => config["config"] is JsonArray list ? list : config["config"]!["layers"]!.AsArray();

    sealed record Weight(string Name, int[] Dims, float[] Values);

    /// <summary>The Sequential model's weights as Keras names them (suffix ":0", or none as some writers leave it).</summary>
    static Dictionary<string, Weight[]> SequentialWeights(string suffix = ":0") => new()
    {
        ["conv2d_1"] = [new("conv2d_1/kernel" + suffix, [3, 3, 3, 2], ConvKernel), new("conv2d_1/bias" + suffix, [2], ConvBias)],
        ["re_lu_1"] = [],
        ["flatten_1"] = [],
        ["dense_1"] = [new("dense_1/kernel" + suffix, [72, 2], DenseKernel), new("dense_1/bias" + suffix, [2], DenseBias)],
    };

    /// <summary>A file laid out as Keras' save_model lays it out, from a config and weights given by hand.</summary>
    string WriteKerasFile(JsonObject? config, Dictionary<string, Weight[]> layers, string name = "keras.h5")
    {
        string path = _temp.File(name);
        using var file = Hdf5File.Create(path);
        file.WriteBytesAttribute("keras_version", "2.2.4");
        file.WriteBytesAttribute("backend", "tensorflow");
        if (config != null) file.WriteBytesAttribute("model_config", config.ToJsonString());
        using var weights = file.CreateGroup("model_weights");
        weights.WriteStringArrayAttribute("layer_names", layers.Keys.ToArray());
        foreach (var (layer, list) in layers)
        {
            using var group = weights.CreateGroup(layer);
            group.WriteStringArrayAttribute("weight_names", list.Select(w => w.Name).ToArray());
            foreach (var w in list) group.WriteDataset<float>(w.Name, w.Dims, w.Values);
        }
        return path;
    }

    /// <summary>softmax(dense(flatten(relu(conv 3x3 valid(x))))) for one 8x8x3 image, in double precision.</summary>
    static double[] ByHand(float[] x)
    {
        var h = new double[6 * 6 * 2];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++)
                for (int f = 0; f < 2; f++)
                {
                    double sum = ConvBias[f];
                    for (int di = 0; di < 3; di++)
                        for (int dj = 0; dj < 3; dj++)
                            for (int c = 0; c < 3; c++)
                                sum += (double)x[((i + di) * 8 + j + dj) * 3 + c] * ConvKernel[((di * 3 + dj) * 3 + c) * 2 + f];
                    h[(i * 6 + j) * 2 + f] = Math.Max(sum, 0);
                }
        var z = new double[2];
        for (int u = 0; u < 2; u++)
        {
            z[u] = DenseBias[u];
            for (int k = 0; k < 72; k++) z[u] += h[k] * DenseKernel[k * 2 + u];
        }
        double max = z.Max(), total = z.Sum(v => Math.Exp(v - max));
        return z.Select(v => Math.Exp(v - max) / total).ToArray();
    }

    [Test]
    public void AKerasSequentialFileLoadsAndPredictsWhatTheArithmeticSays()
    {
        string path = WriteKerasFile(SequentialConfig(), SequentialWeights());
        var model = KerasModelFile.Load(path);
        Assert.That(model.Name, Is.EqualTo("sequential_1"));
        Assert.That(model.Layers.Select(l => $"{l.Name} ({l.TypeName})"),
            Is.EqualTo(new[] { "conv2d_1_input (InputLayer)", "conv2d_1 (Conv2D)", "re_lu_1 (ReLU)", "flatten_1 (Flatten)", "dense_1 (Dense)" }));
        Assert.That(model.Input.SampleShape, Is.EqualTo(new Shape(8, 8, 3)));
        Assert.That(model.ParameterCount, Is.EqualTo(3 * 3 * 3 * 2 + 2 + 72 * 2 + 2));

        for (ulong seed = 30; seed < 33; seed++)
        {
            var x = TestData.Random<float>(8 * 8 * 3, seed, -2, 2);
            var predicted = model.Predict(Tensor<float>.FromArray(x, new Shape(1, 8, 8, 3))).ToArray();
            var expected = ByHand(x);
            Assert.That(predicted.Select(p => (double)p), Is.EqualTo(expected).Within(1e-5), $"image {seed}");
        }
    }

    /// <summary>
    /// Older Keras wrote a Sequential config as a bare list of layers; some writers leave ":0"
    /// off weight names; and Conv2D's own activation stands in for the ReLU layer.
    /// </summary>
    [Test]
    public void OtherKerasSpellingsLoadToTheSameNetwork()
    {
        var config = SequentialConfig();
        var layers = LayersOf(config);
        layers.RemoveAt(1);
        layers[0]!["config"]!["activation"] = "relu";
        var listForm = new JsonObject { ["class_name"] = "Sequential", ["config"] = JsonNode.Parse(layers.ToJsonString()) };
        var weights = SequentialWeights(suffix: "");
        weights.Remove("re_lu_1");
        var model = KerasModelFile.Load(WriteKerasFile(listForm, weights));
        Assert.That(model.Layers.Select(l => l.Name), Is.EqualTo(new[] { "conv2d_1_input", "conv2d_1", "flatten_1", "dense_1" }));
        Assert.That(((Conv2D<float>)model.GetLayer("conv2d_1")).ActivationName, Is.EqualTo("relu"));
        var x = TestData.Random<float>(8 * 8 * 3, 40, -2, 2);
        var predicted = model.Predict(Tensor<float>.FromArray(x, new Shape(1, 8, 8, 3))).ToArray();
        Assert.That(predicted.Select(p => (double)p), Is.EqualTo(ByHand(x)).Within(1e-5));
    }

    /// <summary>A functional config lists layers inputs-first; the loader replays their nodes whatever the order.</summary>
    [Test]
    public void AFunctionalConfigLoadsWhateverOrderItListsLayersIn()
    {
        var chain = LayersOf(SequentialConfig()).Select(l => l!.DeepClone().AsObject()).ToList();
        var layers = new JsonArray(JsonNode.Parse("""
            {"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
             "config": {"batch_input_shape": [null, 8, 8, 3], "dtype": "float32", "sparse": false, "name": "input_1"}}
            """));
        string previous = "input_1";
        foreach (var layer in chain)
        {
            string name = layer["config"]!["name"]!.GetValue<string>();
            layer["name"] = name;
            layer["inbound_nodes"] = JsonNode.Parse($"""[[["{previous}", 0, 0, {"{}"}]]]""");
            layers.Add(layer);
            previous = name;
        }
        var reversed = new JsonArray(layers.Reverse().Select(l => l!.DeepClone()).ToArray());
        var config = new JsonObject
        {
            ["class_name"] = "Model",
            ["config"] = new JsonObject
            {
                ["name"] = "model_1",
                ["layers"] = reversed,
                ["input_layers"] = JsonNode.Parse("""[["input_1", 0, 0]]"""),
                ["output_layers"] = JsonNode.Parse("""[["dense_1", 0, 0]]"""),
            },
        };
        var model = KerasModelFile.Load(WriteKerasFile(config, SequentialWeights()));
        Assert.That(model.Layers.Select(l => l.Name), Is.EqualTo(new[] { "input_1", "conv2d_1", "re_lu_1", "flatten_1", "dense_1" }));
        var x = TestData.Random<float>(8 * 8 * 3, 41, -2, 2);
        var predicted = model.Predict(Tensor<float>.FromArray(x, new Shape(1, 8, 8, 3))).ToArray();
        Assert.That(predicted.Select(p => (double)p), Is.EqualTo(ByHand(x)).Within(1e-5));
    }

    /// <summary>Past 64 KiB of layer names Keras splits layer_names into layer_names0, layer_names1, ...; so do we, both ways.</summary>
    [Test]
    public void LongLayerNameListsAreSplitAsKerasSplitsThem()
    {
        var input = Functional.Input<float>(new Shape(2));
        var x = input;
        for (int i = 0; i < 1500; i++) x = new Activation<float>("relu", name: $"{new string('x', 44)}_{i:D4}").Call(x);
        var model = new Model<float>(input, new Dense<float>(2, name: "out").Call(x), "deep");
        string path = _temp.File("deep.h5");
        KerasModelFile.Save(model, path);
        using (var file = Hdf5File.OpenRead(path))
        using (var weights = file.OpenGroup("model_weights"))
        {
            Assert.That(weights.HasAttribute("layer_names"), Is.False);
            var chunks = new[] { "layer_names0", "layer_names1" }.Select(weights.ReadStringArrayAttribute).ToArray();
            Assert.That(weights.HasAttribute("layer_names2"), Is.False, "1502 names of 49 bytes (73,598) fill two chunks of 751");
            Assert.That(chunks[0], Has.Length.EqualTo(751));
            Assert.That(chunks[0].Concat(chunks[1]), Is.EqualTo(model.Layers.Select(l => l.Name)));
        }
        var loaded = KerasModelFile.Load(path);
        Assert.That(loaded.Layers.Select(l => l.Name), Is.EqualTo(model.Layers.Select(l => l.Name)));
        Assert.That(loaded.GetLayer("out").Parameters[0].Value.ToArray(), Is.EqualTo(model.GetLayer("out").Parameters[0].Value.ToArray()));
    }

    // --- refused files ---

    DataFormatException Refused(string path)
    {
        var e = Assert.Throws<DataFormatException>(() => KerasModelFile.Load(path))!;
        TestContext.Out.WriteLine(e.Message);
        Assert.That(e.FilePath, Is.EqualTo(path));
        Assert.That(e.Message, Does.StartWith(path + ": "), "the message starts with the file");
        Assert.That(e.Message, Does.Not.Contain("\n"), "one line");
        return e;
    }

    [TestCase("Dropout")]
    [TestCase("Conv3D")]
    public void AnUnsupportedLayerIsNamedWithTheSupportedOnes(string className)
    {
        var config = SequentialConfig();
        LayersOf(config).Insert(2, JsonNode.Parse($$$"""{"class_name": "{{{className}}}", "config": {"name": "odd_1", "trainable": true}}"""));
        var e = Refused(WriteKerasFile(config, SequentialWeights()));
        Assert.That(e.Message, Does.Contain($"'odd_1' is a {className}"));
        Assert.That(e.Message, Does.Contain("supported layers are InputLayer, ZeroPadding2D, Conv2D, BatchNormalization"));
    }

    [TestCase(0, "dilation_rate", "[2, 2]", "only [1, 1]")]
    [TestCase(0, "data_format", "\"channels_first\"", "only channels_last")]
    [TestCase(0, "activation", "\"tanh\"", "only linear, relu, sigmoid, softmax")]
    [TestCase(0, "padding", "\"causal\"", "only valid, same")]
    [TestCase(0, "kernel_regularizer", """{"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}""", "only null")]
    [TestCase(0, "trainable", "false", "frozen layer")]
    [TestCase(1, "max_value", "6.0", "only null")]
    [TestCase(1, "negative_slope", "0.1", "only 0")]
    [TestCase(3, "activation", "\"softplus\"", "only linear, relu, sigmoid, softmax")]
    public void AnUnsupportedSettingIsNamed(int layer, string key, string value, string expected)
    {
        var config = SequentialConfig();
        LayersOf(config)[layer]!["config"]![key] = JsonNode.Parse(value);
        var e = Refused(WriteKerasFile(config, SequentialWeights()));
        string name = LayersOf(config)[layer]!["config"]!["name"]!.GetValue<string>();
        Assert.That(e.Message, Does.Contain($"layer '{name}'"));
        Assert.That(e.Message, Does.Contain(key));
        Assert.That(e.Message, Does.Contain(expected));
    }

    [Test]
    public void BatchNormalizationOverAnAxisOtherThanTheLastIsRefused()
    {
        var config = SequentialConfig();
        LayersOf(config).Insert(1, JsonNode.Parse("""
            {"class_name": "BatchNormalization", "config": {"name": "bn_1", "trainable": true, "axis": 1, "momentum": 0.99, "epsilon": 0.001,
             "center": true, "scale": true}}
            """));
        var e = Refused(WriteKerasFile(config, SequentialWeights()));
        Assert.That(e.Message, Does.Contain("layer 'bn_1' (BatchNormalization): axis 1 is not supported; only the last axis (-1 or 3"));
    }

    [Test]
    public void AWeightOfTheWrongShapeIsNamedWithBothShapes()
    {
        var weights = SequentialWeights();
        weights["dense_1"][0] = new Weight("dense_1/kernel:0", [70, 2], DenseKernel[..140]);
        var e = Refused(WriteKerasFile(SequentialConfig(), weights));
        Assert.That(e.Message, Does.Contain("layer 'dense_1' (Dense)"));
        Assert.That(e.Message, Does.Contain("dense_1/kernel:0"));
        Assert.That(e.Message, Does.Contain("(70, 2)"));
        Assert.That(e.Message, Does.Contain("(72, 2)"));
    }

    [Test]
    public void AMissingWeightIsNamed()
    {
        var weights = SequentialWeights();
        weights["conv2d_1"] = weights["conv2d_1"][..1];
        var e = Refused(WriteKerasFile(SequentialConfig(), weights));
        Assert.That(e.Message, Does.Contain("layer 'conv2d_1' (Conv2D)"));
        Assert.That(e.Message, Does.Contain("missing weight bias"));

        weights = SequentialWeights();
        weights.Remove("dense_1");
        e = Refused(WriteKerasFile(SequentialConfig(), weights, "no-dense.h5"));
        Assert.That(e.Message, Does.Contain("layer 'dense_1' (Dense)").And.Contain("weights are missing"));
    }

    [Test]
    public void AListedWeightWithoutItsDatasetIsMissing()
    {
        string path = _temp.File("listed.h5");
        using (var file = Hdf5File.Create(path))
        {
            file.WriteBytesAttribute("model_config", SequentialConfig().ToJsonString());
            using var weights = file.CreateGroup("model_weights");
            weights.WriteStringArrayAttribute("layer_names", ["conv2d_1", "re_lu_1", "flatten_1", "dense_1"]);
            foreach (var (layer, list) in SequentialWeights())
            {
                using var group = weights.CreateGroup(layer);
                group.WriteStringArrayAttribute("weight_names", list.Select(w => w.Name).ToArray());
                foreach (var w in list.Where(w => w.Name != "dense_1/bias:0")) group.WriteDataset<float>(w.Name, w.Dims, w.Values);
            }
        }
        var e = Refused(path);
        Assert.That(e.Message, Does.Contain("layer 'dense_1' (Dense): missing weight dense_1/bias:0"));
    }

    [Test]
    public void AWeightsOnlyFileHasNoModelConfig()
    {
        var e = Refused(WriteKerasFile(null, SequentialWeights()));
        Assert.That(e.Message, Does.Contain("no model_config"));
    }

    [Test]
    public void ANonHdf5OrMissingFileIsRefused()
    {
        string text = _temp.File("model.h5");
        File.WriteAllText(text, "{\"class_name\": \"Model\"}");
        Assert.That(Refused(text).Message, Does.Contain("not an HDF5 file"));
        Assert.That(Refused(_temp.File("absent.h5")).Message, Does.Contain("no such file"));
    }

    [Test]
    public void AModelConfigThatIsNotJsonIsRefused()
    {
        string path = _temp.File("garbled.h5");
        using (var file = Hdf5File.Create(path)) file.WriteBytesAttribute("model_config", "{\"class_name\": \"Model\", \"config\": {");
        Assert.That(Refused(path).Message, Does.Contain("model_config is not valid JSON"));
    }

    // --- saving ---

    [Test]
    public void AFailedSaveLeavesTheExistingFileAndNoTemporaryFile()
    {
        string path = _temp.File("model.h5");
        KerasModelFile.Save(SmallResidualModel(), path);
        var before = File.ReadAllBytes(path);

        // A layer name longer than an HDF5 attribute may hold: the save fails after the
        // temporary file has its model_config, when it writes layer_names.
        var input = Functional.Input<float>(new Shape(4));
        var output = new Dense<float>(2, name: new string('d', 70_000)).Call(input);
        var e = Assert.Throws<IOException>(() => KerasModelFile.Save(new Model<float>(input, output, "too_long"), path))!;
        TestContext.Out.WriteLine(e.Message.Length > 300 ? e.Message[..300] : e.Message);
        Assert.That(e.Message, Does.StartWith(path + ": cannot save model 'too_long'"));
        Assert.That(e.Message, Does.Contain("layer_names").And.Contain("64512"));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before), "the old file is untouched");
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Is.EqualTo(new[] { path }), "no temporary file is left");
        Assert.That(KerasModelFile.Load(path).Name, Is.EqualTo("small_resnet"));
    }

    [Test]
    public void SavingOverAFileReplacesIt()
    {
        string path = _temp.File("model.h5");
        File.WriteAllText(path, "old contents");
        var model = SmallResidualModel();
        KerasModelFile.Save(model, path);
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Is.EqualTo(new[] { path }));
        Assert.That(KerasModelFile.Load(path).Summary(), Is.EqualTo(model.Summary()));
    }

    [Test]
    public void SavingToAFolderOrIntoAMissingFolderIsAClearError()
    {
        var model = SmallResidualModel();
        Assert.That(Assert.Throws<IOException>(() => KerasModelFile.Save(model, _temp.Path))!.Message, Does.Contain("is a folder"));
        string nowhere = Path.Combine(_temp.Path, "missing", "model.h5");
        Assert.That(Assert.Throws<DirectoryNotFoundException>(() => KerasModelFile.Save(model, nowhere))!.Message, Does.Contain("no such folder"));
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Is.Empty);
    }

    [Test]
    public void AModelWithTwoLayersOfOneNameIsNotSaved()
    {
        var input = Functional.Input<float>(new Shape(4));
        var x = new Dense<float>(3, name: "same").Call(input);
        x = new Dense<float>(2, name: "same").Call(x);
        string path = _temp.File("model.h5");
        var e = Assert.Throws<ArgumentException>(() => KerasModelFile.Save(new Model<float>(input, x, "twins"), path))!;
        Assert.That(e.Message, Does.Contain("2 layers are named 'same'"));
        Assert.That(Directory.GetFileSystemEntries(_temp.Path), Is.Empty);
    }

    // --- the layer additions: ReLU, Conv2D's activation ---

    [Test]
    public void TheReLULayerIsMaxOfZeroAndFusesAfterBatchNorm()
    {
        var input = Functional.Input<float>(new Shape(4, 4, 3));
        var x = new Conv2D<float>(5, 3, padding: "same", seed: 2).Call(input);
        x = new BatchNormalization<float>().Call(x);
        x = new ReLU<float>().Call(x);
        x = new Flatten<float>().Call(x);
        var model = new Model<float>(input, x);
        Assert.That(model.Layers.Select(l => l.Name), Does.Contain("re_lu_1"));
        Scramble(model);
        var batch = Tensor<float>.FromArray(TestData.Random<float>(2 * 4 * 4 * 3, 5), new Shape(2, 4, 4, 3));
        var fused = model.Predict(batch).ToArray();
        model.FuseBatchNormRelu = false;
        var separate = model.Predict(batch).ToArray();
        Assert.That(fused, Is.EqualTo(separate).Within(1e-6));
        Assert.That(separate.Min(), Is.EqualTo(0f));
        Assert.That(separate.Max(), Is.GreaterThan(0f));
    }

    [Test]
    public void Conv2DAppliesItsActivationAfterTheConvolution()
    {
        var x = new Engine.Autograd.Variable<float>(Tensor<float>.FromArray(TestData.Random<float>(2 * 5 * 5 * 2, 7), new Shape(2, 5, 5, 2)));
        var linear = new Conv2D<float>(3, 3, seed: 5).Call(x).Value.ToArray();
        var sigmoid = new Conv2D<float>(3, 3, seed: 5, activation: "sigmoid").Call(x).Value.ToArray();
        Assert.That(sigmoid, Is.EqualTo(linear.Select(v => 1 / (1 + MathF.Exp(-v)))).Within(1e-6));
        Assert.That(Assert.Throws<ArgumentException>(() => new Conv2D<float>(3, 3, activation: "tanh"))!.Message, Does.Contain("unknown activation 'tanh'"));
    }
}
