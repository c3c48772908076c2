using System.Text.Json;
using Engine.Layers;
using Engine.Tensors;

namespace Engine.ResNet.Data;

/// <summary>
/// Rebuilds a model from a Keras 2 model_config: a functional "Model" ("Functional" in later
/// tf.keras) by replaying each layer's inbound nodes, or a "Sequential" (its config a list of
/// layers, or {"name", "layers"}) by chaining its layers from the input the first one
/// declares. Layers get their saved names and hyperparameters and fresh weights; the caller
/// copies the saved weights in. Any problem is a <see cref="KerasFormatException"/>.
/// </summary>
static class KerasConfigReader
{
    static readonly string[] Activations = ["linear", "relu", "sigmoid", "softmax"];

    public static Model<float> Read(string modelConfig)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(modelConfig); }
        catch (JsonException e) { throw new KerasFormatException($"model_config is not valid JSON ({e.Message})"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("class_name", out var classElement) || classElement.ValueKind != JsonValueKind.String)
                throw new KerasFormatException("model_config has no class_name; expected {\"class_name\": \"Model\" or \"Sequential\", \"config\": ...}");
            if (!root.TryGetProperty("config", out var config))
                throw new KerasFormatException("model_config has no config");
            string className = classElement.GetString()!;
            return className switch
            {
                "Model" or "Functional" => ReadFunctional(config),
                "Sequential" => ReadSequential(config),
                _ => throw new KerasFormatException($"the model is a {className}; only Model (functional) and Sequential models can be loaded"),
            };
        }
    }

    static Model<float> ReadFunctional(JsonElement config)
    {
        if (config.ValueKind != JsonValueKind.Object) throw new KerasFormatException("the Model's config is not an object");
        string name = config.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "model_1";
        var entries = LayerEntries(config, "Model");

        var layers = new Dictionary<string, Layer<float>>();
        var outputs = new Dictionary<string, List<SymbolicTensor<float>>>();
        var nodes = entries.Select(e => (Entry: e, Nodes: InboundNodes(e))).ToArray();
        var done = new int[nodes.Length];
        // Keras lists layers inputs-first, but replays until nothing changes, so any order works.
        bool progress = true;
        while (progress)
        {
            progress = false;
            for (int i = 0; i < nodes.Length; i++)
            {
                var (entry, inbound) = nodes[i];
                if (entry.Layer.ClassName == "InputLayer")
                {
                    if (done[i] > 0) continue;
                    if (inbound.Count > 0) throw new KerasFormatException($"input layer '{entry.Layer.Name}' has inbound nodes");
                    var input = MakeInput(entry.Layer);
                    layers[entry.Layer.Name] = input.Layer;
                    outputs[entry.Layer.Name] = [input];
                    done[i] = 1;
                    progress = true;
                    continue;
                }
                while (done[i] < inbound.Count && TryResolve(inbound[done[i]], outputs, out var inputs))
                {
                    if (!layers.TryGetValue(entry.Layer.Name, out var layer)) layers[entry.Layer.Name] = layer = MakeLayer(entry.Layer, inputs);
                    var output = Apply(entry.Layer, layer, inputs);
                    if (!outputs.TryGetValue(entry.Layer.Name, out var list)) outputs[entry.Layer.Name] = list = [];
                    list.Add(output);
                    done[i]++;
                    progress = true;
                }
            }
        }
        for (int i = 0; i < nodes.Length; i++)
        {
            var (entry, inbound) = nodes[i];
            if (entry.Layer.ClassName != "InputLayer" && done[i] < inbound.Count)
            {
                var missing = inbound[done[i]].First(r => !outputs.TryGetValue(r.Layer, out var o) || o.Count <= r.Node);
                throw new KerasFormatException($"layer '{entry.Layer.Name}' takes {missing.Layer}[{missing.Node}][{missing.Tensor}] as input, which no layer of the model produces");
            }
            if (entry.Layer.ClassName != "InputLayer" && inbound.Count == 0)
                throw new KerasFormatException($"layer '{entry.Layer.Name}' ({entry.Layer.ClassName}) is not connected to anything (no inbound nodes)");
        }

        var input0 = Endpoint(config, "input_layers", outputs);
        var output0 = Endpoint(config, "output_layers", outputs);
        var model = Build(input0, output0, name);
        var unused = entries.Select(e => e.Layer.Name).Except(model.Layers.Select(l => l.Name)).ToArray();
        if (unused.Length > 0)
            throw new KerasFormatException($"layer(s) {string.Join(", ", unused)} do not lead to the model's output {output0.Layer.Name}");
        return model;
    }

    static Model<float> ReadSequential(JsonElement config)
    {
        string name = "sequential_1";
        if (config.ValueKind == JsonValueKind.Object && config.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String) name = n.GetString()!;
        var entries = LayerEntries(config, "Sequential");
        if (entries.Count == 0) throw new KerasFormatException("the Sequential model has no layers");

        SymbolicTensor<float> input;
        int first = 0;
        if (entries[0].Layer.ClassName == "InputLayer")
        {
            input = MakeInput(entries[0].Layer);
            first = 1;
        }
        else
        {
            var head = entries[0].Layer;
            if (head.IsNull("batch_input_shape"))
                throw new KerasFormatException($"the Sequential model's first layer '{head.Name}' has no batch_input_shape, so the input shape is unknown");
            // Keras 2 names the input it makes for a Sequential model after its first layer.
            input = Functional.Input<float>(new Shape(head.BatchInputShape("batch_input_shape")), head.Name + "_input");
        }
        var x = input;
        for (int i = first; i < entries.Count; i++)
        {
            var entry = entries[i].Layer;
            if (entry.ClassName == "InputLayer") throw new KerasFormatException($"layer '{entry.Name}' is an InputLayer inside a Sequential model");
            if (entry.ClassName == "Add") throw new KerasFormatException($"layer '{entry.Name}' (Add) needs two inputs; a Sequential model gives each layer one");
            var layer = MakeLayer(entry, [x]);
            x = Apply(entry, layer, [x]);
        }
        return Build(input, x, name);
    }

    sealed record Entry(KerasLayerConfig Layer, JsonElement Json);
    readonly record struct Reference(string Layer, int Node, int Tensor);

    static List<Entry> LayerEntries(JsonElement config, string kind)
    {
        var list = config.ValueKind == JsonValueKind.Array ? config
            : config.ValueKind == JsonValueKind.Object && config.TryGetProperty("layers", out var l) && l.ValueKind == JsonValueKind.Array ? l
            : throw new KerasFormatException($"the {kind} model's config has no list of layers");
        var entries = new List<Entry>();
        var names = new HashSet<string>();
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("class_name", out var c) || c.ValueKind != JsonValueKind.String)
                throw new KerasFormatException($"layer #{entries.Count} of the model has no class_name");
            string className = c.GetString()!;
            item.TryGetProperty("config", out var layerConfig);
            string? name = item.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()
                : layerConfig.ValueKind == JsonValueKind.Object && layerConfig.TryGetProperty("name", out var cn) && cn.ValueKind == JsonValueKind.String ? cn.GetString()
                : null;
            if (name == null) throw new KerasFormatException($"layer #{entries.Count} ({className}) of the model has no name");
            if (!names.Add(name)) throw new KerasFormatException($"two layers are named '{name}'; Keras requires unique layer names");
            if (!KerasConfigWriter.SupportedClasses.Contains(className))
                throw new KerasFormatException($"layer '{name}' is a {className}, which this engine cannot load; the supported layers are {string.Join(", ", KerasConfigWriter.SupportedClasses)}");
            entries.Add(new Entry(new KerasLayerConfig(name, className, layerConfig), item));
        }
        return entries;
    }

    static List<List<Reference>> InboundNodes(Entry entry)
    {
        var result = new List<List<Reference>>();
        if (!entry.Json.TryGetProperty("inbound_nodes", out var nodes) || nodes.ValueKind == JsonValueKind.Null) return result;
        string bad = $"layer '{entry.Layer.Name}': inbound_nodes {Shorten(nodes.GetRawText())} are not in Keras 2's form [[[layer, node, tensor, {{}}], ...], ...]";
        if (nodes.ValueKind != JsonValueKind.Array) throw new KerasFormatException(bad);
        foreach (var node in nodes.EnumerateArray())
        {
            if (node.ValueKind != JsonValueKind.Array || node.GetArrayLength() == 0) throw new KerasFormatException(bad);
            var references = new List<Reference>();
            foreach (var r in node.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.Array || r.GetArrayLength() < 3 || r[0].ValueKind != JsonValueKind.String
                    || !r[1].TryGetInt32(out int nodeIndex) || !r[2].TryGetInt32(out int tensorIndex) || nodeIndex < 0)
                    throw new KerasFormatException(bad);
                if (tensorIndex != 0) throw new KerasFormatException($"layer '{entry.Layer.Name}' takes output {tensorIndex} of {r[0].GetString()}; every supported layer has one output");
                if (r.GetArrayLength() > 3 && r[3].ValueKind == JsonValueKind.Object && r[3].EnumerateObject().Any())
                    throw new KerasFormatException($"layer '{entry.Layer.Name}' is called with arguments {r[3].GetRawText()}, which are not supported");
                references.Add(new Reference(r[0].GetString()!, nodeIndex, tensorIndex));
            }
            result.Add(references);
        }
        return result;
    }

    static bool TryResolve(List<Reference> node, Dictionary<string, List<SymbolicTensor<float>>> outputs, out SymbolicTensor<float>[] inputs)
    {
        inputs = new SymbolicTensor<float>[node.Count];
        for (int i = 0; i < node.Count; i++)
        {
            if (!outputs.TryGetValue(node[i].Layer, out var list) || list.Count <= node[i].Node) return false;
            inputs[i] = list[node[i].Node];
        }
        return true;
    }

    static SymbolicTensor<float> Endpoint(JsonElement config, string key, Dictionary<string, List<SymbolicTensor<float>>> outputs)
    {
        if (!config.TryGetProperty(key, out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            throw new KerasFormatException($"the Model's config has no {key}");
        if (list.GetArrayLength() != 1)
            throw new KerasFormatException($"the model has {list.GetArrayLength()} {key.Replace("_layers", "s")} ({list.GetRawText()}); only models with one input and one output are supported");
        var r = list[0];
        if (r.ValueKind != JsonValueKind.Array || r.GetArrayLength() < 2 || r[0].ValueKind != JsonValueKind.String || !r[1].TryGetInt32(out int node))
            throw new KerasFormatException($"{key} {list.GetRawText()} is not [[layer, node, tensor]]");
        string layer = r[0].GetString()!;
        if (!outputs.TryGetValue(layer, out var nodes) || node < 0 || node >= nodes.Count)
            throw new KerasFormatException($"{key} names {layer}[{node}], which the model does not have");
        return nodes[node];
    }

    static Model<float> Build(SymbolicTensor<float> input, SymbolicTensor<float> output, string name)
    {
        try { return new Model<float>(input, output, name); }
        catch (ArgumentException e) { throw new KerasFormatException($"the layers do not form a model: {e.Message}"); }
    }

    static SymbolicTensor<float> MakeInput(KerasLayerConfig c)
    {
        c.CheckCommon();
        if (c.Bool("sparse", false)) throw c.Unsupported("sparse", "false");
        if (c.Bool("ragged", false)) throw c.Unsupported("ragged", "false");
        return Functional.Input<float>(new Shape(c.BatchInputShape("batch_input_shape")), c.Name);
    }

    /// <summary>The layer for a config, checked setting by setting; its first node's inputs tell BatchNormalization which axis is last.</summary>
    static Layer<float> MakeLayer(KerasLayerConfig c, IReadOnlyList<SymbolicTensor<float>> inputs)
    {
        c.CheckCommon();
        try
        {
            switch (c.ClassName)
            {
                case "ZeroPadding2D":
                {
                    var (rows, columns) = c.Padding2D("padding");
                    if (rows.Item1 < 0 || rows.Item2 < 0 || columns.Item1 < 0 || columns.Item2 < 0) throw c.Unsupported("padding", "amounts of 0 or more");
                    return new ZeroPadding2D<float>(rows, columns, c.Name);
                }
                case "Conv2D":
                {
                    if (c.Pair("dilation_rate", (1, 1)) != (1, 1)) throw c.Unsupported("dilation_rate", "[1, 1]");
                    if (c.Int("groups", 1) != 1) throw c.Unsupported("groups", "1");
                    string padding = c.String("padding", "valid");
                    if (padding is not ("valid" or "same")) throw c.Unsupported("padding", "valid, same");
                    c.RequireNull("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint");
                    return new Conv2D<float>(c.Int("filters"), c.Pair("kernel_size"), c.Pair("strides", (1, 1)), padding,
                        c.Bool("use_bias", true), c.InitializerSeed("kernel_initializer"), c.Name, c.Activation("activation", Activations));
                }
                case "BatchNormalization":
                {
                    int rank = inputs[0].SampleShape.Rank + 1;
                    int axis = c.IntOrSingleton("axis", -1);
                    if (axis != -1 && axis != rank - 1) throw c.Unsupported("axis", $"the last axis (-1 or {rank - 1} for this {rank}-D input)");
                    if (!c.Bool("center", true)) throw c.Unsupported("center", "true");
                    if (!c.Bool("scale", true)) throw c.Unsupported("scale", "true");
                    if (c.Bool("renorm", false)) throw c.Unsupported("renorm", "false");
                    c.RequireNull("virtual_batch_size", "adjustment", "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint");
                    return new BatchNormalization<float>(c.Double("momentum", 0.99), c.Double("epsilon", 1e-3), c.Name);
                }
                case "Activation":
                    return new Activation<float>(c.Activation("activation", Activations), c.Name);
                case "ReLU":
                    if (!c.IsNull("max_value")) throw c.Unsupported("max_value", "null");
                    if (c.Double("negative_slope", 0) != 0) throw c.Unsupported("negative_slope", "0");
                    if (c.Double("threshold", 0) != 0) throw c.Unsupported("threshold", "0");
                    return new ReLU<float>(c.Name);
                case "MaxPooling2D":
                case "AveragePooling2D":
                {
                    var pool = c.Pair("pool_size", (2, 2));
                    var strides = c.Pair("strides", pool);
                    if (c.String("padding", "valid") != "valid") throw c.Unsupported("padding", "valid");
                    return c.ClassName == "MaxPooling2D"
                        ? new MaxPooling2D<float>(pool, strides, c.Name)
                        : new AveragePooling2D<float>(pool, strides, c.Name);
                }
                case "Flatten":
                    return new Flatten<float>(c.Name);
                case "Dense":
                    c.RequireNull("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint");
                    return new Dense<float>(c.Int("units"), c.Activation("activation", Activations), c.Bool("use_bias", true),
                        c.InitializerSeed("kernel_initializer"), c.Name);
                case "Add":
                    return new Add<float>(c.Name);
                default:
                    throw new KerasFormatException($"layer '{c.Name}' is a {c.ClassName}, which this engine cannot load");
            }
        }
        catch (ArgumentException e)
        {
            // Our constructors' own range checks (no filters, a zero stride, momentum 1).
            throw new KerasFormatException($"layer '{c.Name}' ({c.ClassName}): {e.Message}");
        }
    }

    static SymbolicTensor<float> Apply(KerasLayerConfig c, Layer<float> layer, SymbolicTensor<float>[] inputs)
    {
        try
        {
            if (layer is Add<float> add) return add.Call(inputs);
            if (inputs.Length != 1) throw new KerasFormatException($"layer '{c.Name}' ({c.ClassName}) takes one input, the file gives it {inputs.Length}");
            return layer.Call(inputs[0]);
        }
        catch (ArgumentException e)
        {
            string shapes = string.Join(" and ", inputs.Select(i => i.KerasShape));
            throw new KerasFormatException($"layer '{c.Name}' ({c.ClassName}) cannot take input {shapes}: {e.Message}");
        }
    }

    static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "...";
}
