using System.Text.RegularExpressions;
using Engine.Kernels.Cuda;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The embedded CUDA kernels compile with NVRTC, for the oldest GPUs the engine targets
/// (compute 8.0) and the newest this NVRTC knows, with the embedded headers (*.cuh) to
/// include, and every kernel a source declares is in its PTX. These need NVRTC but no GPU, so
/// they run on every machine.
/// </summary>
public partial class CudaCompileTests
{
    static IEnumerable<string> SourceNames => CudaKernelSources.Names;

    /// <summary>NVRTC is required: a test machine without it should fail here, saying how to get it.</summary>
    static void RequireNvrtc()
    {
        if (!Nvrtc.TryLoad(out string reason))
            Assert.Fail($"{reason}. Install {Nvrtc.DebianPackage} from Debian non-free (scripts/test.sh does).");
    }

    [Test]
    public void KernelSourcesAreEmbedded()
    {
        Assert.That(CudaKernelSources.Names, Does.Contain("selfcheck.cu"));
        Assert.That(CudaKernelSources.Get("selfcheck"), Is.EqualTo(CudaKernelSources.Get("selfcheck.cu")));
        Assert.Throws<ArgumentException>(() => CudaKernelSources.Get("no-such-file.cu"));
    }

    [Test]
    public void HeadersAreEmbeddedApartFromTheSources()
    {
        Assert.That(CudaKernelSources.Headers.Keys, Does.Contain("common.cuh"));
        Assert.That(CudaKernelSources.Names, Has.None.EndsWith(".cuh"));
        Assert.That(CudaKernelSources.Get("common.cuh"), Is.EqualTo(CudaKernelSources.Headers["common.cuh"]));
    }

    [Test]
    public void HeadersCompileAndGuardAgainstDoubleInclusion()
    {
        RequireNvrtc();
        foreach (string header in CudaKernelSources.Headers.Keys)
        {
            string source = $$"""
                #include "{{header}}"
                #include "{{header}}"
                extern "C" __global__ void probe_f32(float* y) { y[0] = 1.0f; }
                """;
            string ptx = Nvrtc.CompileToPtx(source, $"probe-{header}.cu", 80, CudaKernelSources.Headers);
            Assert.That(ptx, Does.Contain(".entry probe_f32"), header);
        }
    }

    [Test]
    public void SourcesNeedTheHeadersPassed()
    {
        RequireNvrtc();
        // Without the headers the include is not found, and the compiler's log says which.
        var e = Assert.Throws<CudaException>(() => Nvrtc.CompileToPtx(CudaKernelSources.Get("selfcheck.cu"), "selfcheck.cu", 80))!;
        Assert.That(e.Message, Does.Contain("common.cuh"));
    }

    [Test]
    public void SharedHelpersAreDefinedOnlyInTheHeader()
    {
        // A helper the header defines must not be defined again in a source (one copy of each).
        var helpers = new HashSet<string>();
        foreach (string header in CudaKernelSources.Headers.Values)
            foreach (Match m in DeviceFunction().Matches(Comments().Replace(header, " ")))
                helpers.Add(m.Groups["name"].Value);
        foreach (Match m in Regex.Matches(CudaKernelSources.Headers["common.cuh"], @"struct\s+(?:alignas\(\d+\)\s+)?(?<name>\w+)"))
            helpers.Add(m.Groups["name"].Value);
        Assert.That(helpers, Does.Contain("fma_t").And.Contain("max_t").And.Contain("Pack").And.Contain("aligned16"));
        foreach (string name in CudaKernelSources.Names)
        {
            string code = Comments().Replace(CudaKernelSources.Get(name), " ");
            foreach (Match m in DeviceFunction().Matches(code))
                Assert.That(helpers, Does.Not.Contain(m.Groups["name"].Value), $"{name} defines {m.Groups["name"].Value} again");
            foreach (string helper in helpers)
                Assert.That(Regex.IsMatch(code, $@"struct\s+(?:alignas\(\d+\)\s+)?{helper}\b"), Is.False, $"{name} defines struct {helper} again");
        }
    }

