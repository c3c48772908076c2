using System.Numerics;
using Engine.Kernels.Cuda;

namespace Engine.Tensors;

/// <summary>
/// Sums and softmax: kernels of reductions.cu and softmax.cu. Sums are deterministic: partial
/// sums go to scratch in a layout fixed by the sizes alone and are added in a second launch,
/// never with floating-point atomics.
/// </summary>
public sealed partial class CudaBackend
{
    const string ReductionsSource = "reductions.cu";
    const string SoftmaxSource = "softmax.cu";

    /// <summary>Up to this many elements one block of <see cref="SumBlockThreads"/> sums an array alone.</summary>
    const int SingleBlockSum = 32 * 1024;
    const int SumBlockThreads = 1024;
    /// <summary>Blocks of a first pass over a long array; each leaves one partial sum.</summary>
    const int MaxSumPartials = 1024;
    /// <summary>The blocks a per-column reduction aims at: enough to keep every SM of a large GPU busy.</summary>
    const int ColumnBlocksTarget = 1024;

    /// <summary>y (one element) = alpha * sum(x).</summary>
    public void SumAll<T>(Tensor<T> x, T alpha, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
        => SumInto(Ptr(x), x.Length, alpha, Ptr(y));

    /// <summary>
    /// *y = alpha * sum of the n values at x: one block for short arrays, otherwise block partials
    /// (a count fixed by n) summed by a second one-block launch.
    /// </summary>
    void SumInto<T>(ulong x, int n, T alpha, ulong y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n <= SingleBlockSum)
        {
            Launch<T>(ReductionsSource, "sum_blocks", new Dim3(1), new Dim3(SumBlockThreads), 0, x, n, Scalar(alpha), y);
            return;
        }
        int blocks = (int)Math.Min(MaxSumPartials, (n + 16L * ThreadsPerBlock - 1) / (16L * ThreadsPerBlock));
        using var partials = Scratch<T>(blocks);
        Launch<T>(ReductionsSource, "sum_blocks", new Dim3((uint)blocks), new Dim3(ThreadsPerBlock), 0, x, n, Scalar(T.One), Ptr(partials));
        Launch<T>(ReductionsSource, "sum_blocks", new Dim3(1), new Dim3(SumBlockThreads), 0, Ptr(partials), blocks, Scalar(alpha), y);
    }

    /// <summary>y[o,i] += alpha * sum_a x[o,a,i].</summary>
    public void SumAxisAccumulate<T>(Tensor<T> x, int outer, int axis, int inner, T alpha, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckAxisView(x.Length, outer, axis, inner, y.Length);
        if (x.Length == 0) return;
        var plan = PlanColumns(axis, inner, outer);
        var block = new Dim3(plan.ThreadsX, plan.ThreadsY);
        if (plan.Chunks == 1)
        {
            Launch<T>(ReductionsSource, "sum_axis", new Dim3(plan.Groups), block, 0, Ptr(x), outer, axis, inner, plan.ChunkRows, Scalar(alpha), Ptr(y), 1);
            return;
        }
        // Chunk sums [outer, chunks, inner], then the same kernel sums them over the chunks.
        using var partials = Scratch<T>(outer * plan.Chunks * inner);
        Launch<T>(ReductionsSource, "sum_axis", new Dim3(plan.Groups, (uint)plan.Chunks), block, 0,
            Ptr(x), outer, axis, inner, plan.ChunkRows, Scalar(T.One), Ptr(partials), 0);
        var finish = PlanColumns(plan.Chunks, inner, outer, chunked: false);
        Launch<T>(ReductionsSource, "sum_axis", new Dim3(finish.Groups), new Dim3(finish.ThreadsX, finish.ThreadsY), 0,
            Ptr(partials), outer, plan.Chunks, inner, plan.Chunks, Scalar(alpha), Ptr(y), 1);
    }

    /// <summary>dx[o,a,i] += alpha * dy[o,i].</summary>
    public void BroadcastAxisAccumulate<T>(Tensor<T> dy, int outer, int axis, int inner, T alpha, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckAxisView(dx.Length, outer, axis, inner, dy.Length);
        LaunchElements<T>(ReductionsSource, "broadcast_axis", dx.Length, Ptr(dy), axis, inner, Scalar(alpha), Ptr(dx), dx.Length);
    }

