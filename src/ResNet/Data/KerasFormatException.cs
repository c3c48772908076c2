namespace Engine.ResNet.Data;

/// <summary>
/// What is wrong with a Keras model file's contents, without the file's name: the reader
/// throws it deep inside, and <see cref="KerasModelFile.Load"/> turns it into the one
/// <see cref="DataFormatException"/> that names the file.
/// </summary>
sealed class KerasFormatException(string problem) : Exception(problem);
