using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Kernels;
using Engine.Layers;
using Engine.ResNet.Models;
using Engine.Tensors;

namespace Engine.ResNet.Diagnostics;

/// <summary>One check of <see cref="DeviceParity"/>: the largest difference between the two devices' results.</summary>
/// <param name="Name">What ran: the op, its shapes and flags.</param>
/// <param name="MaxRelativeDifference">
/// Over every output the case compares, max |a - b| / max |b| of that output (b on the
/// reference device): a difference in proportion to the output's scale, so that elements near
/// zero (where float rounding is all there is) do not dominate.
/// </param>
/// <param name="Worst">The output where the largest difference was.</param>
/// <param name="Error">The exception's message where the case failed to run, else null.</param>
/// <param name="Largest">The outputs with the largest differences, largest first (at most five), for a report.</param>
public sealed record ParityResult(string Name, double MaxRelativeDifference, string Worst, string? Error, IReadOnlyList<(string Output, double Difference)>? Largest = null)
{
    /// <summary>The case ran and its largest difference is within <see cref="DeviceParity.Tolerance"/>.</summary>
    public bool Passed => Error == null && MaxRelativeDifference <= DeviceParity.Tolerance;
}

/// <summary>
/// Runs every op and layer of the engine, forward and backward, on two devices from the same
/// inputs and reports how far apart the results are: the check a user runs on their own GPU
/// (<c>resnet selftest --device cuda</c>). Each case draws its inputs from a generator seeded by
/// its name, so both devices see identical values; backward passes start from a random upstream
/// gradient (a sum would hide errors that cancel); ReLU inputs stay away from 0 and max-pool
/// inputs have no ties, where a rounding difference would otherwise change which branch is taken.
/// </summary>
public static class DeviceParity
{
    /// <summary>The largest relative difference a case may show and pass.</summary>
    public const double Tolerance = 1e-4;

    sealed record Case(string Name, Func<Device, Rng, List<(string Output, float[] Values)>> Run);

    /// <summary>The cases' names, in the order <see cref="Run"/> runs them.</summary>
    public static IReadOnlyList<string> CaseNames => Cases.Select(c => c.Name).ToArray();

