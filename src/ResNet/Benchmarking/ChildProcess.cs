using System.Diagnostics;

namespace Engine.ResNet.Benchmarking;

/// <summary>Runs a program to completion and returns its exit code and everything it printed.</summary>
public static class ChildProcess
{
    /// <summary>Exit code -1 (with the reason as output) when it cannot start or runs past <paramref name="limit"/> (it is then killed).</summary>
    public static (int Code, string Output) Run(string file, IEnumerable<string> args, TimeSpan limit, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { return (-1, $"cannot start {file}: {e.Message}"); }
        using (process)
        {
            // Both pipes drained at once: a child that fills one while we wait on the other would hang.
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                return (-1, $"{file} ran past {limit.TotalMinutes} minutes");
            }
            return (process.ExitCode, stdout + stderr.Result);
        }
    }
}