    [Test]
    public void LoadingForADriverKeepsAnNvrtcThatFitsIt()
    {
        RequireNvrtc();
        // The loaded release fits a driver of its own version: it is kept, not replaced.
        string library = Nvrtc.Library;
        string[] parts = Nvrtc.Version.Split('.');
        int encoded = int.Parse(parts[0]) * 1000 + int.Parse(parts[1]) * 10;
        Assert.That(Nvrtc.TryLoad(encoded, out string reason), Is.True, reason);
        Assert.That(Nvrtc.Library, Is.EqualTo(library));
        Assert.That(Nvrtc.TryLoad(encoded + 1000, out reason), Is.True, reason);
        Assert.That(Nvrtc.Library, Is.EqualTo(library));
    }

    [TestCaseSource(nameof(SourceNames))]
    public void SourceCompilesWithEveryKernelInItsPtx(string name)
    {
        RequireNvrtc();
        string source = CudaKernelSources.Get(name);
        string[] kernels = KernelNames(source);
        Assert.That(kernels, Is.Not.Empty, $"{name} declares no extern \"C\" __global__ kernel");

        int newest = Nvrtc.SupportedArchitectures[^1];
        foreach (int architecture in new[] { 80, newest }.Distinct())
        {
            string ptx = Nvrtc.CompileToPtx(source, name, architecture, CudaKernelSources.Headers);
            Assert.That(ptx, Does.Contain($".target sm_{architecture}"), $"{name} for compute {architecture}");
            foreach (string kernel in kernels)
                Assert.That(Regex.IsMatch(ptx, $@"\.entry\s+{Regex.Escape(kernel)}\s*\("), Is.True,
                    $"{name} for compute {architecture}: no .entry for {kernel}");
        }
    }

    [Test]
    public void CompileErrorCarriesTheCompilerLog()
    {
        RequireNvrtc();
        const string broken = """
            extern "C" __global__ void broken_f32(float* y, int n)
            {
                y[0] = undeclared_value * 2;
            }
            """;
        var e = Assert.Throws<CudaException>(() => Nvrtc.CompileToPtx(broken, "broken.cu", 80))!;
        Assert.That(e.Message, Does.Contain("broken.cu"));
        Assert.That(e.Message, Does.Contain("undeclared_value"));
        Assert.That(e.Message, Does.Contain("error"));
        Assert.That(e.ErrorName, Is.EqualTo("NVRTC_ERROR_COMPILATION"));
    }

    [Test]
    public void ArchitectureIsTheNewestSupportedAtOrBelowTheDevice()
    {
        RequireNvrtc();
        // A capability above every supported architecture compiles for the newest.
        string ptx = Nvrtc.CompileToPtx(CudaKernelSources.Get("selfcheck.cu"), "selfcheck.cu", 1000, CudaKernelSources.Headers);
        Assert.That(ptx, Does.Contain($".target sm_{Nvrtc.SupportedArchitectures[^1]}"));
        Assert.That(Nvrtc.Version, Does.Match(@"^\d+\.\d+$"));
        Assert.Throws<CudaException>(() => Nvrtc.CompileToPtx("", "empty.cu", Nvrtc.SupportedArchitectures[0] - 1));
    }

    [TestCaseSource(nameof(SourceNames))]
    public void EveryKernelHasFloatAndDoubleVersions(string name)
    {
        // The backend appends _f32 or _f64 to a kernel's name by element type.
        var kernels = KernelNames(CudaKernelSources.Get(name)).ToHashSet();
        foreach (string kernel in kernels)
        {
            Assert.That(kernel, Does.EndWith("_f32").Or.EndWith("_f64"), $"{name}: {kernel} has no _f32/_f64 suffix");
            string twin = kernel.EndsWith("_f32") ? kernel[..^4] + "_f64" : kernel[..^4] + "_f32";
            Assert.That(kernels, Does.Contain(twin), $"{name}: {kernel} has no {twin}");
        }
    }

