namespace Engine.Layers;

/// <summary>
/// Keras' automatic layer names: the first unnamed Activation is activation_1, the next
/// activation_2, and so on, counted per type for the whole program (per thread here) until
/// <see cref="Reset"/>, Keras' clear_session().
/// </summary>
public static class LayerNames
{
    [ThreadStatic] static Dictionary<string, int>? _counts;

    /// <summary>The next free name for <paramref name="prefix"/>: prefix_1, prefix_2, ...</summary>
    public static string Next(string prefix)
    {
        var counts = _counts ??= new Dictionary<string, int>();
        counts[prefix] = counts.GetValueOrDefault(prefix) + 1;
        return $"{prefix}_{counts[prefix]}";
    }

    /// <summary>Starts every count again from 1.</summary>
    public static void Reset() => _counts?.Clear();
}
