using Engine.Tensors;

namespace Engine.ResNet.Training;

/// <summary>
/// Random changes to training images that keep what a hand sign means: a shift of a few pixels
/// (the hand is not always centred), a mirror image (a left hand shows as many fingers as a
/// right one) and a change of brightness (the photos' lighting varies). For
/// <see cref="Engine.Layers.Model{T}.Fit"/>'s augment argument.
/// </summary>
public static class Augmentation
{
    /// <summary>
    /// Changes a batch [B,H,W,C] of values in [0, 1] in place, each image on its own: shifted
    /// by up to <paramref name="maxShift"/> pixels each way (the border repeated into the
    /// gap), mirrored left to right with probability 1/2, and scaled in brightness by a factor
    /// in [1 - <paramref name="brightness"/>, 1 + brightness], clamped to [0, 1].
    /// </summary>
    public static void HandPhotos(Span<float> batch, Shape shape, Rng rng, int maxShift = 4, double brightness = 0.15)
    {
        if (shape.Rank != 4 || shape.Size != batch.Length) throw new ArgumentException($"augmentation takes [B,H,W,C] images, not {shape} for {batch.Length} values");
        int h = shape[1], w = shape[2], c = shape[3], size = h * w * c;
        // Called for every training batch: the one-image copy is rented, not allocated each time.
        var rented = System.Buffers.ArrayPool<float>.Shared.Rent(size);
        var source = rented.AsSpan(0, size);
        for (int i = 0; i < shape[0]; i++)
        {
            var image = batch.Slice(i * size, size);
            image.CopyTo(source);
            int dy = rng.Next(2 * maxShift + 1) - maxShift, dx = rng.Next(2 * maxShift + 1) - maxShift;
            bool mirror = rng.NextDouble() < 0.5;
            float scale = (float)rng.Uniform(1 - brightness, 1 + brightness);
            for (int y = 0; y < h; y++)
            {
                int sy = Math.Clamp(y - dy, 0, h - 1);
                for (int x = 0; x < w; x++)
                {
                    int sx = Math.Clamp(x - dx, 0, w - 1);
                    if (mirror) sx = w - 1 - sx;
                    int from = (sy * w + sx) * c, to = (y * w + x) * c;
                    for (int k = 0; k < c; k++) image[to + k] = Math.Clamp(source[from + k] * scale, 0f, 1f);
                }
            }
        }
        System.Buffers.ArrayPool<float>.Shared.Return(rented);
    }
}
