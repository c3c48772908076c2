using System.Globalization;
using System.Text.Json;

namespace Engine.ResNet.Benchmarking;

/// <summary>
/// The same measurement of PyTorch: runs torch_resnet50.py (the PyTorch reference script that
/// builds this ResNet-50 with Keras' conventions) with channels-last tensors and glibc told to
/// keep freed memory, the way it runs fastest on a CPU, and reads its one-line JSON result.
/// </summary>
public static class PyTorchReference
{
    /// <summary>
    /// glibc settings without which PyTorch loses about half its training speed to first
    /// touches of freshly mapped pages (it frees and maps its activations every step).
    /// </summary>
    public const string GlibcTunables = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296";

    /// <summary>
    /// PyTorch's version as `import torch` reports it, or (version null) why it cannot be run:
    /// no script, no python, no torch.
    /// </summary>
    public static (string? Version, string? Unavailable) Probe(string python, string script)
    {
        if (!File.Exists(script)) return (null, $"no PyTorch reference script at {script}");
        var (code, output) = ChildProcess.Run(python, ["-c", "import torch; print(torch.__version__)"], TimeSpan.FromSeconds(60));
        return code == 0 ? (output.Trim(), null)
            : (null, $"{python} cannot import torch (Debian: apt-get install python3-torch): {output.Trim().Split('\n')[^1]}");
    }

    /// <summary>Runs one configuration in a fresh python process and returns its measurement.</summary>
    public static StepMeasurement Run(string python, string script, int batch, int threads, int warmup, int steps, long forwardMacsPerImage)
    {
        string[] args = [script, "--one", "--batch", Text(batch), "--fmt", "cl", "--threads", Text(threads), "--warmup", Text(warmup), "--steps", Text(steps)];
        var (code, output) = ChildProcess.Run(python, args, TimeSpan.FromMinutes(10), ("GLIBC_TUNABLES", GlibcTunables));
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        if (code != 0 || line == null) throw new InvalidOperationException($"{Path.GetFileName(script)} failed (exit {code}): {output.Trim()}");
        using var json = JsonDocument.Parse(line["RESULT ".Length..]);
        var r = json.RootElement;
        return new StepMeasurement("pytorch", batch, threads,
            r.GetProperty("train_step_s_median").GetDouble() * 1000, r.GetProperty("infer_s_median").GetDouble() * 1000,
            r.GetProperty("peak_rss_train_mb").GetDouble(), forwardMacsPerImage);
    }

    static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