    /// <summary>
    /// Runs the cases whose names contain <paramref name="filter"/> (all when null) on
    /// <paramref name="device"/> and on <paramref name="reference"/>, one result per case as it completes.
    /// </summary>
    public static IEnumerable<ParityResult> Run(Device device, Device reference, string? filter = null)
    {
        foreach (var c in Cases)
        {
            if (filter != null && !c.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            ParityResult result;
            try
            {
                var expected = c.Run(reference, SeededFor(c.Name));
                var actual = c.Run(device, SeededFor(c.Name));
                result = Compare(c.Name, expected, actual);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                result = new ParityResult(c.Name, double.PositiveInfinity, "", $"{e.GetType().Name}: {e.Message}");
            }
            yield return result;
        }
    }

    static Rng SeededFor(string name)
    {
        // A stable hash (string.GetHashCode differs between processes).
        ulong h = 1469598103934665603UL;
        foreach (char ch in name) h = (h ^ ch) * 1099511628211UL;
        return new Rng(h);
    }

    static ParityResult Compare(string name, List<(string Output, float[] Values)> expected, List<(string Output, float[] Values)> actual)
    {
        if (expected.Count != actual.Count) throw new InvalidOperationException($"{name}: {expected.Count} outputs against {actual.Count}");
        double worst = 0;
        string worstOutput = expected.Count > 0 ? expected[0].Output : "";
        var all = new List<(string Output, double Difference)>();
        for (int i = 0; i < expected.Count; i++)
        {
            var (output, b) = expected[i];
            var a = actual[i].Values;
            if (a.Length != b.Length) throw new InvalidOperationException($"{name}: {output} has {a.Length} values against {b.Length}");
            double scale = 0, difference = 0;
            for (int j = 0; j < b.Length; j++)
            {
                // NaN on either side must fail, not vanish in Math.Max or make the scale NaN.
                if (float.IsNaN(a[j]) || float.IsNaN(b[j])) difference = double.PositiveInfinity;
                else
                {
                    scale = Math.Max(scale, Math.Abs((double)b[j]));
                    difference = Math.Max(difference, Math.Abs((double)a[j] - b[j]));
                }
            }
            double relative = difference == 0 ? 0 : double.IsPositiveInfinity(difference) ? difference : difference / Math.Max(scale, 1e-30);
            all.Add((output, relative));
            if (relative > worst || (i == 0 && relative >= worst))
            {
                worst = relative;
                worstOutput = output;
            }
        }
        return new ParityResult(name, worst, worstOutput, null, all.OrderByDescending(o => o.Difference).Take(5).ToArray());
    }

    // ---- inputs ----

    static float[] Uniform(Rng rng, int length, double low = -1, double high = 1)
    {
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = (float)rng.Uniform(low, high);
        return a;
    }

    /// <summary>Values in ±[0.1, 1]: a ReLU's branch is never decided by rounding.</summary>
    static float[] AwayFromZero(Rng rng, int length)
    {
        var a = Uniform(rng, length, 0.1, 1);
        for (int i = 0; i < a.Length; i++) if (rng.NextDouble() < 0.5) a[i] = -a[i];
        return a;
    }

    static Tensor<float> On(Device device, float[] values, Shape shape) => Tensor<float>.FromArray(values, shape, device);

    static Variable<float> Parameter(Device device, float[] values, Shape shape, string name) =>
        new(On(device, values, shape), requiresGrad: true, name: name);

    /// <summary>
    /// An op case: inputs drawn per shape (requiring gradients), y = op(inputs), backward from a
    /// random upstream gradient; compares y and every input's gradient.
    /// </summary>
    static Case OpCase(string name, Shape[] shapes, Func<Variable<float>[], Variable<float>> op, bool awayFromZero = false) =>
        new(name, (device, rng) =>
        {
            var inputs = shapes.Select((s, i) => Parameter(device,
                awayFromZero ? AwayFromZero(rng, s.Size) : Uniform(rng, s.Size), s, $"input{i}")).ToArray();
            var outputs = new List<(string, float[])>();
            using (var tape = new Tape())
            {
                var y = op(inputs);
                using var seed = On(device, Uniform(rng, y.Shape.Size), y.Shape);
                outputs.Add(("y", y.Value.ToArray()));
                tape.Backward(y, seed);
            }
            for (int i = 0; i < inputs.Length; i++)
                outputs.Add(($"d input{i}", inputs[i].Grad?.ToArray() ?? throw new InvalidOperationException($"input {i} got no gradient")));
            foreach (var v in inputs) { v.Value.Dispose(); v.Grad?.Dispose(); }
            return outputs;
        });

    /// <summary>A batch-norm case: x [rows..., C], trainable gamma and beta, moving statistics compared after the call too.</summary>
    static Case BatchNormCase(string name, Shape x, bool training, bool relu, bool residual) =>
        new(name, (device, rng) =>
        {
            int c = x[-1];
            var cs = new Shape(c);
            // Channels with their own offsets and scales, as a convolution's outputs have.
            var xs = Uniform(rng, x.Size);
            var offsets = Uniform(rng, c, -2, 2);
            var scales = Uniform(rng, c, 0.5, 3);
            for (int i = 0; i < xs.Length; i++) xs[i] = xs[i] * scales[i % c] + offsets[i % c];
            var vx = Parameter(device, xs, x, "x");
            var gamma = Parameter(device, Uniform(rng, c, 0.5, 1.5), cs, "gamma");
            var beta = Parameter(device, Uniform(rng, c), cs, "beta");
            using var movingMean = On(device, Uniform(rng, c), cs);
            using var movingVariance = On(device, Uniform(rng, c, 0.5, 2), cs);
            var vr = residual ? Parameter(device, Uniform(rng, x.Size), x, "residual") : null;
            var outputs = new List<(string, float[])>();
            Variable<float>[] inputs = vr == null ? [vx, gamma, beta] : [vx, gamma, beta, vr];
            using (var tape = new Tape())
            {
                var y = vr != null ? Ops.BatchNormAddRelu(vx, gamma, beta, movingMean, movingVariance, training, vr)
                    : relu ? Ops.BatchNormRelu(vx, gamma, beta, movingMean, movingVariance, training)
                    : Ops.BatchNorm(vx, gamma, beta, movingMean, movingVariance, training);
                using var seed = On(device, Uniform(rng, y.Shape.Size), y.Shape);
                outputs.Add(("y", y.Value.ToArray()));
                tape.Backward(y, seed);
            }
            outputs.Add(("moving mean", movingMean.ToArray()));
            outputs.Add(("moving variance", movingVariance.ToArray()));
            foreach (var v in inputs) outputs.Add(($"d {v.Name}", v.Grad!.ToArray()));
            foreach (var v in inputs) { v.Value.Dispose(); v.Grad?.Dispose(); }
            return outputs;
        });

    static Case ConvCase(string name, Shape x, int kernel, int filters, int stride, string padding, bool bias = true, bool relu = false) =>
        OpCase(name, bias ? [x, new Shape(kernel, kernel, x[3], filters), new Shape(filters)] : [x, new Shape(kernel, kernel, x[3], filters)],
            v => relu ? Ops.Conv2DRelu(v[0], v[1], bias ? v[2] : null, stride, stride, padding)
                : Ops.Conv2D(v[0], v[1], bias ? v[2] : null, stride, stride, padding));

    /// <summary>A case that calls the backend directly, for flags and ops no autograd op reaches.</summary>
    static Case BackendCase(string name, Func<Device, Rng, List<(string, float[])>> run) => new(name, run);

    static readonly Case[] Cases =
    [
        OpCase("relu [3,7,5]", [new(3, 7, 5)], v => Ops.Relu(v[0]), awayFromZero: true),
        OpCase("sigmoid [3,7,5]", [new(3, 7, 5)], v => Ops.Sigmoid(v[0])),
        OpCase("add [4,6,10] + [10] (broadcast)", [new(4, 6, 10), new(10)], v => Ops.Add(v[0], v[1])),
        OpCase("subtract [5,9] - [5,9]", [new(5, 9), new(5, 9)], v => Ops.Subtract(v[0], v[1])),
        OpCase("multiply [4,6,10] * [10] (broadcast)", [new(4, 6, 10), new(10)], v => Ops.Multiply(v[0], v[1])),
        OpCase("matmul [37,19] x [19,23]", [new(37, 19), new(19, 23)], v => Ops.MatMul(v[0], v[1])),
        OpCase("matmul [130,300] x [300,70]", [new(130, 300), new(300, 70)], v => Ops.MatMul(v[0], v[1])),
        // Large enough that a GPU with ~130 SMs picks its 128 x 128 and 128 x 64 tiles (smaller cases and
        // batch-32 ResNet-50 layers use 64 x 64 ones).
        OpCase("matmul [8192,256] x [256,512] (large tiles)", [new(8192, 256), new(256, 512)], v => Ops.MatMul(v[0], v[1])),
        OpCase("matmul [40960,96] x [96,64] (tall tiles)", [new(40960, 96), new(96, 64)], v => Ops.MatMul(v[0], v[1])),
        OpCase("sum over axis 1 of [4,33,7]", [new(4, 33, 7)], v => Ops.Sum(v[0], 1)),
        OpCase("mean of [1000]", [new(1000)], v => Ops.Mean(v[0])),
        OpCase("softmax [5,6]", [new(5, 6)], v => Ops.Softmax(v[0])),
        new("softmax cross-entropy [7,6]", (device, rng) =>
        {
            var logits = Parameter(device, Uniform(rng, 42, -3, 3), new Shape(7, 6), "logits");
            var targets = new float[42];
            for (int r = 0; r < 7; r++) targets[r * 6 + rng.Next(6)] = 1;
            using var t = On(device, targets, new Shape(7, 6));
            List<(string, float[])> outputs;
            using (var tape = new Tape())
            {
                var loss = Ops.SoftmaxCrossEntropy(logits, new Variable<float>(t));
                outputs = [("loss", loss.Value.ToArray())];
                tape.Backward(loss);
            }
            outputs.Add(("d logits", logits.Grad!.ToArray()));
            logits.Value.Dispose();
            logits.Grad!.Dispose();
            return outputs;
        }),
        ConvCase("conv 7x7/2 valid 3->64 on [2,22,22,3] (the stem)", new(2, 22, 22, 3), 7, 64, 2, "valid"),
        ConvCase("conv 3x3/1 same 13->17 on [3,9,7,13]", new(3, 9, 7, 13), 3, 17, 1, "same"),
        ConvCase("conv 3x3/1 same 64->64 on [2,15,15,64], relu", new(2, 15, 15, 64), 3, 64, 1, "same", relu: true),
        ConvCase("conv 3x3/2 same 8->12 on [2,9,9,8]", new(2, 9, 9, 8), 3, 12, 2, "same"),
        ConvCase("conv 1x1/1 32->48 on [2,5,5,32]", new(2, 5, 5, 32), 1, 48, 1, "valid"),
        ConvCase("conv 1x1/1 256->64 on [4,4,4,256], no bias", new(4, 4, 4, 256), 1, 64, 1, "valid", bias: false),
        ConvCase("conv 1x1/2 valid 24->40 on [3,8,8,24]", new(3, 8, 8, 24), 1, 40, 2, "valid"),
        OpCase("conv 5x3/1 valid 5->7 on [1,11,6,5]", [new(1, 11, 6, 5), new(5, 3, 5, 7), new(7)], v => Ops.Conv2D(v[0], v[1], v[2], 1, 1, "valid")),
        ConvCase("conv 3x3/1 same 32->256 on [32,32,32,32] (large tiles)", new(32, 32, 32, 32), 3, 256, 1, "same"),
        ConvCase("conv 3x3/1 same 16->64 on [40,32,32,16] (tall tiles)", new(40, 32, 32, 16), 3, 64, 1, "same"),
        ConvCase("conv 3x3/2 same 32->256 on [32,64,64,32] (large tiles, strided)", new(32, 64, 64, 32), 3, 256, 2, "same"),
        // x feeds two convolutions: the second one's input gradient adds to the first one's.
        OpCase("conv 3x3 + conv 1x1 of one input (gradients accumulate)", [new(2, 6, 6, 16), new(3, 3, 16, 8), new(1, 1, 16, 8)],
            v => Ops.Add(Ops.Conv2D(v[0], v[1], null, 1, 1, "same"), Ops.Conv2D(v[0], v[2], null, 1, 1, "valid"))),
        OpCase("max pool 3x3/2 on [3,11,11,5]", [new(3, 11, 11, 5)], v => Ops.MaxPool2D(v[0], (3, 3), (2, 2))),
        OpCase("average pool 2x2/2 on [2,4,4,9]", [new(2, 4, 4, 9)], v => Ops.AveragePool2D(v[0], (2, 2), (2, 2))),
        OpCase("zero padding (3,3) on [2,5,4,3]", [new(2, 5, 4, 3)], v => Ops.ZeroPad2D(v[0], (3, 3), (3, 3))),
        OpCase("flatten + dense [4,2,2,8] -> 5", [new(4, 2, 2, 8), new(32, 5), new(5)], v => Ops.Add(Ops.MatMul(Ops.Flatten(v[0]), v[1]), v[2])),
        BatchNormCase("batch norm, training, [4,5,5,12]", new(4, 5, 5, 12), training: true, relu: false, residual: false),
        BatchNormCase("batch norm, inference, [4,5,5,12]", new(4, 5, 5, 12), training: false, relu: false, residual: false),
        BatchNormCase("batch norm + relu, training, [2,15,15,64]", new(2, 15, 15, 64), training: true, relu: true, residual: false),
        BatchNormCase("batch norm + add + relu, training, [3,4,4,40]", new(3, 4, 4, 40), training: true, relu: true, residual: true),
        BatchNormCase("batch norm + add + relu, inference, [3,4,4,40]", new(3, 4, 4, 40), training: false, relu: true, residual: true),
        BackendCase("convolution with batch norm folded in, + residual, relu (inference)", (device, rng) =>
        {
            using var x = On(device, Uniform(rng, 2 * 7 * 7 * 16), new Shape(2, 7, 7, 16));
            using var k = On(device, Uniform(rng, 3 * 3 * 16 * 24), new Shape(3, 3, 16, 24));
            using var scale = On(device, Uniform(rng, 24, 0.5, 2), new Shape(24));
            using var shift = On(device, Uniform(rng, 24), new Shape(24));
            using var residual = On(device, Uniform(rng, 2 * 7 * 7 * 24), new Shape(2, 7, 7, 24));
            using var tape = Tape.Inference();
            var y = Ops.Conv2DScaled(new Variable<float>(x), k, scale, shift, 1, 1, "same", relu: true, new Variable<float>(residual));
            return [("y", y.Value.ToArray())];
        }),
        BackendCase("matmul, every transpose, alpha 0.5, beta 2 (accumulating)", (device, rng) =>
        {
            var outputs = new List<(string, float[])>();
            int m = 33, n = 20, k = 45;
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                {
                    using var a = On(device, Uniform(rng, m * k), ta ? new Shape(k, m) : new Shape(m, k));
                    using var b = On(device, Uniform(rng, k * n), tb ? new Shape(n, k) : new Shape(k, n));
                    using var c = On(device, Uniform(rng, m * n), new Shape(m, n));
                    device.Backend.MatMul(ta, tb, m, n, k, 0.5f, a, b, 2f, c);
                    outputs.Add(($"C (transA {ta}, transB {tb})", c.ToArray()));
                }
            return outputs;
        }),
        BackendCase("im2col and col2im, 3x3/2 same on [2,7,6,5]", (device, rng) =>
        {
            var g = ConvGeometry.Create(2, 7, 6, 5, 3, 3, 2, 2, "same");
            using var x = On(device, Uniform(rng, g.InputLength), new Shape(2, 7, 6, 5));
            using var cols = Tensor<float>.Empty(new Shape(g.Rows, g.Patch), device);
            device.Backend.Im2Col(g, x, cols);
            using var dCols = On(device, Uniform(rng, g.Rows * g.Patch), new Shape(g.Rows, g.Patch));
            using var dx = On(device, Uniform(rng, g.InputLength), new Shape(2, 7, 6, 5));
            device.Backend.Col2ImAccumulate(g, dCols, dx);
            return [("cols", cols.ToArray()), ("dx", dx.ToArray())];
        }),
        BackendCase("fill, copy, axpy on 1001 values", (device, rng) =>
        {
            using var x = On(device, Uniform(rng, 1001), new Shape(1001));
            using var y = On(device, Uniform(rng, 1001), new Shape(1001));
            using var z = Tensor<float>.Empty(new Shape(1001), device);
            device.Backend.Axpy(-1.5f, x, y);
            device.Backend.Copy(y, z);
            device.Backend.Axpy(2f, x, z);
            using var f = Tensor<float>.Full(new Shape(1001), 0.25f, device);
            return [("axpy", y.ToArray()), ("copy + axpy", z.ToArray()), ("fill", f.ToArray())];
        }),
        BackendCase("adam, 3 steps on [3,3,16,24]", (device, rng) => OptimizerSteps(device, rng, ps => new Adam<float>(ps, learningRate: 0.01))),
        BackendCase("sgd with nesterov momentum, 3 steps on [3,3,16,24]", (device, rng) =>
            OptimizerSteps(device, rng, ps => new Sgd<float>(ps, learningRate: 0.05, momentum: 0.9, nesterov: true))),
        new("resnet50 inference, batch 4, float32", (device, rng) => ModelStep<float>(device, rng, training: false)),
        // Training runs in float64: in float32 the devices' different summation orders are amplified
        // by ~50 batch norms on 4 images (16 rows in the last stage) and by ReLUs whose inputs round
        // to the other side of 0, until layer gradients differ by ~10% (measured on an H100) even
        // though every op agrees to 1e-6; in float64 the same comparison agrees to 1e-7.
        new("resnet50 forward + backward, batch 4, training mode, float64", (device, rng) => ModelStep<double>(device, rng, training: true)),
        new("resnet18 fit: two Adam steps, then evaluate, batch 4, float64", TwoSteps),
    ];

    /// <summary>Three optimizer steps on one weight with gradients that change sign, kept away from 0 (Adam divides by them).</summary>
    static List<(string, float[])> OptimizerSteps(Device device, Rng rng, Func<IEnumerable<Variable<float>>, Optimizer<float>> make)
    {
        var shape = new Shape(3, 3, 16, 24);
        var w = Parameter(device, Uniform(rng, shape.Size), shape, "w");
        var optimizer = make([w]);
        for (int step = 0; step < 3; step++)
        {
            using var g = On(device, AwayFromZero(rng, shape.Size), shape);
            w.EnsureGrad();
            device.Backend.Copy(g, w.Grad!);
            optimizer.Step();
        }
        var result = new List<(string, float[])> { ("w", w.Value.ToArray()) };
        w.Value.Dispose();
        w.Grad?.Dispose();
        return result;
    }

    /// <summary>
    /// Keras' training loop end to end: two train_on_batch steps (forward, loss, backward,
    /// Adam) and an evaluation, with the data on the host as a user has it; the three losses
    /// and the first convolution's kernel after the steps.
    /// </summary>
    static List<(string, float[])> TwoSteps(Device device, Rng rng)
    {
        var model = ResNetModels.Create<double>("resnet18", (64, 64, 3), 6).To(device);
        model.Compile("adam");
        var shape = new Shape(4, 64, 64, 3);
        using var x = Tensor<double>.FromArray(Array.ConvertAll(Uniform(rng, shape.Size, 0, 1), v => (double)v), shape);
        var targets = new double[4 * 6];
        for (int i = 0; i < 4; i++) targets[i * 6 + rng.Next(6)] = 1;
        using var y = Tensor<double>.FromArray(targets, new Shape(4, 6));
        float[] losses = [(float)model.TrainOnBatch(x, y).Loss, (float)model.TrainOnBatch(x, y).Loss, (float)model.Evaluate(x, y).Loss];
        var kernel = Array.ConvertAll(model.Parameters.First().Value.ToArray(), v => (float)v);
        foreach (var layer in model.Layers)
        {
            foreach (var parameter in layer.Parameters) parameter.Value.Dispose();
            foreach (var (_, value) in layer.State) value.Dispose();
        }
        return [("losses", losses), ("first kernel after two steps", kernel)];
    }

    /// <summary>
    /// The whole network from the same seeded weights on both devices, on 4 images: in
    /// training mode (batch statistics) the probabilities and every layer's gradients after a
    /// backward pass from a random upstream gradient; in inference the probabilities.
    /// </summary>
    static List<(string, float[])> ModelStep<T>(Device device, Rng rng, bool training) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var model = ResNetModels.ResNet50<T>((64, 64, 3), 6).To(device);
        model.Training = training;
        var shape = new Shape(4, 64, 64, 3);
        static float[] Single(T[] values) => Array.ConvertAll(values, float.CreateTruncating);
        Tensor<T> Draw(Shape s, double low, double high) =>
            Tensor<T>.FromArray(Array.ConvertAll(Uniform(rng, s.Size, low, high), T.CreateTruncating), s, device);
        using var x = Draw(shape, 0, 1);
        var outputs = new List<(string, float[])>();
        using (var tape = training ? new Tape() : Tape.Inference())
        {
            var p = model.Call(new Variable<T>(x));
            outputs.Add(("probabilities", Single(p.Value.ToArray())));
            if (training)
            {
                using var seed = Draw(p.Shape, -1, 1);
                tape.Backward(p, seed);
            }
        }
        // A layer's gradients are compared as one vector: a convolution's bias before a
        // training-mode batch norm has a true gradient of 0 (the batch mean is subtracted), so
        // its own values are rounding noise, with no scale of their own to compare against.
        foreach (var layer in model.Layers.Where(l => training && l.Parameters.Count > 0))
        {
            var gradient = new List<float>();
            foreach (var parameter in layer.Parameters)
            {
                gradient.AddRange(Single(parameter.Grad?.ToArray() ?? throw new InvalidOperationException($"{parameter.Name} got no gradient")));
                parameter.Grad.Dispose();
            }
            outputs.Add(($"d {layer.Name}", gradient.ToArray()));
        }
        foreach (var layer in model.Layers)
        {
            foreach (var parameter in layer.Parameters) parameter.Value.Dispose();
            foreach (var (_, value) in layer.State) value.Dispose();
        }
        return outputs;
    }
}
