namespace Engine.Kernels.Cuda;

/// <summary>
/// The CUDA C++ kernel sources (Cuda/Kernels/*.cu) and the headers they include
/// (Cuda/Kernels/*.cuh), embedded in this assembly as resources named "Cuda.&lt;file&gt;" and
/// compiled on the machine that runs them. Each source is compiled on its own, with every
/// header given to NVRTC as an in-memory include file (<see cref="Headers"/>).
/// </summary>
public static class CudaKernelSources
{
    const string Prefix = "Cuda.";
    const string Extension = ".cu";
    const string HeaderExtension = ".cuh";

    static readonly Lazy<string[]> AllNames = new(() => ResourceNames(Extension));

    static readonly Lazy<IReadOnlyDictionary<string, string>> AllHeaders = new(() =>
        ResourceNames(HeaderExtension).ToDictionary(name => name, Get, StringComparer.Ordinal));

    static readonly Dictionary<string, string> Texts = new(StringComparer.Ordinal);

    /// <summary>The source file names, sorted: "elementwise.cu", "gemm.cu", ... (headers not included).</summary>
    public static IReadOnlyList<string> Names => AllNames.Value;

    /// <summary>
    /// The headers (*.cuh) by include name, e.g. "common.cuh", with their text: what a source's
    /// #include "common.cuh" finds. Pass them to <see cref="Nvrtc.CompileToPtx(string, string, int, IReadOnlyDictionary{string, string}?, string[])"/>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Headers => AllHeaders.Value;

    /// <summary>The text of source <paramref name="name"/> ("gemm.cu"; "gemm" works too) or of a header ("common.cuh").</summary>
    public static string Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        name = Normalize(name);
        lock (Texts)
        {
            if (Texts.TryGetValue(name, out string? text)) return text;
            using Stream? stream = typeof(CudaKernelSources).Assembly.GetManifestResourceStream(Prefix + name);
            if (stream == null)
                throw new ArgumentException($"no embedded CUDA source '{name}' (there are: {string.Join(", ", Names)})", nameof(name));
            using var reader = new StreamReader(stream);
            text = reader.ReadToEnd();
            Texts[name] = text;
            return text;
        }
    }

    /// <summary>The file name with its extension, so "gemm" and "gemm.cu" mean one source; header names stay as they are.</summary>
    internal static string Normalize(string name) =>
        name.EndsWith(Extension, StringComparison.Ordinal) || name.EndsWith(HeaderExtension, StringComparison.Ordinal) ? name : name + Extension;

    static string[] ResourceNames(string extension) =>
        typeof(CudaKernelSources).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(extension, StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..])
            .Order(StringComparer.Ordinal)
            .ToArray();
}