    [Test]
    public void KernelNamesAreFoundInDeclarationsAndMacros()
    {
        const string source = """
            // extern "C" __global__ void commented_out_f32(float* y) {}
            extern "C" __global__ void plain_f32(float* y) {}
            extern "C" __global__ void __launch_bounds__(256) bounded_f64(double* y) {}
            #define PAIR(name, Op)                                              \
                extern "C" __global__ void name##_f32(float* y) { Op(y); }      \
                extern "C" __global__ void __launch_bounds__(128) name##_f64(double* y) { Op(y); }
            PAIR(add, AddOp)
            PAIR(scale, ScaleOp<2>)
            """;
        Assert.That(KernelNames(source), Is.EquivalentTo(new[] { "plain_f32", "bounded_f64", "add_f32", "add_f64", "scale_f32", "scale_f64" }));
    }

    /// <summary>
    /// The extern "C" __global__ kernels a source declares, comments removed: those written out,
    /// and those a function-like macro declares with token pasting (name##_f32), expanded for
    /// each use of the macro. Enough for how the kernel sources are written, not a preprocessor.
    /// </summary>
    internal static string[] KernelNames(string source)
    {
        string code = Comments().Replace(source, " ").Replace("\\\r\n", " ").Replace("\\\n", " ");
        var names = new List<string>();
        var macros = new Dictionary<string, (string[] Parameters, string[] Templates)>();
        var plain = new System.Text.StringBuilder();
        foreach (string line in code.Split('\n'))
        {
            var define = FunctionMacro().Match(line);
            if (define.Success)
            {
                string[] parameters = define.Groups["params"].Value.Split(',', StringSplitOptions.TrimEntries);
                string[] templates = GlobalKernel().Matches(define.Groups["body"].Value).Select(m => m.Groups["name"].Value).ToArray();
                if (templates.Length > 0) macros[define.Groups["macro"].Value] = (parameters, templates);
            }
            else if (!line.TrimStart().StartsWith('#'))
            {
                plain.Append(line).Append('\n');
            }
        }
        string body = plain.ToString();
        names.AddRange(GlobalKernel().Matches(body).Select(m => m.Groups["name"].Value).Where(n => !n.Contains('#')));
        foreach (var (macro, (parameters, templates)) in macros)
        {
            foreach (Match use in Regex.Matches(body, $@"\b{Regex.Escape(macro)}\s*\("))
            {
                string[] arguments = MacroArguments(body, use.Index + use.Length);
                foreach (string template in templates)
                {
                    var pieces = template.Split("##", StringSplitOptions.TrimEntries).Select(piece =>
                    {
                        int i = Array.IndexOf(parameters, piece);
                        return i >= 0 && i < arguments.Length ? arguments[i] : piece;
                    });
                    names.Add(string.Concat(pieces));
                }
            }
        }
        return names.Distinct().ToArray();
    }

    /// <summary>The comma-separated arguments of a macro use, from just after its '(' to the matching ')'.</summary>
    static string[] MacroArguments(string text, int start)
    {
        var arguments = new List<string>();
        int depth = 0, from = start;
        for (int i = start; i < text.Length; i++)
        {
            char c = text[i];
            if (c is '(' or '<' or '[' or '{') depth++;
            else if (c is ')' or '>' or ']' or '}')
            {
                if (depth == 0)
                {
                    arguments.Add(text[from..i].Trim());
                    break;
                }
                depth--;
            }
            else if (c == ',' && depth == 0)
            {
                arguments.Add(text[from..i].Trim());
                from = i + 1;
            }
        }
        return arguments.ToArray();
    }

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();

    // A function defined at namespace scope: "__device__ [__forceinline__] type name(" (templates too).
    [GeneratedRegex(@"__device__\s+(?:__forceinline__\s+)?(?:const\s+)?[\w:<>]+[\s*&]+(?<name>[A-Za-z_]\w*)\s*\(")]
    private static partial Regex DeviceFunction();

    [GeneratedRegex(@"^\s*#\s*define\s+(?<macro>\w+)\((?<params>[^)]*)\)(?<body>.*)$")]
    private static partial Regex FunctionMacro();

    // __launch_bounds__(...) may stand before or after the return type; a name may be pasted (name##_f32).
    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(?<name>[A-Za-z_]\w*(?:\s*##\s*\w+)*)\s*\(")]
    private static partial Regex GlobalKernel();
}
