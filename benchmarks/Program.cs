using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>
/// Entry point. The switcher lets the command line pick benchmarks and jobs, e.g.
/// <c>dotnet run -c Release --project benchmarks -- --filter '*Gemm*'</c>.
/// </summary>
public static class Program
{
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
