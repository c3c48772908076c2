using Engine.Layers;

namespace Engine.ResNet.Data;

/// <summary>
/// Whole models in Keras 2's HDF5 layout, what keras.models.save_model / load_model read and
/// write: the root's keras_version, backend and model_config (the architecture as JSON) and
/// the group model_weights, with layer_names and one group per layer holding weight_names and
/// a float32 dataset per weight (model_weights/conv1/conv1/kernel:0).
/// </summary>
public static class KerasModelFile
{
    /// <summary>The Keras version the files say they come from: the one the assignment used.</summary>
    public const string KerasVersion = "2.2.4";

    /// <summary>The backend the files name: the weights are in TensorFlow's layout (HWIO kernels).</summary>
    public const string Backend = "tensorflow";

    /// <summary>
    /// Saves the model as Keras 2.2.4's model.save() does (without an optimizer), so Keras and
    /// h5py read it. The file is written beside <paramref name="path"/> under a temporary name
    /// and renamed over it only once complete: a failed save leaves an existing file as it was
    /// and no temporary file behind. Failures to write are <see cref="IOException"/>s naming
    /// the file; a model Keras could not describe (two layers of one name, a layer type Keras'
    /// configuration here does not cover) is refused before anything is written.
    /// </summary>
    public static void Save(Model<float> model, string path) => Save(model, path, null);

    /// <summary>
    /// <see cref="Save(Model{float}, string)"/>, with <paramref name="writeMore"/> adding groups
    /// or attributes to the file before it is renamed into place (a checkpoint's optimizer state),
    /// so the whole file appears at once or not at all.
    /// </summary>
    internal static void Save(Model<float> model, string path, Action<Hdf5File>? writeMore)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string target = Path.GetFullPath(path);
        if (Directory.Exists(target)) throw new IOException($"{path}: is a folder; give the model file's name");
        string folder = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{path}: no such folder {folder}");

        // Keras finds weights by layer name; HDF5 would only say a group "already exists".
        var repeated = model.Layers.GroupBy(l => l.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated != null)
            throw new ArgumentException($"{path}: cannot save model '{model.Name}': {repeated.Count()} layers are named '{repeated.Key}'; Keras needs unique layer names");
        string config = KerasConfigWriter.Write(model);
        // Hidden, unique, and short enough for the file system whatever the target's length.
        string name = Path.GetFileName(target);
        string temporary = Path.Combine(folder, $".{(name.Length > 64 ? name[..64] : name)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = Hdf5File.Create(temporary))
            {
                file.WriteBytesAttribute("keras_version", KerasVersion);
                file.WriteBytesAttribute("backend", Backend);
                file.WriteBytesAttribute("model_config", config);
                KerasWeights.Write(file, model);
                writeMore?.Invoke(file);
            }
            File.Move(temporary, target, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temporary); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            string problem = e is Hdf5Exception h ? h.Problem : e.Message;
            throw new IOException($"{path}: cannot save model '{model.Name}': {problem}", e);
        }
    }

    /// <summary>
    /// Loads a Keras 2.x model file (functional Model or Sequential) built from InputLayer,
    /// ZeroPadding2D, Conv2D, BatchNormalization, Activation, ReLU, MaxPooling2D,
    /// AveragePooling2D, Flatten, Dense and Add: the graph rebuilt with the saved names and
    /// settings, then every weight and moving statistic copied in. The model is in inference
    /// mode. Anything wrong (a missing or non-HDF5 file, no model_config, an unsupported layer
    /// or setting, a missing weight or one of the wrong shape) is one
    /// <see cref="DataFormatException"/> that names the file and the problem.
    /// </summary>
    public static Model<float> Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            using var file = Hdf5File.OpenRead(path);
            if (!file.HasAttribute("model_config"))
                throw new KerasFormatException("no model_config attribute, so no architecture to rebuild; this is not a file from Keras' model.save() " +
                    "(a save_weights() file holds weights only)");
            if (file.HasAttribute("backend") && file.ReadStringAttribute("backend") == "theano")
                throw new KerasFormatException("saved with the theano backend, whose convolution kernels are stored flipped; only tensorflow files can be loaded");
            var model = KerasConfigReader.Read(file.ReadStringAttribute("model_config"));
            KerasWeights.Read(file, model);
            model.Training = false;
            return model;
        }
        catch (Hdf5Exception e)
        {
            throw new DataFormatException(path, $"{path}: {e.Problem}", e);
        }
        catch (KerasFormatException e)
        {
            throw new DataFormatException(path, $"{path}: {e.Message}", e);
        }
    }
}
