using System.Numerics;
using Engine.Autograd;
using Engine.Layers;
using Engine.ResNet.Models;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The functional graph, the assignment's ResNet builders and Keras' summary: layer names,
/// order, shapes and parameter counts as the assignment's model.summary() prints them.
/// </summary>
public class ModelTests
{
    [SetUp]
    public void FreshNames() => LayerNames.Reset();

    [Test]
    public void ResNet50HasKerasParameterTotals()
    {
        var model = ResNetModels.ResNet50<float>((64, 64, 3), classes: 6);
        Assert.That(model.ParameterCount, Is.EqualTo(23_600_006));
        Assert.That(model.TrainableParameterCount, Is.EqualTo(23_546_886));
        Assert.That(model.NonTrainableParameterCount, Is.EqualTo(53_120));
        var summary = model.Summary();
        Assert.That(summary, Does.Contain("Total params: 23,600,006"));
        Assert.That(summary, Does.Contain("Trainable params: 23,546,886"));
        Assert.That(summary, Does.Contain("Non-trainable params: 53,120"));
    }

    [Test]
    public void TheAssignmentTextVariantHasItsPrintedTotals()
    {
        var model = ResNetModels.ResNet50AsInTheAssignment<float>((64, 64, 3), classes: 6);
        var summary = model.Summary();
        Assert.That(summary, Does.Contain("Total params: 17,958,790"));
        Assert.That(summary, Does.Contain("Trainable params: 17,907,718"));
        Assert.That(summary, Does.Contain("Non-trainable params: 51,072"));
        // Rows the assignment prints (its activation / add numbers start later: earlier cells made some).
        var rows = summary.Split('\n').Select(l => l.TrimEnd()).ToArray();
        Assert.That(rows, Does.Contain(Row("res5c_branch2c (Conv2D)", "(None, 2, 2, 2048)", "526336", "activation_48[0][0]")));
        Assert.That(rows, Does.Contain(Row("fc6 (Dense)", "(None, 6)", "12294", "flatten_1[0][0]")));
    }

    /// <summary>A row laid out as Keras 2 does: fields cut at columns 32, 53, 65 with the last column of each left blank.</summary>
    static string Row(string layer, string shape, string parameters, string connected)
    {
        static string Fit(string s, int width) => (s.Length > width - 1 ? s[..(width - 1)] : s).PadRight(width);
        return (Fit(layer, 32) + Fit(shape, 21) + Fit(parameters, 12) + connected).TrimEnd();
    }

    [Test]
    public void LayersComeInKerasOrderWithKerasNamesShapesAndCounts()
    {
        var model = ResNetModels.ResNet50<float>();
        string[] expectedStart =
        [
            "input_1", "zero_padding2d_1", "conv1", "bn_conv1", "activation_1", "max_pooling2d_1",
            "res2a_branch2a", "bn2a_branch2a", "activation_2", "res2a_branch2b", "bn2a_branch2b", "activation_3",
            "res2a_branch2c", "res2a_branch1", "bn2a_branch2c", "bn2a_branch1", "add_1", "activation_4",
            "res2b_branch2a",
        ];
        Assert.That(model.Layers.Take(expectedStart.Length).Select(l => l.Name), Is.EqualTo(expectedStart));
        Assert.That(model.Layers.TakeLast(4).Select(l => l.Name), Is.EqualTo(new[] { "activation_49", "avg_pool", "flatten_1", "fc6" }));
        Assert.That(model.Layers, Has.Count.EqualTo(1 + 1 + 4 + 16 * 10 + 4 * 2 + 3), "input, padding, stem, 16 blocks of 10 layers, 4 shortcuts, head");

        var rows = model.Summary().Split('\n').Select(l => l.TrimEnd()).ToArray();
        // The assignment's printout, with our numbering of the unnamed layers.
        Assert.That(rows, Does.Contain(Row("input_1 (InputLayer)", "(None, 64, 64, 3)", "0", "")));
        Assert.That(rows, Does.Contain(Row("zero_padding2d_1 (ZeroPadding2D)", "(None, 70, 70, 3)", "0", "input_1[0][0]")));
        Assert.That(rows, Does.Contain(Row("conv1 (Conv2D)", "(None, 32, 32, 64)", "9472", "zero_padding2d_1[0][0]")));
        Assert.That(rows, Does.Contain(Row("bn_conv1 (BatchNormalization)", "(None, 32, 32, 64)", "256", "conv1[0][0]")));
        Assert.That(rows, Does.Contain(Row("max_pooling2d_1 (MaxPooling2D)", "(None, 15, 15, 64)", "0", "activation_1[0][0]")));
        Assert.That(rows, Does.Contain(Row("res2a_branch2b (Conv2D)", "(None, 15, 15, 64)", "36928", "activation_3[0][0]".Replace("3", "2"))));
        Assert.That(rows, Does.Contain(Row("res2a_branch1 (Conv2D)", "(None, 15, 15, 256)", "16640", "max_pooling2d_1[0][0]")));
        Assert.That(rows, Does.Contain(Row("bn2a_branch1 (BatchNormalization)", "(None, 15, 15, 256)", "1024", "res2a_branch1[0][0]")));
        Assert.That(rows, Does.Contain(Row("res3a_branch1 (Conv2D)", "(None, 8, 8, 512)", "131584", "activation_10[0][0]")));
        Assert.That(rows, Does.Contain(Row("avg_pool (AveragePooling2D)", "(None, 1, 1, 2048)", "0", "activation_49[0][0]")));
        Assert.That(rows, Does.Contain(Row("flatten_1 (Flatten)", "(None, 2048)", "0", "avg_pool[0][0]")));
        // A merge lists each input on its own line.
        int add = Array.IndexOf(rows, Row("add_1 (Add)", "(None, 15, 15, 256)", "0", "bn2a_branch2c[0][0]"));
        Assert.That(add, Is.GreaterThan(0), "add_1's first row");
        Assert.That(rows[add + 1], Is.EqualTo(Row("", "", "", "bn2a_branch1[0][0]")));
        Assert.That(rows[0], Is.EqualTo(new string('_', 98)));
        Assert.That(rows[1], Is.EqualTo(Row("Layer (type)", "Output Shape", "Param #", "Connected to")));
    }

