using System.Runtime.InteropServices;
using System.Text;

namespace Engine.Kernels.Cuda;

/// <summary>
/// NVRTC, CUDA's run-time compiler: CUDA C++ source to PTX, which the driver then compiles for
/// the GPU at hand. The library is found at run time under whichever soname the installed CUDA
/// release uses, and its functions are bound by address, so one build works with NVRTC 11.2
/// and later. Where several are installed, the newest is taken, or, when the caller gives the
/// driver's CUDA version, the newest whose PTX that driver can load (PTX from an NVRTC newer
/// than the driver does not load). Compilations are serialised: they are rare (once per source
/// and context), and older NVRTC releases are not documented as thread-safe.
/// </summary>
public static unsafe class Nvrtc
{
    /// <summary>Newest first: a newer NVRTC knows newer GPUs.</summary>
    static readonly string[] Candidates = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

    /// <summary>The Debian package (non-free) that provides NVRTC.</summary>
    public const string DebianPackage = "libnvrtc11.2";

    static readonly Lock Gate = new();
    static bool _attempted;
    static string _failure = "";
    static Binding? _binding;
    /// <summary>The driver version the library was last chosen for (0: none given).</summary>
    static int _chosenFor;

    /// <summary>One loaded NVRTC: its functions (nvrtcResult is int, nvrtcProgram a pointer, size_t nuint) and what it supports.</summary>
    sealed class Binding
    {
        public string Library = "";
        public int Major, Minor;
        public int[] Architectures = [];
        public bool AcceptsCpp17;
        public delegate* unmanaged<int, byte*> GetErrorString;
        public delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> CreateProgram;
        public delegate* unmanaged<nint*, int> DestroyProgram;
        public delegate* unmanaged<nint, int, byte**, int> CompileProgram;
        public delegate* unmanaged<nint, nuint*, int> GetPtxSize;
        public delegate* unmanaged<nint, byte*, int> GetPtx;
        public delegate* unmanaged<nint, nuint*, int> GetProgramLogSize;
        public delegate* unmanaged<nint, byte*, int> GetProgramLog;

        /// <summary>major * 1000 + minor * 10, the encoding of cuDriverGetVersion (12080 for 12.8).</summary>
        public int Encoded => Major * 1000 + Minor * 10;
    }

    /// <summary>
    /// Loads NVRTC, the newest that loads of libnvrtc.so.13, .so.12, .so.11.2, then
    /// libnvrtc.so; false with the reason when none loads or it lacks a needed function. The
    /// outcome is remembered.
    /// </summary>
    public static bool TryLoad(out string reason) => TryLoad(0, out reason);

    /// <summary>
    /// Loads NVRTC for a driver of CUDA version <paramref name="driverVersion"/> as
    /// cuDriverGetVersion reports it (12080 for 12.8; 0: no driver, no limit): of the installed
    /// releases, the newest not newer than the driver, else the newest of the driver's major
    /// version or below, else the newest (whose PTX the driver may then refuse, which the
    /// context's self-check reports). An NVRTC loaded before without a limit is replaced when it
    /// is newer than the driver and an older one binds. False with the reason when none loads.
    /// </summary>
    public static bool TryLoad(int driverVersion, out string reason)
    {
        lock (Gate)
        {
            if (!_attempted)
            {
                _attempted = true;
                _failure = Load(driverVersion);
            }
            else if (_binding != null && driverVersion > 0 && _binding.Encoded > driverVersion && _chosenFor != driverVersion)
            {
                // Chosen earlier for no driver (or another): choose again, keeping the current one unless another binds.
                Load(driverVersion);
            }
            reason = _failure;
            return reason.Length == 0;
        }
    }

    /// <summary>The NVRTC release, e.g. "11.8" (NVRTC 11.8 installs as libnvrtc.so.11.2).</summary>
    public static string Version
    {
        get { var b = Loaded(); return $"{b.Major}.{b.Minor}"; }
    }

