using System.Diagnostics;

namespace Engine.Autograd;

/// <summary>
/// Where the time of forward and backward passes goes, by scope (a model sets the layer it is
/// running as the scope). While a profiler is active on a thread
/// (<c>using (profiler.Activate()) { ... }</c>), every node a tape records remembers the
/// scope current at that moment, and <see cref="Tape.Backward{T}(Variable{T}, Action{Variable{T}})"/>
/// charges each node's backward to it, and the optimizer updates the tape hands parameters to
/// as they complete to <see cref="UpdateTicks"/>. Forward time is charged by whoever runs the
/// scope (<see cref="AddForward"/>). Timing is wall time on the calling thread: every op
/// finishes (its thread team joined) before it returns, so an op's time is its own.
/// </summary>
public sealed class Profiler
{
    [ThreadStatic] static Profiler? _current;

    readonly Dictionary<object, ScopeTime> _times = new(ReferenceEqualityComparer.Instance);
    readonly List<object> _order = new();

    /// <summary>The profiler active on this thread, or null.</summary>
    public static Profiler? Current => _current;

    /// <summary>What ops recorded now are charged to (null: <see cref="Unscoped"/>).</summary>
    public object? Scope { get; set; }

    /// <summary>The key for nodes recorded with no scope (a loss computed outside the model).</summary>
    public static object Unscoped { get; } = "(outside any layer)";

    /// <summary>Stopwatch ticks spent in optimizer updates made during backward (and releasing what they freed).</summary>
    public long UpdateTicks { get; private set; }

    /// <summary>Makes this profiler current on this thread until the result is disposed.</summary>
    public IDisposable Activate()
    {
        var previous = _current;
        _current = this;
        return new Restore(previous);
    }

    sealed class Restore(Profiler? previous) : IDisposable
    {
        bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _current = previous;
        }
    }

    /// <summary>Charges <paramref name="ticks"/> (Stopwatch ticks) of forward work to <paramref name="scope"/>.</summary>
    public void AddForward(object? scope, long ticks) => Charge(scope, ticks, 0);

    /// <summary>Charges <paramref name="ticks"/> of backward work to <paramref name="scope"/>.</summary>
    public void AddBackward(object? scope, long ticks) => Charge(scope, 0, ticks);

    internal void AddUpdate(long ticks) => UpdateTicks += ticks;

    void Charge(object? scope, long forward, long backward)
    {
        scope ??= Unscoped;
        if (!_times.TryGetValue(scope, out var t)) _order.Add(scope);
        _times[scope] = new ScopeTime(t.ForwardTicks + forward, t.BackwardTicks + backward);
    }

    /// <summary>Every scope charged so far, in the order each was first charged, with its totals.</summary>
    public IReadOnlyList<(object Scope, TimeSpan Forward, TimeSpan Backward)> Scopes =>
        _order.Select(s => (s, Stopwatch.GetElapsedTime(0, _times[s].ForwardTicks), Stopwatch.GetElapsedTime(0, _times[s].BackwardTicks))).ToArray();

    /// <summary>Time spent in optimizer updates during backward.</summary>
    public TimeSpan Updates => Stopwatch.GetElapsedTime(0, UpdateTicks);

    /// <summary>Forgets everything charged so far.</summary>
    public void Clear()
    {
        _times.Clear();
        _order.Clear();
        UpdateTicks = 0;
    }

    readonly record struct ScopeTime(long ForwardTicks, long BackwardTicks);
}
