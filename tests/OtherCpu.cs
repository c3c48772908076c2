using Engine.Tensors;

namespace Engine.Tests;

/// <summary>
/// A second device whose storage is host memory but distinct from the CPU's: proves that a
/// move reaches every tensor and that batches are copied over, without a GPU. With a
/// perturbation, every value read back to the host is scaled by (1 + perturbation).
/// </summary>
sealed class OtherCpu(double perturbation = 0) : Device
{
    public static int Allocations;
    public override string Name => "other";
    public override IBackend Backend => CpuBackend.Instance;
    public override TensorStorage<T> Allocate<T>(int length)
    {
        Interlocked.Increment(ref Allocations);
        return new HostStorage<T>(this, length, perturbation);
    }
}

sealed class HostStorage<T>(Device device, int length, double perturbation) : TensorStorage<T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
{
    readonly T[] _values = new T[length];
    bool _disposed;
    public override Device Device => device;
    public override int Length => length;
    public override Span<T> HostSpan => _disposed ? throw new ObjectDisposedException("storage") : _values;
    public override bool IsDisposed => _disposed;
    public override void CopyFromHost(ReadOnlySpan<T> source) => source.CopyTo(HostSpan);
    public override void CopyToHost(Span<T> destination)
    {
        HostSpan[..destination.Length].CopyTo(destination);
        if (perturbation == 0) return;
        var factor = T.CreateChecked(1 + perturbation);
        for (int i = 0; i < destination.Length; i++) destination[i] *= factor;
    }
    public override void Dispose() => _disposed = true;
}
