using System.Numerics;
using System.Runtime.CompilerServices;
using Engine.Kernels.Cuda;

namespace Engine.Tensors;

/// <summary>
/// Batch normalisation of x [rows, C]: kernels of batchnorm.cu. Per-channel sums over rows
/// are a partial pass over chunks of rows into scratch and a finishing pass per channel group
/// (deterministic, no atomics); the normalisation and dx are one element-wise pass each.
/// </summary>
public sealed partial class CudaBackend
{
    const string BatchNormSource = "batchnorm.cu";

    /// <summary>
    /// Training: batch mean and biased variance, moving statistics moved towards them with
    /// momentum; inference: the moving statistics (movingMean copied into mean). Writes the mean
    /// and 1/sqrt(var + eps) used; y = gamma * (x - mean) * invStd + beta (+ residual), then
    /// max(y, 0) when relu.
    /// </summary>
    public void BatchNormForward<T>(Tensor<T> x, Tensor<T> gamma, Tensor<T> beta, Tensor<T> movingMean, Tensor<T> movingVariance,
        bool training, T momentum, T epsilon, Tensor<T> mean, Tensor<T> invStd, Tensor<T> y, bool relu, Tensor<T>? residual = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = gamma.Length;
        int rows = Kernels.BatchNorm.Rows(x.Length, channels, y.Length);
        if (residual != null) Kernels.BatchNorm.Rows(residual.Length, channels, y.Length);
        if (training)
        {
            if (rows == 0) throw new ArgumentException("batch norm training needs at least one row");
            var plan = PlanColumns(rows, channels);
            using var partials = Scratch<T>(2 * plan.Chunks * channels);
            Launch<T>(BatchNormSource, "bn_moments_partial", new Dim3(plan.Groups, (uint)plan.Chunks), new Dim3(plan.ThreadsX, plan.ThreadsY), 0,
                Ptr(x), rows, channels, plan.ChunkRows, Ptr(partials));
            var finish = PlanColumns(plan.Chunks, channels, chunked: false);
            Launch<T>(BatchNormSource, "bn_moments_finish", new Dim3(finish.Groups), new Dim3(finish.ThreadsX, finish.ThreadsY), 0,
                Ptr(x), Ptr(partials), plan.Chunks, channels, Scalar(T.One / T.CreateChecked(rows)), Scalar(momentum), Scalar(epsilon),
                Ptr(movingMean), Ptr(movingVariance), Ptr(mean), Ptr(invStd));
        }
        else
        {
            Copy(movingMean, mean);
            LaunchElements<T>(BatchNormSource, "bn_inv_std", channels, Ptr(movingVariance), Scalar(epsilon), Ptr(invStd), channels);
        }
        LaunchElements<T>(BatchNormSource, "bn_normalize", PackThreads<T>(x.Length),
            Ptr(x), PtrOrZero(residual), Ptr(gamma), Ptr(beta), Ptr(mean), Ptr(invStd), Ptr(y), x.Length, channels, relu ? 1 : 0);
    }

    /// <summary>
    /// Adds the gradients into dGamma and dBeta where given and into dx (overwritten when
    /// accumulateDx is false); reluOutput, the fused forward's y, gates dy where the ReLU was
    /// closed. In training dx carries the batch statistics' dependence on x:
    /// dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)).
    /// </summary>
    public void BatchNormBackward<T>(Tensor<T> x, Tensor<T> dy, Tensor<T> gamma, Tensor<T> mean, Tensor<T> invStd, bool training,
        Tensor<T>? dx, Tensor<T>? dGamma, Tensor<T>? dBeta, Tensor<T>? reluOutput, bool accumulateDx = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int channels = gamma.Length;
        int rows = Kernels.BatchNorm.Rows(x.Length, channels, dy.Length);
        if (reluOutput != null) Kernels.BatchNorm.Rows(reluOutput.Length, channels, dy.Length);
        if (dx != null) Kernels.BatchNorm.Rows(dx.Length, channels, dy.Length);
        if (dx == null && dGamma == null && dBeta == null) return;
        var plan = PlanColumns(rows, channels);
        // dx's coefficients [3, C] first, where the allocation's alignment lets the dx pass read them in packs; the partial sums after.
        int coefficients = dx == null ? 0 : 3 * channels;
        using var scratch = Scratch<T>(coefficients + 2 * plan.Chunks * channels);
        ulong coef = dx == null ? 0UL : Ptr(scratch);
        ulong partials = Ptr(scratch) + (ulong)coefficients * (ulong)Unsafe.SizeOf<T>();
        Launch<T>(BatchNormSource, "bn_grad_partial", new Dim3(plan.Groups, (uint)plan.Chunks), new Dim3(plan.ThreadsX, plan.ThreadsY), 0,
            Ptr(dy), Ptr(x), Ptr(mean), PtrOrZero(reluOutput), rows, channels, plan.ChunkRows, partials);
        var finish = PlanColumns(plan.Chunks, channels, chunked: false);
        Launch<T>(BatchNormSource, "bn_grad_finish", new Dim3(finish.Groups), new Dim3(finish.ThreadsX, finish.ThreadsY), 0,
            partials, plan.Chunks, channels, Ptr(gamma), Ptr(mean), Ptr(invStd), Scalar(T.One / T.CreateChecked(Math.Max(rows, 1))), training ? 1 : 0,
            PtrOrZero(dGamma), PtrOrZero(dBeta), coef);
        if (dx != null)
            LaunchElements<T>(BatchNormSource, "bn_backward_dx", PackThreads<T>(x.Length),
                Ptr(dy), Ptr(x), PtrOrZero(reluOutput), coef, x.Length, channels, Ptr(dx), accumulateDx ? 1 : 0);
    }
}
