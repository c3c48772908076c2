namespace Engine.Tests;

/// <summary>A fresh folder under the system's temp directory, deleted with everything in it on dispose.</summary>
sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("engine-tests-").FullName;

    /// <summary>The full path of <paramref name="name"/> inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { } // a handle still open on Windows; the OS cleans temp eventually
    }
}
