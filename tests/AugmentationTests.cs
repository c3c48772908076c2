using Engine.Autograd;
using Engine.Layers;
using Engine.ResNet.Training;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>The training recipe's pieces: augmented images, and batch norm statistics re-estimated after training.</summary>
public class AugmentationTests
{
    [Test]
    public void A_bright_dot_moves_at_most_four_pixels_mirrors_and_changes_brightness()
    {
        const int h = 16, w = 32;
        var rng = new Rng(5);
        var shifts = new HashSet<(int, int)>();
        int mirrored = 0, trials = 400;
        double darkest = 1, brightest = 0;
        for (int t = 0; t < trials; t++)
        {
            // One channel, a 0.5 dot at (8, 6) on black: where it lands says what was done.
            var image = new float[h * w];
            image[8 * w + 6] = 0.5f;
            Augmentation.HandPhotos(image, new Shape(1, h, w, 1), rng);
            var lit = Enumerable.Range(0, h * w).Where(i => image[i] > 0).ToArray();
            Assert.That(lit, Has.Length.EqualTo(1), "a shift within the image keeps the dot one pixel");
            int y = lit[0] / w, x = lit[0] % w;
            // Unmirrored the dot is at (8 + dy, 6 + dx); mirrored at (8 + dy, 25 + dx).
            bool mirror = Math.Abs(x - 6) > 4;
            int dx = mirror ? x - (w - 1 - 6) : x - 6, dy = y - 8;
            Assert.That(Math.Abs(dx), Is.LessThanOrEqualTo(4));
            Assert.That(Math.Abs(dy), Is.LessThanOrEqualTo(4));
            shifts.Add((dy, dx));
            if (mirror) mirrored++;
            darkest = Math.Min(darkest, image[lit[0]]);
            brightest = Math.Max(brightest, image[lit[0]]);
        }
        Assert.That(shifts, Has.Count.EqualTo(81), "every shift of -4..4 each way occurs");
        Assert.That(mirrored, Is.InRange(150, 250), "about half mirrored");
        Assert.That(darkest, Is.InRange(0.5 * 0.85, 0.5 * 0.9));
        Assert.That(brightest, Is.InRange(0.5 * 1.1, 0.5 * 1.15));
    }

    [Test]
    public void Values_stay_in_0_to_1_and_the_same_generator_state_gives_the_same_batch()
    {
        var source = Enumerable.Range(0, 2 * 8 * 8 * 3).Select(i => (i * 37 % 101) / 100f).ToArray();
        var a = source.ToArray();
        var b = source.ToArray();
        Augmentation.HandPhotos(a, new Shape(2, 8, 8, 3), new Rng(9));
        Augmentation.HandPhotos(b, new Shape(2, 8, 8, 3), new Rng(9));
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a.All(v => v is >= 0 and <= 1), Is.True);
        Assert.That(a, Is.Not.EqualTo(source));
    }

    [Test]
    public void Recomputed_batch_norm_statistics_of_one_batch_are_its_mean_and_variance()
    {
        LayerNames.Reset();
        var input = Functional.Input<float>(new Shape(3, 3, 4));
        var bn = new BatchNormalization<float>();
        var x = bn.Call(input);
        x = new Flatten<float>().Call(x);
        x = new Dense<float>(2, "softmax", seed: 1).Call(x);
        var model = new Model<float>(input, x);
        var data = Initializers.Uniform<float>(new Shape(10, 3, 3, 4), -1, 3, new Rng(4));
        // Channel means and biased variances over the 90 positions, in double.
        var values = data.ToArray();
        for (int c = 0; c < 4; c++)
        {
            var channel = Enumerable.Range(0, 90).Select(i => (double)values[i * 4 + c]).ToArray();
            double mean = channel.Average(), variance = channel.Select(v => (v - mean) * (v - mean)).Average();
            bn.MovingMean.Span[c] = 123;
            Assert.That(model.RecomputeBatchNormStatistics(data, batchSize: 10), Is.EqualTo(1));
            Assert.That(bn.MovingMean.Span[c], Is.EqualTo(mean).Within(1e-5), $"mean of channel {c}");
            Assert.That(bn.MovingVariance.Span[c], Is.EqualTo(variance).Within(1e-4), $"variance of channel {c}");
        }
        Assert.That(model.Training, Is.False, "left as it was");
    }
}
