using System.Diagnostics;
using System.Numerics;
using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Tensors;

namespace Engine.Layers;

/// <summary>One epoch of <see cref="Model{T}.Fit"/>: the running means Keras prints, and validation figures when given data.</summary>
public sealed record EpochLog(int Epoch, double Loss, double Accuracy, double? ValidationLoss, double? ValidationAccuracy, TimeSpan Elapsed);

/// <summary>compile / fit / evaluate / predict, as Keras' Model has them.</summary>
public sealed partial class Model<T>
{
    Func<IEnumerable<Variable<T>>, Optimizer<T>>? _makeOptimizer;
    Optimizer<T>? _optimizer;

    /// <summary>The optimizer made by <see cref="Compile"/> (its state lives as long as the model).</summary>
    public Optimizer<T> Optimizer => _optimizer ?? throw new InvalidOperationException($"{Name} is not compiled: call Compile first");

    /// <summary>
    /// Keras' compile(optimizer, loss, metrics). optimizer: "adam" (Keras defaults, learning
    /// rate 0.001) or "sgd" (0.01), or <paramref name="makeOptimizer"/>; loss:
    /// "categorical_crossentropy" on one-hot (or soft) targets; metrics: "accuracy" or none.
    /// </summary>
    public void Compile(string optimizer = "adam", string loss = "categorical_crossentropy", string[]? metrics = null,
        Func<IEnumerable<Variable<T>>, Optimizer<T>>? makeOptimizer = null)
    {
        if (loss != "categorical_crossentropy") throw new ArgumentException($"loss '{loss}' is not supported; use categorical_crossentropy");
        foreach (var m in metrics ?? []) if (m is not ("accuracy" or "acc")) throw new ArgumentException($"metric '{m}' is not supported; use accuracy");
        _makeOptimizer = makeOptimizer ?? optimizer switch
        {
            "adam" => ps => new Adam<T>(ps),
            "sgd" => ps => new Sgd<T>(ps),
            _ => throw new ArgumentException($"optimizer '{optimizer}' is not supported; use adam or sgd"),
        };
        _optimizer = _makeOptimizer(Parameters);
    }