    /// <summary>
    /// How a sum over the rows of [rows, columns] (times <paramref name="outer"/> independent
    /// such matrices) is launched: blocks of ThreadsX threads along the columns (adjacent
    /// addresses) by ThreadsY along the rows, both powers of two, at most 256 threads; Groups
    /// blocks across outer and the columns; rows cut into Chunks of ChunkRows when that is
    /// needed to give the GPU enough blocks. It depends on the sizes only, so the partial sums,
    /// and so the rounding, are the same on every run.
    /// </summary>
    static ColumnPlan PlanColumns(int rows, int columns, int outer = 1, bool chunked = true)
    {
        int tx = Math.Min(32, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(columns, 1)));
        int ty = Math.Min(ThreadsPerBlock / tx, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(rows, 1)));
        long groups = (long)(columns + tx - 1) / tx * outer;
        int chunks = 1;
        if (chunked)
        {
            // At least four rows per thread in each chunk, at most the grid's y limit.
            long wanted = Math.Max(1, ColumnBlocksTarget / groups);
            long useful = Math.Max(1, (rows + 4L * ty - 1) / (4L * ty));
            chunks = (int)Math.Min(Math.Min(wanted, useful), 65535);
        }
        int chunkRows = (int)((rows + (long)chunks - 1) / chunks);
        if (chunkRows == 0) chunkRows = 1;
        chunks = (int)((rows + (long)chunkRows - 1) / chunkRows);
        return new ColumnPlan((uint)tx, (uint)ty, checked((uint)groups), Math.Max(chunks, 1), chunkRows);
    }

    readonly record struct ColumnPlan(uint ThreadsX, uint ThreadsY, uint Groups, int Chunks, int ChunkRows);

    static void CheckAxisView(int xLength, int outer, int axis, int inner, int yLength)
    {
        if (outer < 0 || axis < 0 || inner < 0 || (long)outer * axis * inner != xLength || (long)outer * inner != yLength)
            throw new ArgumentException($"reduction view [{outer},{axis},{inner}] does not fit lengths {xLength} -> {yLength}");
    }

    /// <summary>Row-wise softmax over the last <paramref name="classes"/> elements.</summary>
    public void Softmax<T>(Tensor<T> x, int classes, Tensor<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Kernels.Softmax.CheckRows(x.Length, classes, y.Length);
        LaunchRows<T>("softmax_forward", rows, Ptr(x), Ptr(y), rows, classes);
    }

    /// <summary>dx += y * (dy - dot(dy, y)) per row (accumulates, as the CPU backend does).</summary>
    public void SoftmaxBackward<T>(Tensor<T> y, Tensor<T> dy, int classes, Tensor<T> dx) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Kernels.Softmax.CheckRows(y.Length, classes, dx.Length);
        Kernels.Softmax.CheckRows(dy.Length, classes, dx.Length);
        LaunchRows<T>("softmax_backward", rows, Ptr(y), Ptr(dy), Ptr(dx), rows, classes);
    }

    /// <summary>
    /// loss[0] = scale * sum of the rows' cross-entropies; probabilities written. The rows'
    /// losses go to scratch and are summed on the device, so nothing waits for the host.
    /// </summary>
    public void SoftmaxCrossEntropy<T>(Tensor<T> logits, Tensor<T> targets, int classes, T scale, Tensor<T> probabilities, Tensor<T> loss)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Kernels.Softmax.CheckRows(logits.Length, classes, probabilities.Length);
        Kernels.Softmax.CheckRows(targets.Length, classes, probabilities.Length);
        using var rowLoss = Scratch<T>(rows);
        LaunchRows<T>("softmax_xent_forward", rows, Ptr(logits), Ptr(targets), Ptr(probabilities), Ptr(rowLoss), rows, classes);
        SumInto(Ptr(rowLoss), rows, scale, Ptr(loss));
    }

    /// <summary>dLogits += upstream[0] * scale * (p * sum(t) - t); upstream is read on the device.</summary>
    public void SoftmaxCrossEntropyBackward<T>(Tensor<T> probabilities, Tensor<T> targets, int classes, Tensor<T> upstream, T scale, Tensor<T> dLogits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rows = Kernels.Softmax.CheckRows(probabilities.Length, classes, dLogits.Length);
        Kernels.Softmax.CheckRows(targets.Length, classes, dLogits.Length);
        LaunchRows<T>("softmax_xent_backward", rows, Ptr(probabilities), Ptr(targets), Ptr(upstream), Scalar(scale), Ptr(dLogits), rows, classes);
    }

    /// <summary>A softmax kernel with one warp per row, 8 rows to a block, the grid looping over the rest.</summary>
    void LaunchRows<T>(string kernel, int rows, params ReadOnlySpan<KernelArg> args) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int rowsPerBlock = ThreadsPerBlock / 32;
        uint blocks = (uint)Math.Min((rows + rowsPerBlock - 1) / rowsPerBlock, 65535);
        Launch<T>(SoftmaxSource, kernel, new Dim3(blocks), new Dim3(ThreadsPerBlock), 0, args);
    }
}
