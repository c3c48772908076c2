using System.Globalization;
using System.Text;
using System.Text.Json;
using Engine.Layers;

namespace Engine.ResNet.Data;

/// <summary>
/// A model's architecture as Keras 2.2.4's model.get_config() describes a functional Model,
/// wrapped as save() stores it: {"class_name": "Model", "config": {"name", "layers",
/// "input_layers", "output_layers"}}. Each layer carries every key Keras writes for its class,
/// with Keras' values for the settings this engine does not have (no regularizers, no
/// constraints, channels_last), so Keras can rebuild the model from it.
/// </summary>
static class KerasConfigWriter
{
    /// <summary>The layer classes this writer (and <see cref="KerasConfigReader"/>) knows.</summary>
    internal static readonly string[] SupportedClasses =
        ["InputLayer", "ZeroPadding2D", "Conv2D", "BatchNormalization", "Activation", "ReLU", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense", "Add"];

    public static string Write(Model<float> model)
    {
        var inModel = GraphNodes(model);
        // Keras numbers a layer's nodes within the model only; ours count every application.
        int NodeIndex(SymbolicTensor<float> node) => node.Layer.InboundNodes.Where(inModel.Contains).ToList().IndexOf(node);

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("class_name", "Model");
            json.WritePropertyName("config");
            json.WriteStartObject();
            json.WriteString("name", model.Name);
            json.WritePropertyName("layers");
            json.WriteStartArray();
            foreach (var layer in model.Layers)
            {
                var nodes = layer.InboundNodes.Where(inModel.Contains).ToArray();
                json.WriteStartObject();
                json.WriteString("name", layer.Name);
                json.WriteString("class_name", layer.TypeName);
                json.WritePropertyName("config");
                WriteLayerConfig(json, layer, nodes[0], model.Name);
                json.WritePropertyName("inbound_nodes");
                json.WriteStartArray();
                foreach (var node in nodes.Where(n => n.Inputs.Count > 0))
                {
                    json.WriteStartArray();
                    foreach (var input in node.Inputs)
                    {
                        json.WriteStartArray();
                        json.WriteStringValue(input.Layer.Name);
                        json.WriteNumberValue(NodeIndex(input));
                        json.WriteNumberValue(0);
                        json.WriteStartObject();
                        json.WriteEndObject();
                        json.WriteEndArray();
                    }
                    json.WriteEndArray();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            WriteEndpoint(json, "input_layers", model.Input, NodeIndex(model.Input));
            WriteEndpoint(json, "output_layers", model.Output, NodeIndex(model.Output));
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    static void WriteEndpoint(Utf8JsonWriter json, string key, SymbolicTensor<float> node, int nodeIndex)
    {
        json.WritePropertyName(key);
        json.WriteStartArray();
        json.WriteStartArray();
        json.WriteStringValue(node.Layer.Name);
        json.WriteNumberValue(nodeIndex);
        json.WriteNumberValue(0);
        json.WriteEndArray();
        json.WriteEndArray();
    }

    static HashSet<SymbolicTensor<float>> GraphNodes(Model<float> model)
    {
        var seen = new HashSet<SymbolicTensor<float>>();
        var stack = new Stack<SymbolicTensor<float>>([model.Output]);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (seen.Add(node)) foreach (var i in node.Inputs) stack.Push(i);
        }
        return seen;
    }

    static void WriteLayerConfig(Utf8JsonWriter json, Layer<float> layer, SymbolicTensor<float> node, string model)
    {
        json.WriteStartObject();
        if (layer is InputLayer<float> input)
        {
            json.WritePropertyName("batch_input_shape");
            json.WriteStartArray();
            json.WriteNullValue();
            foreach (int d in input.SampleShape.Dims) json.WriteNumberValue(d);
            json.WriteEndArray();
            json.WriteString("dtype", "float32");
            json.WriteBoolean("sparse", false);
            json.WriteString("name", layer.Name);
            json.WriteEndObject();
            return;
        }
        json.WriteString("name", layer.Name);
        json.WriteBoolean("trainable", true);
        switch (layer)
        {
            case ZeroPadding2D<float> z:
                json.WritePropertyName("padding");
                json.WriteStartArray();
                Pair(json, null, (z.Rows.Top, z.Rows.Bottom));
                Pair(json, null, (z.Columns.Left, z.Columns.Right));
                json.WriteEndArray();
                json.WriteString("data_format", "channels_last");
                break;
            case Conv2D<float> c:
                json.WriteNumber("filters", c.Filters);
                Pair(json, "kernel_size", c.KernelSize);
                Pair(json, "strides", c.Strides);
                json.WriteString("padding", c.Padding);
                json.WriteString("data_format", "channels_last");
                Pair(json, "dilation_rate", (1, 1));
                json.WriteString("activation", c.ActivationName);
                KernelAndBias(json, c.UseBias, c.Seed);
                break;
            case BatchNormalization<float> b:
                // Keras keeps the axis as given; the assignment gives the channel axis, 3 for images.
                json.WriteNumber("axis", node.Inputs[0].SampleShape.Rank);
                Float(json, "momentum", b.Momentum);
                Float(json, "epsilon", b.Epsilon);
                json.WriteBoolean("center", true);
                json.WriteBoolean("scale", true);
                Initializer(json, "beta_initializer", "Zeros");
                Initializer(json, "gamma_initializer", "Ones");
                Initializer(json, "moving_mean_initializer", "Zeros");
                Initializer(json, "moving_variance_initializer", "Ones");
                Nulls(json, "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint");
                break;
            case Activation<float> a:
                json.WriteString("activation", a.Function);
                break;
            case ReLU<float>:
                json.WriteNull("max_value");
                Float(json, "negative_slope", 0);
                Float(json, "threshold", 0);
                break;
            case MaxPooling2D<float> m:
                Pooling(json, m.PoolSize, m.Strides);
                break;
            case AveragePooling2D<float> a:
                Pooling(json, a.PoolSize, a.Strides);
                break;
            case Flatten<float>:
                json.WriteString("data_format", "channels_last");
                break;
            case Dense<float> d:
                json.WriteNumber("units", d.Units);
                json.WriteString("activation", d.ActivationName);
                KernelAndBias(json, d.UseBias, d.Seed);
                break;
            case Add<float>:
                break;
            default:
                throw new NotSupportedException(
                    $"model {model}: layer {layer.Name} ({layer.TypeName}) has no Keras configuration here; " +
                    $"the layers that can be saved are {string.Join(", ", SupportedClasses)}");
        }
        json.WriteEndObject();
    }

    static void Pooling(Utf8JsonWriter json, (int H, int W) pool, (int H, int W) strides)
    {
        Pair(json, "pool_size", pool);
        json.WriteString("padding", "valid");
        Pair(json, "strides", strides);
        json.WriteString("data_format", "channels_last");
    }

    static void Pair(Utf8JsonWriter json, string? key, (int A, int B) pair)
    {
        if (key != null) json.WritePropertyName(key);
        json.WriteStartArray();
        json.WriteNumberValue(pair.A);
        json.WriteNumberValue(pair.B);
        json.WriteEndArray();
    }

    /// <summary>Keras 2.2.4's glorot_uniform, which is VarianceScaling(1, fan_avg, uniform).</summary>
    /// <summary>What Conv2D and Dense write alike after their own fields: use_bias, Glorot-uniform kernel, zero bias, no regularizers or constraints.</summary>
    static void KernelAndBias(Utf8JsonWriter json, bool useBias, ulong seed)
    {
        json.WriteBoolean("use_bias", useBias);
        GlorotUniform(json, "kernel_initializer", seed);
        Initializer(json, "bias_initializer", "Zeros");
        Nulls(json, "kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint");
    }

    static void GlorotUniform(Utf8JsonWriter json, string key, ulong seed)
    {
        json.WritePropertyName(key);
        json.WriteStartObject();
        json.WriteString("class_name", "VarianceScaling");
        json.WritePropertyName("config");
        json.WriteStartObject();
        Float(json, "scale", 1);
        json.WriteString("mode", "fan_avg");
        json.WriteString("distribution", "uniform");
        json.WriteNumber("seed", seed);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    static void Initializer(Utf8JsonWriter json, string key, string className)
    {
        json.WritePropertyName(key);
        json.WriteStartObject();
        json.WriteString("class_name", className);
        json.WritePropertyName("config");
        json.WriteStartObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    static void Nulls(Utf8JsonWriter json, params string[] keys)
    {
        foreach (var key in keys) json.WriteNull(key);
    }

    /// <summary>A Python float as json.dumps writes it: 1.0, not 1 (so Keras reads a float back).</summary>
    static void Float(Utf8JsonWriter json, string key, double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (!text.Contains('.') && !text.Contains('E')) text += ".0";
        json.WritePropertyName(key);
        json.WriteRawValue(text);
    }
}