    /// <summary>
    /// Keras' fit: <paramref name="epochs"/> passes over x [N, ...input] with targets y [N, classes]
    /// in mini-batches (reshuffled each epoch when <paramref name="shuffle"/>, from
    /// <paramref name="seed"/>), one optimizer step per batch, batch norm in training mode.
    /// Prints Keras' progress line per epoch to <paramref name="log"/> (none when null):
    /// samples done, bar, seconds, time per sample, running loss and accuracy, and the
    /// validation figures at the end of the epoch when <paramref name="validation"/> is given.
    /// A loss or weight that turns NaN or infinite stops training with a
    /// <see cref="TrainingDivergedException"/> naming the epoch, step and layer, before the
    /// epoch's end is reported (so <paramref name="onEpochEnd"/> never saves broken weights).
    /// </summary>
    /// <param name="initialEpoch">Keras' initial_epoch: the epochs already done (by a run this one resumes,
    /// its weights and optimizer state restored); training goes on from the next one to <paramref name="epochs"/>,
    /// with the batches an uninterrupted run from the same seed would have had.</param>
    /// <param name="augment">Changes each training batch in place on the host ([B, ...input] values) before it
    /// is used: data augmentation. Its generator is seeded by <paramref name="seed"/> and the epoch, so a
    /// resumed run draws what an uninterrupted one would.</param>
    public IReadOnlyList<EpochLog> Fit(Tensor<T> x, Tensor<T> y, int epochs = 1, int batchSize = 32, bool shuffle = true,
        (Tensor<T> X, Tensor<T> Y)? validation = null, ulong seed = 0, TextWriter? log = null, Action<EpochLog>? onEpochEnd = null,
        int initialEpoch = 0, Action<Span<T>, Shape, Rng>? augment = null)
    {
        _ = Optimizer; // not compiled: say so before reading any data
        CheckData(x, y, "training");
        if (validation is { } v) CheckData(v.X, v.Y, "validation");
        if (epochs < 1 || batchSize < 1) throw new ArgumentException($"epochs {epochs} and batch size {batchSize} must be at least 1");
        if (initialEpoch < 0 || initialEpoch >= epochs) throw new ArgumentException($"initial epoch {initialEpoch} must be at least 0 and below epochs {epochs}");
        int n = x.Shape[0];
        var order = Enumerable.Range(0, n).ToArray();
        var rng = new Rng(seed);
        // Each epoch shuffles the previous epoch's order: replaying the skipped shuffles gives
        // the resumed epochs the orders they would have had.
        if (shuffle)
            for (int skipped = 0; skipped < initialEpoch; skipped++) rng.Shuffle(order);
        var history = new List<EpochLog>();
        var progress = log == null ? null : new Progress(log, n);
        for (int epoch = initialEpoch + 1; epoch <= epochs; epoch++)
        {
            log?.WriteLine($"Epoch {epoch}/{epochs}");
            if (shuffle) rng.Shuffle(order);
            var augmentRng = augment == null ? null : new Rng(seed ^ (0x9E3779B97F4A7C15UL * (ulong)epoch));
            var clock = Stopwatch.StartNew();
            double lossSum = 0, correct = 0;
            int seen = 0, step = 0;
            Training = true;
            for (int start = 0; start < n; start += batchSize)
            {
                int b = Math.Min(batchSize, n - start);
                step++;
                using var xb = Gather(x, order.AsSpan(start, b), augment == null ? null : span => augment(span, new Shape([b, .. x.Shape.Dims[1..]]), augmentRng!));
                using var yb = Gather(y, order.AsSpan(start, b));
                var (batchLoss, batchAccuracy) = TrainStep(xb, yb, updateIfNotFinite: false);
                // Stopped before this step's update: the weights are as the last good step left them
                // (a gradient that overflowed there shows as non-finite weights, and in this loss).
                if (!double.IsFinite(batchLoss)) throw Diverged(epoch, step, $"the loss is {batchLoss}");
                lossSum += batchLoss * b;
                correct += batchAccuracy * b;
                seen += b;
                progress?.Update(seen, clock.Elapsed, $" - loss: {lossSum / seen:F4} - acc: {correct / seen:F4}", final: false);
            }
            Training = false;
            // The epoch's last update could have broken the weights with a finite loss: check them all
            // (once per epoch, a pass over the weights) before anything saves them.
            if (FirstNonFiniteLayer() != null) throw Diverged(epoch, step, "a weight is not finite after the epoch's last update");
            double? validationLoss = null, validationAccuracy = null;
            if (validation is { } val) (validationLoss, validationAccuracy) = Evaluate(val.X, val.Y, batchSize);
            var entry = new EpochLog(epoch, lossSum / n, correct / n, validationLoss, validationAccuracy, clock.Elapsed);
            history.Add(entry);
            progress?.Update(n, clock.Elapsed, $" - loss: {entry.Loss:F4} - acc: {entry.Accuracy:F4}"
                + (validationLoss is double vl ? $" - val_loss: {vl:F4} - val_acc: {validationAccuracy:F4}" : ""), final: true);
            onEpochEnd?.Invoke(entry);
        }
        return history;
    }

    /// <summary>
    /// Keras' train_on_batch: one optimizer step on x [B, ...input] with targets y [B, classes]
    /// (forward in training mode, categorical cross-entropy, backward, the optimizer's update);
    /// returns the batch's mean loss and accuracy before the update.
    /// </summary>
    public (double Loss, double Accuracy) TrainOnBatch(Tensor<T> x, Tensor<T> y) => TrainStep(x, y, updateIfNotFinite: true);

    /// <summary>
    /// One step; without <paramref name="updateIfNotFinite"/>, a loss that is NaN or infinite
    /// is returned without the backward pass and update, which would spread it to every weight.
    /// </summary>
    (double Loss, double Accuracy) TrainStep(Tensor<T> x, Tensor<T> y, bool updateIfNotFinite)
    {
        var optimizer = Optimizer;
        CheckData(x, y, "training");
        bool training = Training;
        Training = true;
        try
        {
            double loss, accuracy;
            using (var tape = new Tape())
            {
                using var xOnDevice = OnDevice(x);
                var logits = Run(new Variable<T>(xOnDevice), logits: true);
                using var yOnDevice = OnDevice(y);
                var lossVariable = Ops.SoftmaxCrossEntropy(logits, new Variable<T>(yOnDevice));
                loss = double.CreateChecked(lossVariable.Value.ToArray()[0]);
                accuracy = (double)Correct(logits.Value, y) / x.Shape[0];
                if (updateIfNotFinite || double.IsFinite(loss)) optimizer.Minimize(tape, lossVariable);
            }
            return (loss, accuracy);
        }
        finally { Training = training; }
    }

    TrainingDivergedException Diverged(int epoch, int step, string what)
    {
        Training = false;
        string? layer = FirstNonFiniteLayer();
        return new TrainingDivergedException($"training stopped at epoch {epoch}, step {step}: {what}"
            + (layer == null ? "" : $"; the first layer with a weight that is not finite: {layer}"), epoch, step, layer);
    }

