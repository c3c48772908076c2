using Engine.Autograd;
using Engine.Autograd.Optimizers;
using Engine.Layers;
using Engine.Tensors;

namespace Engine.ResNet.Training;

/// <summary>One epoch's figures.</summary>
public sealed record EpochResult(int Epoch, double Loss, double Accuracy, TimeSpan Elapsed);

/// <summary>
/// A two-layer network (Dense relu -> Dense, softmax cross-entropy, Adam) trained on
/// <see cref="Spirals"/>: the smallest end-to-end proof that tape, ops, kernels and optimizer
/// learn together.
/// </summary>
public sealed class SmallNetwork
{
    readonly Sequential<float> _model;
    readonly Adam<float> _optimizer;
    readonly Tensor<float> _x, _y;
    readonly int _batchSize;
    readonly Rng _rng;

    public SmallNetwork(int hidden = 64, int classes = 3, int pointsPerClass = 200, int batchSize = 32, double learningRate = 0.01, ulong seed = 1)
    {
        (_x, _y) = Spirals.Generate(pointsPerClass, classes, seed);
        _batchSize = batchSize;
        _rng = new Rng(seed + 1);
        _model = new Sequential<float>(
            new Dense<float>(hidden, "relu", seed: seed + 2, name: "dense_1"),
            new Dense<float>(classes, seed: seed + 3, name: "dense_2"));
        using (Tape.Inference()) _model.Call(new Variable<float>(_x)); // builds the layers
        _optimizer = new Adam<float>(_model.Parameters, learningRate);
    }

    public int Samples => _x.Shape[0];

    /// <summary>One pass over the data in shuffled mini-batches; returns the mean batch loss and the accuracy.</summary>
    public EpochResult TrainEpoch(int epoch)
    {
        var started = DateTime.UtcNow;
        int n = Samples;
        var order = Enumerable.Range(0, n).ToArray();
        _rng.Shuffle(order);
        double lossSum = 0;
        int batches = 0;
        for (int start = 0; start < n; start += _batchSize)
        {
            int b = Math.Min(_batchSize, n - start);
            using var xb = _x.GatherRows(order.AsSpan(start, b));
            using var yb = _y.GatherRows(order.AsSpan(start, b));
            using (var tape = new Tape())
            {
                var logits = _model.Call(new Variable<float>(xb));
                var loss = Ops.SoftmaxCrossEntropy(logits, new Variable<float>(yb));
                lossSum += loss.Value.Span[0];
                tape.Backward(loss);
            }
            _optimizer.Step();
            _optimizer.ZeroGrad();
            batches++;
        }
        return new EpochResult(epoch, lossSum / batches, Accuracy(), DateTime.UtcNow - started);
    }

    /// <summary>Fraction of the training points classified correctly.</summary>
    public double Accuracy()
    {
        using var tape = Tape.Inference();
        var logits = _model.Call(new Variable<float>(_x)).Value;
        int classes = logits.Shape[1], correct = 0;
        for (int i = 0; i < logits.Shape[0]; i++)
        {
            var row = logits.Span.Slice(i * classes, classes);
            int predicted = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[predicted]) predicted = c;
            if (_y[i, predicted] == 1) correct++;
        }
        return (double)correct / logits.Shape[0];
    }
}
