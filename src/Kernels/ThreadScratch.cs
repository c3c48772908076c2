namespace Engine.Kernels;

/// <summary>
/// Per-thread working buffers that grow on demand and are kept, so a warm training step
/// allocates none. Pinned, so a team can address them by pointer. Each kernel holds its own
/// [ThreadStatic] slots and asks here for a buffer of at least the length it needs.
/// </summary>
static class ThreadScratch
{
    public static T[] Get<T>(ref T[]? slot, int length) where T : unmanaged =>
        slot is { } a && a.Length >= length ? a : slot = GC.AllocateUninitializedArray<T>(length, pinned: true);
}