    /// <summary>The first layer, in Keras' order, with a weight or moving statistic that is NaN or infinite; null when none.</summary>
    public string? FirstNonFiniteLayer()
    {
        foreach (var layer in Layers)
        {
            var tensors = layer.Parameters.Select(p => p.Value).Concat(layer.State.Select(s => s.Value));
            foreach (var t in tensors)
            {
                var values = t.HostValues;
                foreach (T v in values)
                    if (!T.IsFinite(v)) return layer.Name;
            }
        }
        return null;
    }

    /// <summary>Keras' evaluate: mean categorical cross-entropy and accuracy over x, y, batch norm in inference mode.</summary>
    public (double Loss, double Accuracy) Evaluate(Tensor<T> x, Tensor<T> y, int batchSize = 32)
    {
        CheckData(x, y, "evaluation");
        bool training = Training;
        Training = false;
        try
        {
            int n = x.Shape[0];
            var rows = Enumerable.Range(0, n).ToArray();
            double lossSum = 0, correct = 0;
            for (int start = 0; start < n; start += batchSize)
            {
                int b = Math.Min(batchSize, n - start);
                using var tape = Tape.Inference();
                using var xb = Gather(x, rows.AsSpan(start, b));
                using var yb = Gather(y, rows.AsSpan(start, b));
                var logits = Run(new Variable<T>(xb), logits: true);
                lossSum += double.CreateChecked(Ops.SoftmaxCrossEntropy(logits, new Variable<T>(yb)).Value.ToArray()[0]) * b;
                correct += Correct(logits.Value, yb);
            }
            return (lossSum / n, correct / n);
        }
        finally { Training = training; }
    }

    /// <summary>Keras' predict: the model's outputs (class probabilities) for every sample of x, [N, ...output], inference mode.</summary>
    public Tensor<T> Predict(Tensor<T> x, int batchSize = 32)
    {
        CheckInput(x.Shape);
        bool training = Training;
        Training = false;
        try
        {
            int n = x.Shape[0], width = Output.SampleShape.Size;
            var result = Tensor<T>.Empty(Output.WithBatch(n));
            var rows = Enumerable.Range(0, n).ToArray();
            for (int start = 0; start < n; start += batchSize)
            {
                int b = Math.Min(batchSize, n - start);
                using var tape = Tape.Inference();
                using var xb = Gather(x, rows.AsSpan(start, b));
                Call(new Variable<T>(xb)).Value.Storage.CopyToHost(result.Span.Slice(start * width, b * width));
            }
            return result;
        }
        finally { Training = training; }
    }

    void CheckData(Tensor<T> x, Tensor<T> y, string what)
    {
        CheckInput(x.Shape, $"{what} data");
        if (y.Shape.Rank != 2 || y.Shape[1] != Output.SampleShape.Size)
            throw new ArgumentException($"{what} data: targets must be [N, {Output.SampleShape.Size}] (one-hot), got {y.Shape}");
        if (x.Shape[0] != y.Shape[0]) throw new ArgumentException($"{what} data: {x.Shape[0]} inputs but {y.Shape[0]} targets");
        if (x.Shape[0] == 0) throw new ArgumentException($"{what} data is empty");
    }

    /// <summary>
    /// counts[t, p]: how many samples of x [N, ...input] with (one-hot) targets y [N, classes]
    /// have their largest target entry at t and their largest output at p, in inference mode
    /// (the diagonal holds the correct ones).
    /// </summary>
    public int[,] ConfusionMatrix(Tensor<T> x, Tensor<T> y, int batchSize = 32)
    {
        CheckData(x, y, "confusion matrix");
        int n = x.Shape[0], classes = y.Shape[1];
        using var p = Predict(x, batchSize);
        var outputs = p.HostValues;
        var targets = y.HostValues;
        var counts = new int[classes, classes];
        for (int i = 0; i < n; i++)
            counts[ArgMax(targets.Slice(i * classes, classes)), ArgMax(outputs.Slice(i * classes, classes))]++;
        return counts;
    }

    /// <summary>Samples whose largest output is at their target's largest entry.</summary>
    static int Correct(Tensor<T> outputs, Tensor<T> targets)
    {
        int rows = outputs.Shape[0], classes = outputs.Length / rows, correct = 0;
        var o = outputs.HostValues;
        var t = targets.HostValues;
        for (int r = 0; r < rows; r++)
            if (ArgMax(o.Slice(r * classes, classes)) == ArgMax(t.Slice(r * classes, classes))) correct++;
        return correct;
    }

