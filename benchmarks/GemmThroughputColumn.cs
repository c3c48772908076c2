using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>
/// Turns a GEMM benchmark's mean time into achieved GFLOP/s (2*m*n*k / time), or into a share
/// of the machine's peak. Time alone cannot be compared across shapes; throughput can.
/// </summary>
public sealed class GemmThroughputColumn : IColumn
{
    /// <summary>
    /// FP32 FMA peak of the 2-core target, in GFLOP/s: 2 cores x 2 FMA pipes x 16 lanes
    /// (512-bit) x 2 flops per FMA x about 3.5 GHz. Change it when benchmarking elsewhere.
    /// </summary>
    public const double PeakGFlops = 445.0;

    public static readonly IColumn GFlops = new GemmThroughputColumn(asPercentOfPeak: false);
    public static readonly IColumn PercentOfPeak = new GemmThroughputColumn(asPercentOfPeak: true);

    readonly bool _asPercentOfPeak;

    GemmThroughputColumn(bool asPercentOfPeak) => _asPercentOfPeak = asPercentOfPeak;

    public string Id => _asPercentOfPeak ? "GemmPercentOfPeak" : "GemmGFlops";
    public string ColumnName => _asPercentOfPeak ? "% of peak" : "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => _asPercentOfPeak ? 1 : 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => _asPercentOfPeak
        ? $"GFLOP/s as a percentage of the {PeakGFlops} GFLOP/s FP32 FMA peak"
        : "Achieved throughput, 2*m*n*k / mean time, in 10^9 floating-point operations per second";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(c => ShapeOf(c) != null);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var shape = ShapeOf(benchmarkCase);
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (shape == null || statistics == null || statistics.Mean <= 0) return "NA";
        // The mean is in nanoseconds, and flops per nanosecond is GFLOP/s.
        double gflops = shape.Flops / statistics.Mean;
        return _asPercentOfPeak
            ? (100.0 * gflops / PeakGFlops).ToString("F1", style.CultureInfo)
            : gflops.ToString("F1", style.CultureInfo);
    }

    static GemmShape? ShapeOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<GemmShape>().FirstOrDefault();

    public override string ToString() => ColumnName;
}