    [Test]
    public void DeeperAndBasicVariantsHaveTheirBlockCounts()
    {
        int Convs(Model<float> m) => m.Layers.Count(l => l is Conv2D<float>);
        // conv1 + 3 per bottleneck block + 4 projection shortcuts; basic: 2 per block + 3 projections.
        Assert.That(Convs(ResNetModels.ResNet101<float>()), Is.EqualTo(1 + 3 * 33 + 4));
        Assert.That(Convs(ResNetModels.ResNet152<float>()), Is.EqualTo(1 + 3 * 50 + 4));
        Assert.That(Convs(ResNetModels.ResNet18<float>()), Is.EqualTo(1 + 2 * 8 + 3));
        Assert.That(Convs(ResNetModels.ResNet34<float>()), Is.EqualTo(1 + 2 * 16 + 3));
        var r101 = ResNetModels.ResNet101<float>();
        Assert.That(r101.Layers.Select(l => l.Name), Does.Contain("res4b22_branch2c"));
        Assert.That(r101.Layers.Select(l => l.Name), Does.Not.Contain("res4b23_branch2c"));
        Assert.That(ResNetModels.ResNet18<float>().Output.SampleShape, Is.EqualTo(new Shape(6)));
    }

    [Test]
    public void ResNet50RunsABatchToClassProbabilities()
    {
        var model = ResNetModels.ResNet50<float>();
        using var tape = Tape.Inference();
        var x = new Variable<float>(Initializers.Uniform<float>(new Shape(2, 64, 64, 3), 0, 1, new Rng(5)));
        var y = model.Call(x);
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 6)));
        for (int n = 0; n < 2; n++)
        {
            var p = y.Value.Span.Slice(n * 6, 6).ToArray();
            Assert.That(p.Sum(), Is.EqualTo(1f).Within(1e-5f));
            Assert.That(p, Is.All.GreaterThan(0f));
        }
    }

    /// <summary>A small network with both block kinds, in float64.</summary>
    static Model<double> TinyResidualNetwork()
    {
        var input = Functional.Input<double>(new Shape(6, 6, 3));
        var x = new Conv2D<double>(4, 3, padding: "same", seed: 1).Call(input);
        x = new BatchNormalization<double>().Call(x);
        x = new Activation<double>("relu").Call(x);
        x = ResNetModels.ConvolutionalBlock(x, 3, [2, 2, 4], stage: 2, block: "a", s: 2);
        x = ResNetModels.IdentityBlock(x, 3, [2, 3, 4], stage: 2, block: "b");
        x = new Flatten<double>().Call(x);
        x = new Dense<double>(3, seed: 2).Call(x);
        return new Model<double>(input, x);
    }

    [TestCase(true), TestCase(false)]
    public void FusedBatchNormReluRunsLikeTheSeparateLayers(bool training)
    {
        var model = TinyResidualNetwork();
        model.Training = training;
        var x = new Variable<double>(TestData.RandomTensor(3, 2, 6, 6, 3), requiresGrad: true);
        var upstream = TestData.RandomTensor(4, 2, 3);
        (double[] Y, double[][] Grads) Run(bool fuse)
        {
            model.FuseBatchNormRelu = fuse;
            foreach (var p in model.Parameters) p.ZeroGrad();
            x.ZeroGrad();
            using var tape = new Tape();
            var y = model.Call(x);
            tape.Backward(y, upstream);
            return (y.Value.Span.ToArray(), [x.Grad!.Span.ToArray(), .. model.Parameters.Select(p => p.Grad!.Span.ToArray())]);
        }
        var separate = Run(false);
        var fused = Run(true);
        Assert.That(fused.Y, Is.EqualTo(separate.Y).Within(1e-12));
        for (int i = 0; i < fused.Grads.Length; i++) Assert.That(fused.Grads[i], Is.EqualTo(separate.Grads[i]).Within(1e-10), $"gradient {i}");
    }

    /// <summary>Gives every batch norm of the model random gamma, beta and moving statistics, so that folding them changes numbers.</summary>
    static void RandomiseBatchNorms<T>(Model<T> model, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var bn in model.Layers.OfType<BatchNormalization<T>>())
        {
            int c = bn.Gamma.Shape[0];
            TestData.Random<T>(c, seed++, 0.5, 1.5).CopyTo(bn.Gamma.Value.Span);
            TestData.Random<T>(c, seed++, -0.5, 0.5).CopyTo(bn.Beta.Value.Span);
            TestData.Random<T>(c, seed++, -0.5, 0.5).CopyTo(bn.MovingMean.Span);
            TestData.Random<T>(c, seed++, 0.5, 2).CopyTo(bn.MovingVariance.Span);
        }
    }

    /// <summary>The layer types that took time of their own in one profiled inference pass.</summary>
    static string[] TypesThatRan<T>(Model<T> model, Tensor<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var profiler = new Profiler();
        using (profiler.Activate()) model.Predict(x).Dispose();
        return model.LayerTimes(profiler, x.Shape[0], 1).Select(l => l.Type).Distinct().Order().ToArray();
    }

    [Test]
    public void InferenceFoldsBatchNormsReLUsAndResidualJoinsIntoConvolutions()
    {
        var model = TinyResidualNetwork();
        RandomiseBatchNorms(model, 10);
        var x = TestData.RandomTensor(3, 2, 6, 6, 3);
        var xBefore = x.Span.ToArray();
        model.FoldBatchNormForInference = false;
        var separate = model.Predict(x).Span.ToArray();
        Assert.That(TypesThatRan(model, x), Does.Contain("BatchNormalization+ReLU").And.Contain("BatchNormalization+Add+ReLU"));
        model.FoldBatchNormForInference = true;
        var folded = model.Predict(x).Span.ToArray();
        Assert.That(folded, Is.EqualTo(separate).Within(1e-12));
        // Every batch norm ran inside a convolution, and both residual joins with their ReLUs.
        Assert.That(TypesThatRan(model, x), Is.EqualTo(new[] { "Conv2D", "Dense", "Flatten" }));
        Assert.That(x.Span.ToArray(), Is.EqualTo(xBefore), "the model's input was written");
        // Training mode, or a recording tape, runs the layers as they are.
        model.Training = true;
        var profiler = new Profiler();
        using (profiler.Activate())
        using (var tape = new Tape())
            model.Call(new Variable<double>(x));
        Assert.That(model.LayerTimes(profiler, 2, 1).Select(l => l.Type), Does.Contain("BatchNormalization+Add+ReLU").And.Contain("BatchNormalization+ReLU"));
    }

    [Test]
    public void ResNet50InferenceFoldedMatchesTheLayersOneByOne()
    {
        var model = ResNetModels.ResNet50<float>();
        RandomiseBatchNorms(model, 20);
        using var x = Initializers.Uniform<float>(new Shape(3, 64, 64, 3), 0, 1, new Rng(6));
        model.FoldBatchNormForInference = false;
        using var separate = model.Predict(x);
        model.FoldBatchNormForInference = true;
        using var folded = model.Predict(x);
        var (a, b) = (separate.Span.ToArray(), folded.Span.ToArray());
        for (int i = 0; i < a.Length; i++) Assert.That(b[i], Is.EqualTo(a[i]).Within(1e-4 * Math.Max(1, Math.Abs(a[i]))), $"output {i}");
        Assert.That(a.Max() - a.Min(), Is.GreaterThan(0.01), "the outputs are not all alike");
        // ResNet-50's 53 batch norms, 16 joins and their ReLUs all run inside convolutions.
        Assert.That(TypesThatRan(model, x), Is.EqualTo(new[] { "AveragePooling2D", "Conv2D", "Dense", "Flatten", "MaxPooling2D", "ZeroPadding2D" }));
    }

    [Test]
    public void AFunctionalResidualNetworkIsGradientChecked()
    {
        var model = TinyResidualNetwork();
        model.Training = true;
        var x = new Variable<double>(TestData.RandomTensor(6, 2, 6, 6, 3), requiresGrad: true, name: "x");
        var checkedVariables = new List<Variable<double>> { x };
        checkedVariables.AddRange(model.Parameters.Where(p => !p.Name!.EndsWith("/bias") || p.Name.StartsWith("dense")));
        var report = Autograd.GradientCheck.Run(() => model.Call(x), checkedVariables);
        TestContext.Out.WriteLine(report);
        Assert.That(report.Rows, Has.Count.EqualTo(checkedVariables.Count));
        Assert.That(report.MaxRelativeError, Is.LessThanOrEqualTo(1e-6), report.ToString());
    }

    [Test]
    public void WrongShapesAndNamesAreClearErrors()
    {
        var model = ResNetModels.ResNet18<float>();
        using var tape = Tape.Inference();
        var wrong = new Variable<float>(Tensor<float>.Zeros(new Shape(1, 32, 32, 3)));
        var e = Assert.Throws<ArgumentException>(() => model.Call(wrong))!;
        Assert.That(e.Message, Does.Contain("(None, 64, 64, 3)"));
        e = Assert.Throws<ArgumentException>(() => ResNetModels.Create<float>("resnet51"))!;
        Assert.That(e.Message, Does.Contain("unknown model 'resnet51'"));
        Assert.That(e.Message, Does.Contain("resnet50"));
        var input = Functional.Input<float>(new Shape(8, 8, 16));
        e = Assert.Throws<ArgumentException>(() => ResNetModels.IdentityBlock(input, 3, [4, 4, 32], 2, "a"))!;
        Assert.That(e.Message, Does.Contain("16 channels"));
        var other = Functional.Input<float>(new Shape(8, 8, 32));
        e = Assert.Throws<ArgumentException>(() => new Add<float>().Call(input, other))!;
        Assert.That(e.Message, Does.Contain("one shape"));
    }
}

