using System.Globalization;
using System.Text;
using System.Text.Json;
using Engine.Autograd.Optimizers;
using Engine.Layers;

namespace Engine.ResNet.Data;

/// <summary>
/// What a training run needs to go on exactly where it stopped: the settings that shape its
/// batches and updates, and how many epochs are done.
/// </summary>
/// <param name="Model">The model's name as `resnet train --model` takes it.</param>
/// <param name="Epochs">Epochs the run was asked for.</param>
/// <param name="EpochsDone">Epochs completed when the checkpoint was written.</param>
/// <param name="History">Those epochs' figures (for the curves of a run that was resumed); none when null.</param>
/// <param name="Schedule">The learning-rate schedule: constant or cosine.</param>
/// <param name="Augment">Whether the training images were augmented.</param>
public sealed record TrainingSettings(string Model, int Epochs, int EpochsDone, int BatchSize, double LearningRate, ulong Seed,
    IReadOnlyList<EpochLog>? History = null, string Schedule = "constant", bool Augment = false);

/// <summary>
/// A checkpoint: the model in Keras' file layout (so Keras and `resnet evaluate` read it as a
/// model), plus the optimizer's state in an optimizer_weights group, as Keras' model.save()
/// keeps it, and the run's <see cref="TrainingSettings"/> as a JSON attribute. Written whole or
/// not at all (a temporary file renamed into place), so a run killed while saving leaves the
/// previous checkpoint intact.
/// </summary>
public static class TrainingCheckpoint
{
    const string OptimizerGroup = "optimizer_weights", SettingsAttribute = "engine_training_state";

    /// <summary>Writes <paramref name="model"/>, its optimizer's iterations and state tensors, and <paramref name="settings"/> to <paramref name="path"/>.</summary>
    public static void Save(Model<float> model, TrainingSettings settings, string path)
    {
        var optimizer = model.Optimizer;
        var state = optimizer.StateTensors;
        KerasModelFile.Save(model, path, file =>
        {
            file.WriteStringAttribute(SettingsAttribute, Json(settings, optimizer));
            using var group = file.CreateGroup(OptimizerGroup);
            KerasAttributes.WriteStrings(group, "weight_names", state.Select((_, i) => $"{i}:0").ToArray());
            group.WriteDataset<long>("iterations:0", [], [optimizer.Iterations]);
            // Straight from host tensors: a copy of Adam's state would add its size to the process's peak memory.
            foreach (var (t, i) in state.Select((t, i) => (t, i)))
                group.WriteDataset<float>($"{i}:0", t.Shape.Dims, t.HostValues);
        });
    }

    /// <summary>The settings a checkpoint was written with (to check them against a resumed run's before loading it).</summary>
    public static TrainingSettings ReadSettings(string path)
    {
        try
        {
            using var file = Hdf5File.OpenRead(path);
            if (!file.HasAttribute(SettingsAttribute))
                throw new DataFormatException(path, $"{path}: not a training checkpoint (a model file without the {SettingsAttribute} attribute)");
            return ParseSettings(path, file.ReadStringAttribute(SettingsAttribute));
        }
        catch (Hdf5Exception e) { throw new DataFormatException(path, $"{path}: {e.Problem}", e); }
    }

