using System.Reflection;
using System.Runtime.InteropServices;

namespace Engine.ResNet.Data;

/// <summary>
/// The single DllImport resolver of this assembly (the runtime takes one per assembly, so
/// every native binding registers its file names here instead of installing its own): maps
/// an import name to the file names its Debian package installs, tried in order.
/// </summary>
internal static class NativeLibraries
{
    static readonly object Gate = new();
    static readonly Dictionary<string, string[]> FileNames = new(StringComparer.Ordinal);
    static readonly Dictionary<string, nint> Loaded = new(StringComparer.Ordinal);
    static bool _resolverInstalled;

    /// <summary>Declares the files that provide <paramref name="importName"/>, first choice first.</summary>
    public static void Register(string importName, params string[] fileNames)
    {
        lock (Gate)
        {
            FileNames[importName] = fileNames;
            if (_resolverInstalled) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
            _resolverInstalled = true;
        }
    }

    /// <summary>
    /// Loads the first registered file of <paramref name="importName"/> that the system
    /// loader finds; false (and a list of what was tried) when none does.
    /// </summary>
    public static bool TryLoad(string importName, out nint handle, out string tried)
    {
        lock (Gate)
        {
            string[] names = FileNames.TryGetValue(importName, out var n) ? n : [importName];
            tried = string.Join(", ", names);
            if (Loaded.TryGetValue(importName, out handle)) return true;
            foreach (string name in names)
            {
                if (NativeLibrary.TryLoad(name, typeof(NativeLibraries).Assembly, null, out handle))
                {
                    Loaded[importName] = handle;
                    return true;
                }
            }
            handle = 0;
            return false;
        }
    }

    static nint Resolve(string importName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        lock (Gate)
        {
            if (!FileNames.ContainsKey(importName)) return 0; // not ours: the runtime's own probing
        }
        return TryLoad(importName, out nint handle, out _) ? handle : 0;
    }
}
