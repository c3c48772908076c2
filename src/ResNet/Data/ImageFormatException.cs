namespace Engine.ResNet.Data;

/// <summary>
/// An image file that cannot be read: missing, empty, not a JPEG or PNG, truncated, corrupt,
/// or a variant the decoders do not handle. The message is meant for the person who gave the
/// file: it names the file, says what is wrong and what to do, and is complete on its own
/// (a command line prints it alone, without a stack trace).
/// </summary>
public sealed class ImageFormatException : Exception
{
    /// <summary>The file as it was named to the loader, when the problem is tied to one.</summary>
    public string? FileName { get; }

    public ImageFormatException(string message) : base(message) { }

    public ImageFormatException(string message, Exception innerException) : base(message, innerException) { }

    public ImageFormatException(string fileName, string problem, string advice, Exception? innerException = null)
        : base($"Cannot read image '{fileName}': {problem}. {advice}", innerException)
    {
        FileName = fileName;
    }

    /// <summary>What to do about a file whose bytes are damaged.</summary>
    internal const string ReExport = "Re-export or re-download the image and try again.";

    /// <summary>A damaged file: truncated, failed checksum, or inconsistent structure.</summary>
    internal static ImageFormatException Corrupt(string fileName, string problem, Exception? inner = null) =>
        new(fileName, problem, ReExport, inner);

    /// <summary>A well-formed file of a kind the decoders do not read.</summary>
    internal static ImageFormatException Unsupported(string fileName, string problem, string advice) =>
        new(fileName, problem, advice);
}
