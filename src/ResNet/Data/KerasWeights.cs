using Engine.Layers;
using Engine.Tensors;

namespace Engine.ResNet.Data;

/// <summary>
/// The model_weights group: layer_names lists every layer; each layer's group lists its
/// weight_names (trainable weights, then non-trainable: BatchNormalization's gamma, beta,
/// moving_mean, moving_variance) and holds one dataset per name, at the name's path inside
/// the group ("conv1/kernel:0").
/// </summary>
static class KerasWeights
{
    public static void Write(Hdf5File file, Model<float> model)
    {
        using var group = file.CreateGroup("model_weights");
        KerasAttributes.WriteStrings(group, "layer_names", model.Layers.Select(l => l.Name).ToArray());
        group.WriteBytesAttribute("backend", KerasModelFile.Backend);
        group.WriteBytesAttribute("keras_version", KerasModelFile.KerasVersion);
        foreach (var layer in model.Layers)
        {
            using var layerGroup = group.CreateGroup(layer.Name);
            var weights = Weights(layer);
            KerasAttributes.WriteStrings(layerGroup, "weight_names", weights.Select(w => w.Name + ":0").ToArray());
            foreach (var (name, value) in weights)
                layerGroup.WriteDataset<float>(name + ":0", value.Shape.Dims, value.HostValues);
        }
    }

    /// <summary>A layer's weights in Keras' order, named as Keras names them ("bn_conv1/moving_mean").</summary>
    static List<(string Name, Tensor<float> Value)> Weights(Layer<float> layer)
    {
        var weights = layer.Parameters.Select(p => (p.Name ?? throw new InvalidOperationException($"{layer.Name} has an unnamed weight"), p.Value)).ToList();
        weights.AddRange(layer.State);
        return weights;
    }

    /// <summary>
    /// Copies every weight of <paramref name="model"/> from the file, finding each layer's group
    /// by the layer's name and each weight by the names its weight_names lists (so files where
    /// those names or paths differ from ours, as in later tf.keras, load too).
    /// </summary>
    public static void Read(Hdf5File file, Model<float> model)
    {
        if (!file.IsGroup("model_weights")) throw new KerasFormatException("no model_weights group, so no weights to load");
        using var group = file.OpenGroup("model_weights");
        var layerNames = KerasAttributes.Has(group, "layer_names") ? KerasAttributes.ReadStrings(group, "layer_names") : group.ChildNames().ToArray();
        var ours = model.Layers.Select(l => l.Name).ToHashSet();
        foreach (var name in layerNames)
        {
            if (ours.Contains(name) || !group.IsGroup(name)) continue;
            using var extra = group.OpenGroup(name);
            if (KerasAttributes.Has(extra, "weight_names") && KerasAttributes.ReadStrings(extra, "weight_names").Length > 0)
                throw new KerasFormatException($"model_weights holds weights for a layer '{name}', which the model_config does not have");
        }
        foreach (var layer in model.Layers) ReadLayer(group, layer);
    }

    static void ReadLayer(Hdf5Group weightsGroup, Layer<float> layer)
    {
        var expected = Weights(layer);
        string where = $"layer '{layer.Name}' ({layer.TypeName})";
        if (!weightsGroup.IsGroup(layer.Name))
        {
            if (expected.Count == 0) return;
            throw new KerasFormatException($"{where}: its weights are missing (no group model_weights/{layer.Name})");
        }
        using var group = weightsGroup.OpenGroup(layer.Name);
        var names = KerasAttributes.Has(group, "weight_names") ? KerasAttributes.ReadStrings(group, "weight_names") : [];
        var roles = expected.Select(e => Role(e.Name)).ToArray();
        if (names.Length != expected.Count)
        {
            var missing = roles.Where(r => !names.Any(n => Role(n) == r)).ToArray();
            string listed = names.Length == 0 ? "none" : string.Join(", ", names);
            throw new KerasFormatException(missing.Length > 0 && names.Length < expected.Count
                ? $"{where}: missing weight {string.Join(", ", missing)} (the file lists {listed}; the layer needs {string.Join(", ", roles)})"
                : $"{where}: the file lists {names.Length} weights ({listed}); the layer has {expected.Count} ({(roles.Length == 0 ? "none" : string.Join(", ", roles))})");
        }
        // By role when every name says which weight it is (kernel, bias, gamma, ...); otherwise
        // in the file's order, as Keras itself assigns them.
        var fileRoles = names.Select(Role).ToArray();
        bool byRole = roles.All(r => fileRoles.Count(f => f == r) == 1);
        for (int i = 0; i < expected.Count; i++)
        {
            string name = byRole ? names[Array.IndexOf(fileRoles, roles[i])] : names[i];
            ReadWeight(group, where, name, expected[i].Value);
        }
    }

    static void ReadWeight(Hdf5Group group, string where, string name, Tensor<float> destination)
    {
        // Listed names and stored paths agree in Keras; accept a file where only the ":0" differs.
        string? path = new[] { name, name + ":0", name.EndsWith(":0", StringComparison.Ordinal) ? name[..^2] : null }
            .FirstOrDefault(p => p != null && group.IsDataset(p));
        if (path == null) throw new KerasFormatException($"{where}: missing weight {name} (listed in weight_names, but there is no dataset {group.Name}/{name})");
        using var dataset = group.OpenDataset(path);
        if (!dataset.ElementType.IsFloat) throw new KerasFormatException($"{where}: weight {name} holds {dataset.ElementType}, not floating-point numbers");
        var needed = destination.Shape.ToArray();
        if (!dataset.Dims.SequenceEqual(needed.Select(d => (long)d)))
            throw new KerasFormatException($"{where}: weight {name} has shape {dataset.ShapeText} in the file, but the layer needs {ShapeText(needed)}");
        dataset.Read<float>(destination.Span);
    }

    /// <summary>Which weight a name is: "bn_conv1/moving_mean:0" is moving_mean.</summary>
    static string Role(string name)
    {
        string last = name[(name.LastIndexOf('/') + 1)..];
        int colon = last.LastIndexOf(':');
        return colon >= 0 && last[(colon + 1)..].All(char.IsAsciiDigit) ? last[..colon] : last;
    }

    static string ShapeText(int[] dims) => dims.Length == 1 ? $"({dims[0]},)" : $"({string.Join(", ", dims)})";
}
