using System.Globalization;
using System.Text;
using Engine.Tensors;

namespace Engine.Autograd;

/// <summary>How one variable's analytic gradient compared with the numerical one.</summary>
/// <param name="Analytic">The analytic gradient at <paramref name="WorstIndex"/>.</param>
/// <param name="Numeric">The numerical gradient there.</param>
/// <param name="Scale">The largest |gradient| of this variable (analytic or numeric): ~0 when the
/// variable cannot affect the output (a conv bias feeding training-mode batch norm).</param>
public sealed record GradientComparison(string Name, int Elements, double MaxRelativeError, int WorstIndex, double Analytic, double Numeric, double Scale);

/// <summary>The outcome of a <see cref="GradientCheck"/> run: one row per checked variable.</summary>
public sealed class GradientCheckReport(IReadOnlyList<GradientComparison> rows)
{
    public IReadOnlyList<GradientComparison> Rows { get; } = rows;
    /// <summary>The largest relative error over every checked variable.</summary>
    public double MaxRelativeError => Rows.Count == 0 ? 0 : Rows.Max(r => r.MaxRelativeError);
    public bool Passed(double tolerance = GradientCheck.DefaultTolerance) => MaxRelativeError <= tolerance;

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-16} {1,9} {2,14} {3,8} {4,16} {5,16}", "variable", "elements", "max rel error", "at", "analytic", "numeric"));
        foreach (var r in Rows)
            sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "{0,-16} {1,9} {2,14:E3} {3,8} {4,16:G9} {5,16:G9}", r.Name, r.Elements, r.MaxRelativeError, r.WorstIndex, r.Analytic, r.Numeric));
        return sb.ToString();
    }
}

/// <summary>
/// Checks a backward pass against finite differences, in float64. Use it on your own ops:
/// build the computation in a function of the variables you want checked, and compare.
///
/// Method: a random upstream gradient R (uniform in [-1, 1], seeded) is sent back through the
/// output, so the checked quantity is L = sum(output * R); a plain sum would give every output
/// the same weight and hide errors that cancel (BatchNorm's backward is the classic case).
/// Each input element is perturbed with the fourth-order central difference
/// (-L(x+2h) + 8 L(x+h) - 8 L(x-h) + L(x-2h)) / 12h, h = 1e-4 by default, whose truncation
/// error (~h^4) and rounding error (~1e-16 / h) are both far below the tolerance.
///
/// Error per element: |a - n| / max(|a|, |n|, floor), floor = 1e-4 * the largest |gradient| of
/// that variable: an element whose true gradient is ~0 is judged against the gradient's scale
/// instead of producing 0/0. Keep inputs away from kinks (ReLU at 0, max-pool ties) by more
/// than 2h.
/// </summary>
public static class GradientCheck
{
    public const double DefaultTolerance = 1e-6;

    /// <param name="function">Builds the output from <paramref name="variables"/>, using ops only.</param>
    /// <param name="variables">Leaves to check; their values are perturbed and restored.</param>
    /// <param name="step">Finite-difference step h.</param>
    /// <param name="seed">Seed of the random upstream gradient.</param>
    public static GradientCheckReport Run(Func<Variable<double>> function, IReadOnlyList<Variable<double>> variables,
        double step = 1e-4, ulong seed = 1234)
    {
        foreach (var v in variables)
        {
            v.RequiresGrad = true;
            v.ReleaseGrad();
        }

        Tensor<double> upstream;
        using (var tape = new Tape())
        {
            var output = function();
            var rng = new Rng(seed);
            upstream = Initializers.Uniform<double>(output.Shape, -1, 1, rng);
            tape.Backward(output, upstream);
        }

        var rows = new List<GradientComparison>();
        for (int vi = 0; vi < variables.Count; vi++)
        {
            var v = variables[vi];
            var analytic = v.Grad?.ToArray() ?? new double[v.Value.Length];
            var numeric = new double[analytic.Length];
            var values = v.Value;
            for (int i = 0; i < numeric.Length; i++)
            {
                double original = values.Span[i];
                double Eval(double x)
                {
                    values.Span[i] = x;
                    return WeightedOutput(function, upstream);
                }
                double lp2 = Eval(original + 2 * step), lp1 = Eval(original + step);
                double lm1 = Eval(original - step), lm2 = Eval(original - 2 * step);
                values.Span[i] = original;
                numeric[i] = (-lp2 + 8 * lp1 - 8 * lm1 + lm2) / (12 * step);
            }
            rows.Add(Compare(v.Name ?? $"input {vi}", analytic, numeric));
        }
        upstream.Dispose();
        return new GradientCheckReport(rows);
    }

    /// <summary>Checks a function of plain inputs: each tensor becomes a variable named "input i".</summary>
    public static GradientCheckReport Run(Func<Variable<double>[], Variable<double>> function, params Tensor<double>[] inputs)
    {
        var variables = inputs.Select((t, i) => new Variable<double>(t, requiresGrad: true, name: $"input {i}")).ToArray();
        return Run(() => function(variables), variables);
    }

    static double WeightedOutput(Func<Variable<double>> function, Tensor<double> upstream)
    {
        using var tape = Tape.Inference();
        var output = function();
        var o = output.Value.Span;
        var r = upstream.Span;
        double sum = 0;
        for (int i = 0; i < o.Length; i++) sum += o[i] * r[i];
        return sum;
    }

    static GradientComparison Compare(string name, double[] analytic, double[] numeric)
    {
        double scale = 0;
        for (int i = 0; i < analytic.Length; i++) scale = Math.Max(scale, Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric[i])));
        double floor = Math.Max(1e-4 * scale, double.Epsilon);
        double worst = 0;
        int at = 0;
        for (int i = 0; i < analytic.Length; i++)
        {
            double denominator = Math.Max(Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric[i])), floor);
            double error = Math.Abs(analytic[i] - numeric[i]) / denominator;
            if (error > worst || double.IsNaN(error)) { worst = double.IsNaN(error) ? double.PositiveInfinity : error; at = i; }
        }
        return new GradientComparison(name, analytic.Length, worst, at, analytic.Length > 0 ? analytic[at] : 0, numeric.Length > 0 ? numeric[at] : 0, scale);
    }
}
