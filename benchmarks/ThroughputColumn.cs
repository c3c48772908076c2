using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>
/// A benchmark parameter that knows how much work one call of each benchmark method does:
/// floating-point operations (multiply-adds count as two) or bytes of minimal memory traffic.
/// </summary>
public interface IThroughputCase
{
    /// <summary>"GFLOP/s" or "GB/s".</summary>
    string Unit { get; }
    /// <summary>Operations or bytes one call of <paramref name="method"/> performs.</summary>
    double Work(string method);
}

/// <summary>
/// Turns a benchmark's median time into throughput (work / time), or into a share of the
/// machine's FMA peak. Time alone cannot be compared across shapes; throughput can. The
/// median is what PyTorch's reference script reports (shared/bench/torch_layers.py), and it
/// holds still when this machine slows down for a few seconds, which pulls the mean along.
/// </summary>
public sealed class ThroughputColumn : IColumn
{
    /// <summary>
    /// FP32 FMA peak of the 2-core target, in GFLOP/s: 2 cores x 2 FMA pipes x 16 lanes
    /// (512-bit) x 2 flops per FMA x about 3.5 GHz. Change it when benchmarking elsewhere.
    /// </summary>
    public const double PeakGFlops = 445.0;

    public static readonly IColumn Throughput = new ThroughputColumn(asPercentOfPeak: false);
    public static readonly IColumn PercentOfPeak = new ThroughputColumn(asPercentOfPeak: true);

    readonly bool _asPercentOfPeak;

    ThroughputColumn(bool asPercentOfPeak) => _asPercentOfPeak = asPercentOfPeak;

    public string Id => _asPercentOfPeak ? "PercentOfPeak" : "Throughput";
    public string ColumnName => _asPercentOfPeak ? "% of peak" : "Throughput";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => _asPercentOfPeak ? 1 : 0;
    public bool IsNumeric => false;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => _asPercentOfPeak
        ? $"GFLOP/s as a percentage of the {PeakGFlops} GFLOP/s FP32 FMA peak"
        : "Work per median time: GFLOP/s (2 x multiply-adds) or GB/s (minimal memory traffic)";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(c => CaseOf(c) != null);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var c = CaseOf(benchmarkCase);
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (c == null || statistics == null || statistics.Median <= 0) return "NA";
        // The median is in nanoseconds: work per nanosecond is G-work per second.
        double rate = c.Work(benchmarkCase.Descriptor.WorkloadMethod.Name) / statistics.Median;
        if (_asPercentOfPeak)
            return c.Unit == "GFLOP/s" ? (100.0 * rate / PeakGFlops).ToString("F1", style.CultureInfo) : "-";
        return rate.ToString("F1", style.CultureInfo) + " " + c.Unit;
    }

    static IThroughputCase? CaseOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<IThroughputCase>().FirstOrDefault();

    public override string ToString() => ColumnName;
}
