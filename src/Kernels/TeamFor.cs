namespace Engine.Kernels;

/// <summary>A loop body over [start, end) run by <see cref="TeamFor.Run{TBody}"/>.</summary>
public interface IRangeBody
{
    /// <param name="member">Which share this is (0 .. members-1): an index for per-member partial results.</param>
    void Execute(int member, int start, int end);
}

/// <summary>
/// Splits [0, count) into one contiguous share per team member. The body is a struct (its
/// loop is an ordinary method, not a lambda, so nothing is captured and registers stay free)
/// and small ranges run on the caller alone.
/// </summary>
public static class TeamFor
{
    /// <summary>Members a range may be split over (bodies size per-member buffers by it).</summary>
    public static int Members(ThreadTeam? team = null) => (team ?? ThreadTeam.Shared).Size;

    /// <param name="count">Iterations.</param>
    /// <param name="body">The loop body; copied to every member.</param>
    /// <param name="minimumPerMember">Below this many iterations per member, run on the caller alone.</param>
    public static void Run<TBody>(int count, TBody body, int minimumPerMember = 1, ThreadTeam? team = null) where TBody : struct, IRangeBody
    {
        team ??= ThreadTeam.Shared;
        if (count <= 0) return;
        if (team.Size == 1 || count < 2 * minimumPerMember)
        {
            body.Execute(0, 0, count);
            return;
        }
        var job = RangeJob<TBody>.ForThisThread();
        job.Body = body;
        job.Count = count;
        team.Run(job);
    }

    sealed class RangeJob<TBody> : TeamJob where TBody : struct, IRangeBody
    {
        [ThreadStatic] static RangeJob<TBody>? _forThread;
        public static RangeJob<TBody> ForThisThread() => _forThread ??= new RangeJob<TBody>();

        public TBody Body;
        public int Count;

        public override void Execute(int threadIndex, int threadCount, ThreadTeam team)
        {
            int start = (int)((long)Count * threadIndex / threadCount);
            int end = (int)((long)Count * (threadIndex + 1) / threadCount);
            if (start < end) Body.Execute(threadIndex, start, end);
        }
    }
}