/// <summary>plot_model's graph as DOT, and its rendering.</summary>
public class ModelPlotTests
{
    [Test]
    public void TheDotGraphHasEveryLayerAndConnection()
    {
        LayerNames.Reset();
        var model = ResNetModels.ResNet50<float>();
        string dot = ModelPlot.ToDot(model, showShapes: true);
        var nodes = dot.Split('\n').Where(l => l.Contains("[label=")).ToArray();
        var edges = dot.Split('\n').Where(l => l.Contains("->")).ToArray();
        Assert.That(nodes, Has.Length.EqualTo(model.Layers.Count));
        // Every layer but the input has one incoming arrow, each Add one more (16 blocks).
        Assert.That(edges, Has.Length.EqualTo(model.Layers.Count - 1 + 16));
        Assert.That(dot, Does.Contain("conv1: Conv2D|{input:|output:}|{(None, 70, 70, 3)|(None, 32, 32, 64)}"));
        Assert.That(dot, Does.Contain("add_1: Add|{input:|output:}|{(None, 15, 15, 256), (None, 15, 15, 256)|(None, 15, 15, 256)}"));
        Assert.That(dot.TrimEnd(), Does.EndWith("}"));
    }

    [Test]
    public void RenderingNeedsGraphvizOrSaysSo()
    {
        var model = ResNetModels.ResNet18<float>();
        string dir = Path.Combine(Path.GetTempPath(), "plot-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string dotFile = Path.Combine(dir, "model.dot");
            ModelPlot.Save(model, dotFile);
            Assert.That(File.ReadAllText(dotFile), Is.EqualTo(ModelPlot.ToDot(model)));
            string svg = Path.Combine(dir, "model.svg");
            bool haveDot = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(p => File.Exists(Path.Combine(p, "dot")));
            if (haveDot)
            {
                ModelPlot.Save(model, svg);
                Assert.That(File.ReadAllText(svg), Does.Contain("<svg"));
            }
            else
            {
                var e = Assert.Throws<InvalidOperationException>(() => ModelPlot.Save(model, svg))!;
                Assert.That(e.Message, Does.Contain("graphviz"));
                Assert.That(File.Exists(svg), Is.False);
            }
            Assert.That(Assert.Throws<ArgumentException>(() => ModelPlot.Save(model, Path.Combine(dir, "model.bmp")))!.Message, Does.Contain(".svg"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