    /// <summary>The library loaded, as found: "libnvrtc.so.12", or a path under CUDA_HOME.</summary>
    public static string Library => Loaded().Library;

    /// <summary>The virtual architectures NVRTC can target, ascending: 35, 37, 50, ... 90 for NVRTC 11.8.</summary>
    public static IReadOnlyList<int> SupportedArchitectures => Loaded().Architectures;

    /// <summary>
    /// Compiles CUDA C++ to PTX for compute_XX, XX the newest architecture NVRTC supports that is
    /// not above <paramref name="computeCapability"/> (major * 10 + minor, e.g. 90). Options:
    /// that architecture, C++17, then <paramref name="extraOptions"/>. Throws a
    /// <see cref="CudaException"/> holding <paramref name="programName"/> and the compiler's full
    /// log when the source does not compile. No headers: see the overload that takes them.
    /// </summary>
    public static string CompileToPtx(string source, string programName, int computeCapability, params string[] extraOptions) =>
        CompileToPtx(source, programName, computeCapability, headers: null, extraOptions);

    /// <summary>
    /// As <see cref="CompileToPtx(string, string, int, string[])"/>, with in-memory
    /// <paramref name="headers"/> (include name, e.g. "common.cuh", to text) that the source
    /// may #include as if they were files (<see cref="CudaKernelSources.Headers"/> are the
    /// embedded ones).
    /// </summary>
    public static string CompileToPtx(string source, string programName, int computeCapability,
        IReadOnlyDictionary<string, string>? headers, params string[] extraOptions)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(programName);
        ArgumentNullException.ThrowIfNull(extraOptions);
        EnsureLoaded();
        var includeNames = new List<string>();
        var headerTexts = new List<string>();
        foreach (var (name, text) in headers ?? new Dictionary<string, string>())
        {
            includeNames.Add(name);
            headerTexts.Add(text);
        }

