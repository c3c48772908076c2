using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Engine.Kernels;

namespace Engine.Benchmarks;

/// <summary>
/// One GEMM problem: C[m,n] = op(A)[m,k] * op(B)[k,n], row-major, dense leading dimensions.
/// The throughput columns read m, n and k from here, so every GEMM benchmark exposes one.
/// </summary>
public sealed class GemmShape(string name, bool transA, bool transB, int m, int n, int k) : IComparable, IThroughputCase
{
    static int _created;

    // BenchmarkDotNet sorts parameter values; without this the table would be alphabetical and
    // split the forward and backward forms of one layer. Creation order is the order in Shapes().
    readonly int _sequence = Interlocked.Increment(ref _created);

    public int CompareTo(object? other) => other is GemmShape shape ? _sequence.CompareTo(shape._sequence) : 1;

    public string Name { get; } = name;
    public bool TransA { get; } = transA;
    public bool TransB { get; } = transB;
    public int M { get; } = m;
    public int N { get; } = n;
    public int K { get; } = k;

    /// <summary>Multiply-adds count as two operations, the usual BLAS convention.</summary>
    public double Flops => 2.0 * M * N * K;
    public string Unit => "GFLOP/s";
    public double Work(string method) => Flops;

    // Stored layouts: A is k x m when transposed, B is n x k when transposed.
    public int ARows => TransA ? K : M;
    public int ACols => TransA ? M : K;
    public int BRows => TransB ? N : K;
    public int BCols => TransB ? K : N;

    /// <summary>The parameter column shows this, so it spells out the stored shapes and the transposes.</summary>
    public override string ToString() =>
        $"{Name} {Operand(ARows, ACols, TransA)} @ {Operand(BRows, BCols, TransB)}";

    static string Operand(int rows, int cols, bool transposed) =>
        transposed ? $"({rows}x{cols})^T" : $"{rows}x{cols}";
}

/// <summary>
/// Throughput of the blocked, vectorised, multi-threaded Gemm.Multiply on the
/// shapes that dominate ResNet-50 training, plus a large square problem as the best case.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class GemmBenchmarks
{
    const int Seed = 1234;

    /// <summary>
    /// ResNet-50 at 64x64 input with batch 32 leaves 15x15 feature maps in its first stage, so a
    /// 1x1 convolution there is a GEMM with 15*15*32 = 7200 rows (NHWC: activations [7200, Cin]
    /// times weights [Cin, Cout]). Training runs each such layer forward and twice backward.
    /// </summary>
    public static IEnumerable<GemmShape> Shapes() =>
    [
        // Large and square: enough reuse to approach peak, the ceiling the others are judged by.
        new GemmShape("square", false, false, m: 2048, n: 2048, k: 2048),
        // Bottleneck 1x1 convolution 256 -> 64 channels: tall and skinny, N is only 64.
        new GemmShape("fwd", false, false, m: 7200, n: 64, k: 256),
        // A deeper-stage 1x1 convolution 1024 -> 256 channels on a smaller map.
        new GemmShape("fwd", false, false, m: 512, n: 256, k: 1024),
        // Backward to the input of the 7200 layer: dX[7200,256] = dY[7200,64] * W^T, W stored [256,64].
        new GemmShape("dX", false, true, m: 7200, n: 256, k: 64),
        // Backward to the weights: dW[256,64] = X^T * dY, a long reduction (k = 7200) into a small C.
        new GemmShape("dW", true, false, m: 256, n: 64, k: 7200),
    ];

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    GemmProblem _problem = null!;

    /// <summary>Fills the operands once per shape, outside the timed region.</summary>
    [GlobalSetup]
    public void Setup() => _problem = new GemmProblem(Shape, Seed);

    /// <summary>
    /// One full C = op(A) * op(B) with beta = 0, on the process-wide thread team (every core,
    /// or ENGINE_THREADS). beta = 0 means C is overwritten, so repeated invocations need no reset.
    /// </summary>
    [Benchmark]
    public void Multiply() => _problem.Multiply();
}

/// <summary>
/// The fast path against the plain triple loop it is tested against, on a shape small enough
/// for the scalar reference to finish quickly (it would take minutes per call at 2048^3).
/// The Ratio column is the speed-up.
/// </summary>
[Config(typeof(BenchmarkConfig))]
public class GemmReferenceBenchmarks
{
    const int Seed = 1234;

    public static IEnumerable<GemmShape> Shapes() =>
    [
        new GemmShape("small", false, false, m: 256, n: 256, k: 256),
    ];

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    GemmProblem _problem = null!;

    [GlobalSetup]
    public void Setup() => _problem = new GemmProblem(Shape, Seed);

    /// <summary>Scalar triple loop on one thread: the baseline the speed-up is measured against.</summary>
    [Benchmark(Baseline = true)]
    public void Reference() => _problem.MultiplyReference();

    /// <summary>The production kernel on the same operands.</summary>
    [Benchmark]
    public void Multiply() => _problem.Multiply();
}

/// <summary>One shape's operands, made once, and the two ways of multiplying them.</summary>
sealed class GemmProblem
{
    readonly GemmShape _s;
    readonly float[] _a, _b, _c;

    /// <summary>
    /// Seeded values in [-1, 1): reproducible from run to run, and free of zeros and denormals
    /// that could make the arithmetic cheaper or dearer than on real activations.
    /// </summary>
    public GemmProblem(GemmShape shape, int seed)
    {
        _s = shape;
        var random = new Random(seed);
        _a = Fill(new float[shape.ARows * shape.ACols], random);
        _b = Fill(new float[shape.BRows * shape.BCols], random);
        _c = new float[shape.M * shape.N];
    }

    public void Multiply() =>
        Gemm.Multiply(_s.TransA, _s.TransB, _s.M, _s.N, _s.K, 1f, _a, _s.ACols, _b, _s.BCols, 0f, _c, _s.N);

    public void MultiplyReference() =>
        Gemm.MultiplyReference(_s.TransA, _s.TransB, _s.M, _s.N, _s.K, 1f, _a, _s.ACols, _b, _s.BCols, 0f, _c, _s.N);

    static float[] Fill(float[] values, Random random)
    {
        for (int i = 0; i < values.Length; i++) values[i] = random.NextSingle() * 2f - 1f;
        return values;
    }
}
