namespace Engine.ResNet.Data;

/// <summary>
/// A data file is missing or is not what it should be. The message is complete on its own (the
/// file, the problem, what to do), so a command line can print just the message.
/// </summary>
public sealed class DataFormatException : Exception
{
    /// <summary>The file (or folder) at fault.</summary>
    public string FilePath { get; }

    public DataFormatException(string filePath, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        FilePath = filePath;
    }
}