        lock (Gate)
        {
            Binding b = _binding!;
            int architecture = ArchitectureFor(b, computeCapability);
            var options = new List<string> { $"--gpu-architecture=compute_{architecture}" };
            if (b.AcceptsCpp17) options.Add("--std=c++17");
            options.AddRange(extraOptions);

            nint program = 0;
            using var sourceText = new Utf8Strings([source, programName]);
            using var headerText = new Utf8Strings(headerTexts);
            using var includeText = new Utf8Strings(includeNames);
            int result = b.CreateProgram(&program, sourceText[0], sourceText[1], includeNames.Count,
                includeNames.Count > 0 ? headerText.Pointers : null, includeNames.Count > 0 ? includeText.Pointers : null);
            if (result != 0) throw Failure(b, result, $"nvrtcCreateProgram for {programName}");
            try
            {
                using var optionText = new Utf8Strings(options);
                result = b.CompileProgram(program, options.Count, optionText.Pointers);
                if (result != 0)
                {
                    string log = ProgramLog(b, program);
                    throw new CudaException(
                        $"NVRTC {b.Major}.{b.Minor} could not compile {programName} ({ErrorString(b, result)}; options {string.Join(' ', options)}):\n{log}",
                        ErrorString(b, result), result);
                }

                nuint size;
                Check(b, b.GetPtxSize(program, &size), "nvrtcGetPTXSize", programName);
                var ptx = new byte[(int)size];
                fixed (byte* p = ptx) Check(b, b.GetPtx(program, p), "nvrtcGetPTX", programName);
                // The size counts the terminating NUL.
                int length = Array.IndexOf(ptx, (byte)0);
                return Encoding.UTF8.GetString(ptx, 0, length < 0 ? ptx.Length : length);
            }
            finally
            {
                b.DestroyProgram(&program);
            }
        }
    }

    /// <summary>The newest supported architecture at or below <paramref name="computeCapability"/>.</summary>
    internal static int ArchitectureFor(int computeCapability) => ArchitectureFor(Loaded(), computeCapability);

    static int ArchitectureFor(Binding b, int computeCapability)
    {
        int best = -1;
        foreach (int a in b.Architectures)
            if (a <= computeCapability) best = a;
        if (best < 0)
            throw new CudaException(
                $"NVRTC {b.Major}.{b.Minor} targets compute {string.Join(", ", b.Architectures)}: none at or below compute capability {computeCapability}");
        return best;
    }

    static void EnsureLoaded()
    {
        if (!TryLoad(out string reason)) throw new InvalidOperationException(reason);
    }

    static Binding Loaded()
    {
        EnsureLoaded();
        lock (Gate) return _binding!;
    }

    /// <summary>
    /// Chooses and binds a library for <paramref name="driverVersion"/> (0: the first that
    /// loads, newest first) and makes it current; on failure the current one, if any, stays.
    /// Returns "" or the reason none could be bound. Called under <see cref="Gate"/>.
    /// </summary>
    static string Load(int driverVersion)
    {
        var found = new List<(string Name, nint Handle, int Encoded)>();
        foreach (string name in SearchList())
        {
            if (!NativeLibrary.TryLoad(name, typeof(Nvrtc).Assembly, null, out nint handle)) continue;
            int major = 0, minor = 0;
            if (NativeLibrary.TryGetExport(handle, "nvrtcVersion", out nint version)
                && ((delegate* unmanaged<int*, int*, int>)version)(&major, &minor) != 0)
                major = minor = 0;
            found.Add((name, handle, major * 1000 + minor * 10));
            // Without a driver to fit, the newest soname that loads is the one.
            if (driverVersion <= 0) break;
        }
        if (found.Count == 0)
            return $"NVRTC not found (tried {string.Join(", ", Candidates)}); on Debian install {DebianPackage} from non-free";

        int pick = 0;
        if (driverVersion > 0)
        {
            int driverMajor = driverVersion / 1000;
            pick = Newest(found, v => v <= driverVersion);
            if (pick < 0) pick = Newest(found, v => v / 1000 <= driverMajor);
            if (pick < 0) pick = Newest(found, _ => true);
        }
        for (int i = 0; i < found.Count; i++)
            if (i != pick) NativeLibrary.Free(found[i].Handle);

        string failure = Bind(found[pick].Name, found[pick].Handle, out Binding? binding);
        if (binding == null) return failure;
        _binding = binding;
        _chosenFor = driverVersion;
        return "";
    }

    /// <summary>The index of the newest release whose encoded version passes <paramref name="fits"/>; the first such on a tie; -1 if none.</summary>
    static int Newest(List<(string Name, nint Handle, int Encoded)> found, Func<int, bool> fits)
    {
        int best = -1;
        for (int i = 0; i < found.Count; i++)
            if (fits(found[i].Encoded) && (best < 0 || found[i].Encoded > found[best].Encoded)) best = i;
        return best;
    }

    static string Bind(string loaded, nint library, out Binding? binding)
    {
        binding = null;
        nint Export(string symbol) =>
            NativeLibrary.TryGetExport(library, symbol, out nint address) ? address
            : throw new EntryPointNotFoundException($"{loaded} has no {symbol} (NVRTC 11.2 or later is needed)");
        delegate* unmanaged<int*, int*, int> nvrtcVersion;
        delegate* unmanaged<int*, int> getNumSupportedArchs, getSupportedArchs;
        Binding b;
        try
        {
            nvrtcVersion = (delegate* unmanaged<int*, int*, int>)Export("nvrtcVersion");
            getNumSupportedArchs = (delegate* unmanaged<int*, int>)Export("nvrtcGetNumSupportedArchs");
            getSupportedArchs = (delegate* unmanaged<int*, int>)Export("nvrtcGetSupportedArchs");
            b = new Binding
            {
                Library = loaded,
                GetErrorString = (delegate* unmanaged<int, byte*>)Export("nvrtcGetErrorString"),
                CreateProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)Export("nvrtcCreateProgram"),
                DestroyProgram = (delegate* unmanaged<nint*, int>)Export("nvrtcDestroyProgram"),
                CompileProgram = (delegate* unmanaged<nint, int, byte**, int>)Export("nvrtcCompileProgram"),
                GetPtxSize = (delegate* unmanaged<nint, nuint*, int>)Export("nvrtcGetPTXSize"),
                GetPtx = (delegate* unmanaged<nint, byte*, int>)Export("nvrtcGetPTX"),
                GetProgramLogSize = (delegate* unmanaged<nint, nuint*, int>)Export("nvrtcGetProgramLogSize"),
                GetProgramLog = (delegate* unmanaged<nint, byte*, int>)Export("nvrtcGetProgramLog"),
            };
        }
        catch (EntryPointNotFoundException e)
        {
            return e.Message;
        }

        int major, minor, count;
        if (nvrtcVersion(&major, &minor) != 0) return $"{loaded}: nvrtcVersion failed";
        if (getNumSupportedArchs(&count) != 0 || count <= 0) return $"{loaded}: nvrtcGetNumSupportedArchs failed";
        var architectures = new int[count];
        fixed (int* a = architectures)
            if (getSupportedArchs(a) != 0) return $"{loaded}: nvrtcGetSupportedArchs failed";
        Array.Sort(architectures);

        b.Major = major;
        b.Minor = minor;
        b.Architectures = architectures;
        // C++17 is the dialect the kernels are written in; NVRTC takes --std=c++17 from 11.0 on.
        b.AcceptsCpp17 = major >= 11;
        binding = b;
        return "";
    }

    /// <summary>
    /// The sonames through the system loader, then the same names in the lib64 folder of a CUDA
    /// toolkit named by CUDA_HOME or CUDA_PATH, which installers do not always add to the
    /// loader's search path.
    /// </summary>
    static IEnumerable<string> SearchList()
    {
        foreach (string name in Candidates) yield return name;
        foreach (string variable in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            string? root = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrEmpty(root)) continue;
            foreach (string name in Candidates)
            {
                string path = Path.Combine(root, "lib64", name);
                if (File.Exists(path)) yield return path;
            }
        }
    }

    static string ProgramLog(Binding b, nint program)
    {
        nuint size;
        if (b.GetProgramLogSize(program, &size) != 0 || size <= 1) return "(no compiler log)";
        var log = new byte[(int)size];
        fixed (byte* p = log)
            if (b.GetProgramLog(program, p) != 0) return "(the compiler log could not be read)";
        return Encoding.UTF8.GetString(log, 0, (int)size - 1).TrimEnd();
    }

    static string ErrorString(Binding b, int result)
    {
        byte* text = b.GetErrorString(result);
        return text == null ? $"nvrtcResult {result}" : Marshal.PtrToStringUTF8((nint)text)!;
    }

    static void Check(Binding b, int result, string call, string programName)
    {
        if (result != 0) throw Failure(b, result, $"{call} for {programName}");
    }

    static CudaException Failure(Binding b, int result, string call) =>
        new($"{call} failed: {ErrorString(b, result)}", ErrorString(b, result), result);

    /// <summary>NUL-terminated UTF-8 copies of strings in unmanaged memory, and an array of pointers to them.</summary>
    sealed class Utf8Strings : IDisposable
    {
        readonly nint[] _strings;
        readonly nint _pointers;

        public Utf8Strings(IReadOnlyList<string> strings)
        {
            _strings = new nint[strings.Count];
            _pointers = Marshal.AllocHGlobal(Math.Max(1, strings.Count) * sizeof(nint));
            for (int i = 0; i < strings.Count; i++)
            {
                _strings[i] = Marshal.StringToCoTaskMemUTF8(strings[i]);
                ((nint*)_pointers)[i] = _strings[i];
            }
        }

        public byte* this[int index] => (byte*)_strings[index];
        public byte** Pointers => (byte**)_pointers;

        public void Dispose()
        {
            foreach (nint s in _strings) Marshal.FreeCoTaskMem(s);
            Marshal.FreeHGlobal(_pointers);
        }
    }
}