    /// <summary>
    /// Loads the checkpoint's model, compiles it with <paramref name="makeOptimizer"/> and
    /// restores the optimizer's iterations and state; the model is ready for
    /// <see cref="Model{T}.Fit"/> with initialEpoch = <see cref="TrainingSettings.EpochsDone"/>.
    /// </summary>
    public static (Model<float> Model, TrainingSettings Settings) Load(string path, Func<IEnumerable<Engine.Autograd.Variable<float>>, Optimizer<float>> makeOptimizer)
    {
        var settings = ReadSettings(path);
        var model = KerasModelFile.Load(path);
        model.Compile(makeOptimizer: makeOptimizer, metrics: ["accuracy"]);
        var optimizer = model.Optimizer;
        var state = optimizer.StateTensors;
        try
        {
            using var file = Hdf5File.OpenRead(path);
            if (!file.IsGroup(OptimizerGroup)) throw new DataFormatException(path, $"{path}: no {OptimizerGroup} group, so no optimizer state to resume from");
            using var group = file.OpenGroup(OptimizerGroup);
            using (var iterations = group.OpenDataset("iterations:0"))
            {
                var count = new long[1];
                iterations.Read<long>(count);
                optimizer.Iterations = count[0];
            }
            int stored = group.ChildNames().Count(n => n != "iterations:0");
            if (stored != state.Count)
                throw new DataFormatException(path, $"{path}: {stored} optimizer state tensors, but {optimizer.GetType().Name.Split('`')[0]} on this model keeps {state.Count}");
            for (int i = 0; i < state.Count; i++)
            {
                using var dataset = group.OpenDataset($"{i}:0");
                if (!dataset.Dims.SequenceEqual(state[i].Shape.ToArray().Select(d => (long)d)))
                    throw new DataFormatException(path, $"{path}: optimizer state {i} has shape {dataset.ShapeText}, the model's parameter {state[i].Shape}");
                dataset.Read<float>(state[i].Span);
            }
        }
        catch (Hdf5Exception e) { throw new DataFormatException(path, $"{path}: {e.Problem}", e); }
        model.Training = false;
        return (model, settings);
    }

    static string Json(TrainingSettings s, Optimizer<float> optimizer)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("model", s.Model);
            json.WriteNumber("epochs", s.Epochs);
            json.WriteNumber("epochs_done", s.EpochsDone);
            json.WriteNumber("batch_size", s.BatchSize);
            json.WriteNumber("learning_rate", s.LearningRate);
            // As text: a JSON number may not hold all 64 bits of a seed exactly.
            json.WriteString("seed", s.Seed.ToString(CultureInfo.InvariantCulture));
            json.WriteString("schedule", s.Schedule);
            json.WriteBoolean("augment", s.Augment);
            json.WriteString("optimizer", optimizer.GetType().Name.Split('`')[0]);
            json.WriteNumber("iterations", optimizer.Iterations);
            json.WriteStartArray("history");
            foreach (var h in s.History ?? [])
            {
                json.WriteStartObject();
                json.WriteNumber("epoch", h.Epoch);
                json.WriteNumber("loss", h.Loss);
                json.WriteNumber("accuracy", h.Accuracy);
                if (h.ValidationLoss is double vl) json.WriteNumber("val_loss", vl);
                if (h.ValidationAccuracy is double va) json.WriteNumber("val_accuracy", va);
                json.WriteNumber("seconds", h.Elapsed.TotalSeconds);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    static TrainingSettings ParseSettings(string path, string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var r = doc.RootElement;
            var history = r.TryGetProperty("history", out var h)
                ? h.EnumerateArray().Select(e => new EpochLog(e.GetProperty("epoch").GetInt32(), e.GetProperty("loss").GetDouble(), e.GetProperty("accuracy").GetDouble(),
                    e.TryGetProperty("val_loss", out var vl) ? vl.GetDouble() : null, e.TryGetProperty("val_accuracy", out var va) ? va.GetDouble() : null,
                    TimeSpan.FromSeconds(e.GetProperty("seconds").GetDouble()))).ToArray()
                : [];
            return new TrainingSettings(r.GetProperty("model").GetString()!, r.GetProperty("epochs").GetInt32(), r.GetProperty("epochs_done").GetInt32(),
                r.GetProperty("batch_size").GetInt32(), r.GetProperty("learning_rate").GetDouble(),
                ulong.Parse(r.GetProperty("seed").GetString()!, CultureInfo.InvariantCulture), history,
                r.TryGetProperty("schedule", out var schedule) ? schedule.GetString()! : "constant",
                r.TryGetProperty("augment", out var augment) && augment.GetBoolean());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new DataFormatException(path, $"{path}: its training state is unreadable ({e.Message})", e);
        }
    }
}
