using System.Runtime.ExceptionServices;

namespace Engine.Kernels;

/// <summary>Work run by every member of a <see cref="ThreadTeam"/> at once.</summary>
public abstract class TeamJob
{
    /// <summary>Runs on each of <paramref name="threadCount"/> threads, all at the same time.</summary>
    public abstract void Execute(int threadIndex, int threadCount, ThreadTeam team);
}

/// <summary>
/// A fixed team of threads that run one job together, OpenMP style: every member is live at
/// once, so members may meet at <see cref="Barrier"/> (Parallel.For makes no such promise).
/// Workers spin briefly after a job, then sleep, so back-to-back kernels start in microseconds
/// without burning a core while the process is idle. A job started while the team is busy
/// (a kernel called from two threads, or from inside another team job) runs on the caller
/// alone. If a member throws, the others leave their barriers and Run rethrows.
/// </summary>
public sealed class ThreadTeam
{
    static readonly Lazy<ThreadTeam> SharedTeam = new(CreateShared);

    /// <summary>The process-wide team: one member per core unless ENGINE_THREADS says otherwise.</summary>
    public static ThreadTeam Shared => SharedTeam.Value;

    static ThreadTeam CreateShared()
    {
        int n = Environment.ProcessorCount;
        if (int.TryParse(Environment.GetEnvironmentVariable("ENGINE_THREADS"), out int e) && e > 0) n = e;
        return new ThreadTeam(n);
    }

    readonly int _size;
    int _busy;
    readonly SemaphoreSlim[] _wake;
    TeamJob? _job;
    volatile int _generation;
    int _pending;
    Exception? _failure;
    int _barrierCount;
    volatile int _barrierPhase;

    public ThreadTeam(int size)
    {
        _size = Math.Max(1, size);
        _wake = new SemaphoreSlim[_size];
        for (int i = 1; i < _size; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i;
            new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"engine-worker-{i}" }.Start();
        }
    }

    /// <summary>Number of threads a job runs on (the caller included).</summary>
    public int Size => _size;

    /// <summary>Below this many multiply-adds (~1 MFLOP) waking the other members costs more than they save.</summary>
    public const long SplitThreshold = 500_000;

    /// <summary>Whether a job of <paramref name="multiplyAdds"/> is worth splitting over the members (a team of one never splits).</summary>
    public bool WorthSplitting(long multiplyAdds) => _size > 1 && multiplyAdds >= SplitThreshold;

    /// <summary>Runs <paramref name="job"/> on every member when <see cref="WorthSplitting"/>, else on the caller alone.</summary>
    public void Run(TeamJob job, long multiplyAdds)
    {
        if (WorthSplitting(multiplyAdds)) Run(job);
        else job.Execute(0, 1, Solo);
    }

    /// <summary>Runs <paramref name="job"/> on every member; returns when all have finished.</summary>
    public void Run(TeamJob job)
    {
        // Not a Monitor: it would let the thread already running a job re-enter and corrupt it.
        if (_size == 1 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            job.Execute(0, 1, Solo);
            return;
        }
        try
        {
            _job = job;
            _failure = null;
            _barrierCount = 0;
            Volatile.Write(ref _pending, _size - 1);
            _generation++;
            for (int i = 1; i < _size; i++) _wake[i].Release();
            try { job.Execute(0, _size, this); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _job = null;
            if (_failure is { } failure && failure is not TeamAbandonedException) ExceptionDispatchInfo.Capture(failure).Throw();
        }
        finally { Volatile.Write(ref _busy, 0); }
    }

    /// <summary>Waits until every member of the running job has reached this call.</summary>
    public void Barrier()
    {
        if (_size == 1) return;
        int phase = _barrierPhase;
        if (Interlocked.Increment(ref _barrierCount) == _size)
        {
            _barrierCount = 0;
            _barrierPhase = phase + 1;
            return;
        }
        var spin = new SpinWait();
        while (_barrierPhase == phase)
        {
            // A member that threw will never arrive: leave instead of waiting forever.
            if (Volatile.Read(ref _failure) != null) throw new TeamAbandonedException();
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Thrown out of a barrier whose job another member has already failed.</summary>
    sealed class TeamAbandonedException() : Exception("another member of the thread team failed");

    /// <summary>A team of one: jobs run inline on the caller, barriers return at once.</summary>
    public static readonly ThreadTeam Solo = new(1);

    void WorkerLoop(int index)
    {
        int seen = 0;
        while (true)
        {
            // Spin a little first: kernels come in quick succession during a training step.
            var spin = new SpinWait();
            while (_generation == seen && spin.Count < 200) spin.SpinOnce(sleep1Threshold: -1);
            _wake[index].Wait();
            seen = _generation;
            try { _job!.Execute(index, _size, this); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }
            Interlocked.Decrement(ref _pending);
        }
    }
}
