using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;

namespace Engine.Benchmarks;

/// <summary>
/// A modest job: the operations take milliseconds each, so ten measured iterations give a stable median
/// and the whole suite stays within a few minutes on the 2-core target. The job is marked as the
/// default so that <c>--job Dry</c> (or any other job given on the command line) replaces it
/// instead of running alongside it.
/// </summary>
public sealed class BenchmarkConfig : ManualConfig
{
    public BenchmarkConfig()
    {
        AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10).AsDefault());
        // Shows what a warm call allocates on the managed heap (buffers come from pools).
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median, ThroughputColumn.Throughput, ThroughputColumn.PercentOfPeak);
        // Wide enough for the shape descriptions; speed-ups read as "120x faster", not "0.01".
        SummaryStyle = SummaryStyle.Default.WithMaxParameterColumnWidth(32).WithRatioStyle(RatioStyle.Trend);
    }
}