    static int ArgMax(ReadOnlySpan<T> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    /// <summary>The samples <paramref name="rows"/> of source (on the host), in that order, as one batch on the model's device.</summary>
    Tensor<T> Gather(Tensor<T> source, ReadOnlySpan<int> rows, SpanAction? change = null)
    {
        // A whole batch already on the device, in order (a benchmark's fixed batch): no copy.
        if (source.Device != Device.Cpu && source.Device == Device && rows.Length == source.Shape[0] && IsIdentity(rows)) return source.Reshape(source.Shape);
        var t = source.GatherRows(rows);
        change?.Invoke(t.Span);
        t.MoveTo(Device);
        return t;
    }

    delegate void SpanAction(Span<T> values);

    /// <summary>
    /// Re-estimates every batch norm's moving mean and variance from <paramref name="x"/>
    /// ([N, ...input], on the host): the batches run forward in training mode (batch statistics,
    /// no gradient) from statistics set to 0, and the exponential averages that leaves are
    /// divided by 1 - momentum^batches: weighted averages of the batches' statistics (with
    /// Keras' momentum 0.99 over 34 batches the weights differ by at most 1.4x), where the
    /// moving averages kept during training mix in the statistics of weights long since
    /// changed ("precise batch norm"). Weights are not changed. Returns the number of batches.
    /// </summary>
    public int RecomputeBatchNormStatistics(Tensor<T> x, int batchSize = 32)
    {
        CheckInput(x.Shape, "batch norm statistics data");
        var norms = Layers.OfType<BatchNormalization<T>>().ToArray();
        foreach (var bn in norms)
        {
            bn.MovingMean.Backend.Fill(bn.MovingMean, T.Zero);
            bn.MovingVariance.Backend.Fill(bn.MovingVariance, T.Zero);
        }
        bool training = Training;
        Training = true;
        int n = x.Shape[0], batches = 0;
        var rows = Enumerable.Range(0, n).ToArray();
        try
        {
            for (int start = 0; start < n; start += batchSize, batches++)
            {
                using var tape = Tape.Inference();
                using var xb = Gather(x, rows.AsSpan(start, Math.Min(batchSize, n - start)));
                Run(new Variable<T>(xb), logits: true);
            }
        }
        finally { Training = training; }
        foreach (var bn in norms)
        {
            using var correction = Tensor<T>.Full(new Shape(1), T.One / (T.One - T.CreateChecked(Math.Pow(bn.Momentum, batches))), bn.MovingMean.Device);
            bn.MovingMean.Backend.Binary(BinaryFunction.Multiply, bn.MovingMean, correction, bn.MovingMean);
            bn.MovingVariance.Backend.Binary(BinaryFunction.Multiply, bn.MovingVariance, correction, bn.MovingVariance);
        }
        return batches;
    }

    static bool IsIdentity(ReadOnlySpan<int> rows)
    {
        for (int i = 0; i < rows.Length; i++) if (rows[i] != i) return false;
        return true;
    }

    /// <summary>
    /// <paramref name="t"/> on the model's device: a copy when it is elsewhere, else a view of
    /// it (which the caller may dispose without freeing t).
    /// </summary>
    Tensor<T> OnDevice(Tensor<T> t) => t.Device != Device ? t.To(Device) : t.Reshape(t.Shape);

    /// <summary>
    /// Keras 2's progress bar: "1080/1080 [==============================] - 65s 60ms/step - loss: ...".
    /// Redrawn in place on a terminal; written once per epoch otherwise.
    /// </summary>
    sealed class Progress(TextWriter log, int total)
    {
        const int Width = 30;
        readonly bool _live = ReferenceEquals(log, Console.Out) && !Console.IsOutputRedirected;
        readonly string _count = total.ToString();
        TimeSpan _lastDraw = TimeSpan.MinValue;

        public void Update(int done, TimeSpan elapsed, string figures, bool final)
        {
            if (!final && (!_live || elapsed - _lastDraw < TimeSpan.FromMilliseconds(100))) return;
            _lastDraw = elapsed;
            int filled = (int)((long)Width * done / total);
            string bar = done >= total ? new string('=', Width) : new string('=', Math.Max(0, filled - 1)) + ">" + new string('.', Width - Math.Max(1, filled));
            string time = final
                ? $"{elapsed.TotalSeconds:F0}s {elapsed.TotalMilliseconds / Math.Max(1, done):F0}ms/step"
                : $"ETA: {(elapsed.TotalSeconds / Math.Max(1, done) * (total - done)):F0}s";
            string line = $"{done.ToString().PadLeft(_count.Length)}/{_count} [{bar}] - {time}{figures}";
            if (_live) log.Write("\r" + line + (final ? Environment.NewLine : ""));
            else log.WriteLine(line);
        }
    }
}
