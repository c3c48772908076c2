using BenchmarkDotNet.Attributes;
using Engine.Autograd;
using Engine.Layers;
using Engine.Tensors;

namespace Engine.Benchmarks;

/// <summary>
/// One layer benchmark: the same op, shape and work convention as the PyTorch script it is
/// compared with (shared/bench/torch_layers.py): batch 32, float32; conv fwd+bwd counts 3x the
/// forward FLOPs (2x for conv1, whose image input needs no gradient); batch norm and pooling
/// report GB/s of minimal traffic.
/// </summary>
public sealed class LayerCase(string name, Func<int, LayerSetup> build, Func<string, double> work, string unit) : IThroughputCase
{
    public LayerSetup Build(int batch) => build(batch);
    public string Unit { get; } = unit;
    public double Work(string method) => work(method);
    public override string ToString() => name;
}

/// <summary>Inputs, parameters and the op of one case, made once outside the timed region.</summary>
public sealed class LayerSetup(Func<Variable<float>> forward, Variable<float>[] parameters, Tensor<float> upstream)
{
    public Variable<float> Forward() => forward();
    public Variable<float>[] Parameters { get; } = parameters;
    public Tensor<float> Upstream { get; } = upstream;
}

/// <summary>
/// ResNet-50's typical layers at 64x64 input, batch 32, forward and forward+backward, as a
/// training step runs them: ops on the tape, buffers from the warm pool.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class LayerBenchmarks
{
    const int Batch = 32;

    static LayerCase Conv(string name, int cin, int cout, int k, int s, string padding, int hw, bool needDx = true)
    {
        int outHw = padding == "same" ? (hw + s - 1) / s : (hw - k) / s + 1;
        double flops = 2.0 * Batch * cout * outHw * outHw * cin * k * k;
        return new LayerCase(name, batch =>
        {
            var rng = new Rng(1);
            var x = new Variable<float>(Initializers.Uniform<float>(new Shape(batch, hw, hw, cin), -1, 1, rng), requiresGrad: needDx);
            var w = new Variable<float>(Initializers.Normal<float>(new Shape(k, k, cin, cout), 0, 0.05, rng), requiresGrad: true);
            var b = new Variable<float>(Tensor<float>.Zeros(new Shape(cout)), requiresGrad: true);
            var g = Initializers.Normal<float>(new Shape(batch, outHw, outHw, cout), 0, 1, rng);
            return new LayerSetup(() => Ops.Conv2D(x, w, b, s, s, padding), needDx ? [x, w, b] : [w, b], g);
        }, method => method == nameof(Forward) ? flops : (needDx ? 3 : 2) * flops, "GFLOP/s");
    }

    static LayerCase BatchNormCase()
    {
        const int c = 256, hw = 15;
        double bytes = 4.0 * Batch * hw * hw * c;
        return new LayerCase("BatchNorm(train) 256ch @15x15", batch =>
        {
            var rng = new Rng(2);
            var bn = new BatchNormalization<float> { Training = true };
            var x = new Variable<float>(Initializers.Normal<float>(new Shape(batch, hw, hw, c), 0, 1, rng), requiresGrad: true);
            using (Tape.Inference()) bn.Call(x);
            var g = Initializers.Normal<float>(x.Shape, 0, 1, rng);
            return new LayerSetup(() => bn.Call(x), [x, bn.Gamma, bn.Beta], g);
        }, method => method == nameof(Forward) ? 2 * bytes : 5 * bytes, "GB/s");
    }

    static LayerCase MaxPoolCase()
    {
        const int c = 64, hw = 32, outHw = 15;
        double bx = 4.0 * Batch * hw * hw * c, by = 4.0 * Batch * outHw * outHw * c;
        return new LayerCase("MaxPool3x3/2 64ch @32x32", batch =>
        {
            var rng = new Rng(3);
            var x = new Variable<float>(Initializers.Normal<float>(new Shape(batch, hw, hw, c), 0, 1, rng), requiresGrad: true);
            var g = Initializers.Normal<float>(new Shape(batch, outHw, outHw, c), 0, 1, rng);
            return new LayerSetup(() => Ops.MaxPool2D(x, (3, 3), (2, 2)), [x], g);
        }, method => method == nameof(Forward) ? bx + by : 2 * bx + 2 * by, "GB/s");
    }

    public static IEnumerable<LayerCase> Cases() =>
    [
        Conv("conv7x7/2 3->64 @70x70 (no dx)", 3, 64, 7, 2, "valid", 70, needDx: false),
        Conv("conv3x3 same 64->64 @15x15", 64, 64, 3, 1, "same", 15),
        Conv("conv1x1 256->64 @15x15", 256, 64, 1, 1, "valid", 15),
        Conv("conv3x3 same 256->256 @4x4", 256, 256, 3, 1, "same", 4),
        Conv("conv1x1/2 512->1024 @8x8", 512, 1024, 1, 2, "valid", 8),
        BatchNormCase(),
        MaxPoolCase(),
    ];

    [ParamsSource(nameof(Cases))]
    public LayerCase Case { get; set; } = null!;

    LayerSetup _setup = null!;

    [GlobalSetup]
    public void Setup() => _setup = Case.Build(Batch);

    /// <summary>Inference: no tape records, outputs return to the pool at the end.</summary>
    [Benchmark]
    public void Forward()
    {
        using var tape = Tape.Inference();
        _setup.Forward();
    }

    /// <summary>
    /// Forward on a recording tape, then backward from a fixed upstream gradient into fresh
    /// gradients, as PyTorch's torch.autograd.grad returns them (nothing zeroed, nothing added to).
    /// </summary>
    [Benchmark]
    public void ForwardBackward()
    {
        foreach (var p in _setup.Parameters) p.ReleaseGrad();
        using var tape = new Tape();
        var y = _setup.Forward();
        tape.Backward(y, _setup.Upstream);
    }
}
