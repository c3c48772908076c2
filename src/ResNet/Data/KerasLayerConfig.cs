using System.Text.Json;

namespace Engine.ResNet.Data;

/// <summary>
/// One layer's "config" object from a Keras model_config, read with the checks every loader
/// needs: a missing or mistyped key, or a setting this engine cannot honour, is a
/// <see cref="KerasFormatException"/> naming the layer, the key and the value.
/// </summary>
sealed class KerasLayerConfig(string name, string className, JsonElement config)
{
    public string Name { get; } = name;
    public string ClassName { get; } = className;

    string Where => $"layer '{Name}' ({ClassName})";

    KerasFormatException Problem(string text) => new($"{Where}: {text}");

    /// <summary>A setting this engine cannot run, named with its value and what is supported.</summary>
    public KerasFormatException Unsupported(string key, string supported) =>
        Problem($"{key} {Text(key)} is not supported; only {supported}");

    bool TryGet(string key, out JsonElement value)
    {
        if (config.ValueKind == JsonValueKind.Object && config.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    /// <summary>The value as the file has it, for messages.</summary>
    public string Text(string key) => config.ValueKind == JsonValueKind.Object && config.TryGetProperty(key, out var v) ? v.GetRawText() : "(missing)";

    public bool IsNull(string key) => !TryGet(key, out _);

    JsonElement Required(string key) => TryGet(key, out var v) ? v : throw Problem($"its config has no '{key}'");

    public string String(string key, string? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Problem($"its config has no '{key}'");
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Problem($"{key} {v.GetRawText()} is not a string");
    }

    public int Int(string key, int? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Problem($"its config has no '{key}'");
        return AsInt(key, v);
    }

    int AsInt(string key, JsonElement v) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i
        : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue ? (int)d
        : throw Problem($"{key} {v.GetRawText()} is not a whole number");

    public double Double(string key, double? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Problem($"its config has no '{key}'");
        return v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Problem($"{key} {v.GetRawText()} is not a number");
    }

    public bool Bool(string key, bool fallback)
    {
        if (!TryGet(key, out var v)) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Problem($"{key} {v.GetRawText()} is not true or false"),
        };
    }

    /// <summary>Keras' int-or-tuple arguments: 3 means (3, 3); [3, 2] is (3, 2).</summary>
    public (int A, int B) Pair(string key, (int, int)? fallback = null)
    {
        if (!TryGet(key, out var v)) return fallback ?? throw Problem($"its config has no '{key}'");
        if (v.ValueKind == JsonValueKind.Number)
        {
            int n = AsInt(key, v);
            return (n, n);
        }
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2) return (AsInt(key, v[0]), AsInt(key, v[1]));
        throw Problem($"{key} {v.GetRawText()} is not a number or a pair of numbers");
    }

    /// <summary>ZeroPadding2D's padding: n, [rows, columns] or [[top, bottom], [left, right]].</summary>
    public ((int, int) Rows, (int, int) Columns) Padding2D(string key)
    {
        var v = Required(key);
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 2 && v[0].ValueKind == JsonValueKind.Array && v[1].ValueKind == JsonValueKind.Array
            && v[0].GetArrayLength() == 2 && v[1].GetArrayLength() == 2)
            return ((AsInt(key, v[0][0]), AsInt(key, v[0][1])), (AsInt(key, v[1][0]), AsInt(key, v[1][1])));
        var (rows, columns) = Pair(key);
        return ((rows, rows), (columns, columns));
    }

    /// <summary>An int or a one-element list of ints (tf.keras writes BatchNormalization's axis as [3]).</summary>
    public int IntOrSingleton(string key, int fallback)
    {
        if (!TryGet(key, out var v)) return fallback;
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 1) return AsInt(key, v[0]);
        if (v.ValueKind == JsonValueKind.Array) throw Unsupported(key, "a single axis");
        return AsInt(key, v);
    }

    /// <summary>batch_input_shape: [null, d1, d2, ...], every d at least 1.</summary>
    public int[] BatchInputShape(string key)
    {
        var v = Required(key);
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() < 2)
            throw Problem($"{key} {v.GetRawText()} is not [batch, dimensions...]");
        var dims = new int[v.GetArrayLength() - 1];
        for (int i = 0; i < dims.Length; i++)
        {
            var d = v[i + 1];
            if (d.ValueKind == JsonValueKind.Null) throw Problem($"{key} {v.GetRawText()} leaves a dimension open; every dimension but the batch must be fixed");
            dims[i] = AsInt(key, d);
            if (dims[i] < 1) throw Problem($"{key} {v.GetRawText()}: every dimension must be at least 1");
        }
        return dims;
    }

    /// <summary>The seed of an initializer config ({"class_name": ..., "config": {"seed": 0}}); 0 when it has none.</summary>
    public ulong InitializerSeed(string key)
    {
        if (!TryGet(key, out var v) || v.ValueKind != JsonValueKind.Object) return 0;
        if (!v.TryGetProperty("config", out var c) || c.ValueKind != JsonValueKind.Object || !c.TryGetProperty("seed", out var seed)) return 0;
        return seed.ValueKind == JsonValueKind.Number && seed.TryGetUInt64(out ulong s) ? s : 0;
    }

    /// <summary>Settings that must be absent or null: regularizers and constraints change training, which this engine would silently drop.</summary>
    public void RequireNull(params string[] keys)
    {
        foreach (var key in keys)
            if (!IsNull(key)) throw Unsupported(key, "null");
    }

    /// <summary>Settings every layer may carry: trainable, dtype, data_format.</summary>
    public void CheckCommon()
    {
        if (!Bool("trainable", true)) throw Problem("trainable false (a frozen layer) is not supported");
        if (TryGet("dtype", out var dtype))
        {
            // tf.keras 2.4+ writes a mixed-precision policy object instead of a string.
            string? type = dtype.ValueKind == JsonValueKind.String ? dtype.GetString()
                : dtype.ValueKind == JsonValueKind.Object && dtype.TryGetProperty("config", out var p) && p.ValueKind == JsonValueKind.Object
                  && p.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
            if (type != "float32") throw Unsupported("dtype", "float32");
        }
        if (String("data_format", "channels_last") != "channels_last") throw Unsupported("data_format", "channels_last");
    }

    /// <summary>An activation setting: a name among <paramref name="known"/> (null meaning linear).</summary>
    public string Activation(string key, IReadOnlyList<string> known)
    {
        if (!TryGet(key, out var v)) return "linear";
        if (v.ValueKind == JsonValueKind.String && known.Contains(v.GetString())) return v.GetString()!;
        throw Unsupported(key, string.Join(", ", known));
    }
}
