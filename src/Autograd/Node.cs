using System.Numerics;

namespace Engine.Autograd;

/// <summary>
/// One recorded op: it knows its inputs and output and how to send the output's gradient
/// back to the inputs. Subclass it (and call <see cref="Tape.Record{T}"/>) to add an op of
/// your own; <see cref="GradientCheck"/> will tell you whether its backward is right.
/// </summary>
public abstract class Node
{
    /// <summary>
    /// Adds this op's contribution to the gradient of every input that requires one, reading
    /// the output's gradient. Called once, after every consumer of the output has run.
    /// </summary>
    public abstract void Backward();

    /// <summary>What the active <see cref="Profiler"/> charges this node's backward to (the layer that recorded it).</summary>
    internal object? Scope { get; set; }

    internal abstract bool OutputHasGrad { get; }
    internal abstract void ReleaseOutputGrad();

    /// <summary>Counts, on each value <see cref="Backward"/> will read, one more pending reader.</summary>
    internal abstract void HoldValues();

    /// <summary>
    /// After this node's backward (or its skipping): the values it read lose a reader (the
    /// tape may then release them), and its parameters one pending contribution.
    /// </summary>
    internal abstract void DoneWithValues(Tape tape);

    /// <summary>Counts this node's reads of leaves that need a gradient (zeroing the counts first when <paramref name="reset"/>).</summary>
    internal abstract void CountLeafUses(bool reset);
}

/// <summary>A node whose inputs and output are variables of T.</summary>
public abstract class Node<T> : Node where T : unmanaged, IFloatingPointIeee754<T>
{
    public Variable<T> Output { get; internal set; } = null!;
    public Variable<T>[] Inputs { get; internal set; } = [];

    /// <summary>dLoss/dOutput.</summary>
    protected Tensors.Tensor<T> OutputGrad => Output.Grad!;

    internal override bool OutputHasGrad => Output.Grad != null;

    internal override void ReleaseOutputGrad()
    {
        if (Output.IsIntermediate && !Output.RetainsGrad) Output.ReleaseGrad();
    }

    /// <summary>
    /// Whether <see cref="Node.Backward"/> reads the value of input <paramref name="index"/>
    /// (a convolution reads its input, not its bias). The tape keeps an intermediate's buffer
    /// while a pending backward reads it, and may return it to the pool once none does and
    /// the forward pass is done with it (see <see cref="Tape.ReleaseWhenUnneeded{T}"/>).
    /// Override only to say false: true, the default, is always safe.
    /// </summary>
    protected internal virtual bool ReadsInputValue(int index) => true;

    /// <summary>Whether <see cref="Node.Backward"/> reads the output's value (a ReLU's mask does).</summary>
    protected internal virtual bool ReadsOutputValue => true;

    internal override void HoldValues()
    {
        for (int i = 0; i < Inputs.Length; i++)
            if (ReadsInputValue(i)) Inputs[i].PendingReaders++;
        if (ReadsOutputValue) Output.PendingReaders++;
    }

    internal override void DoneWithValues(Tape tape)
    {
        for (int i = 0; i < Inputs.Length; i++)
        {
            var input = Inputs[i];
            if (ReadsInputValue(i) && --input.PendingReaders == 0) tape.ReleaseIfUnneeded(input);
            if (!input.IsIntermediate && input.RequiresGrad && --input.PendingContributions == 0) tape.GradientComplete(input);
        }
        if (ReadsOutputValue && --Output.PendingReaders == 0) tape.ReleaseIfUnneeded(Output);
    }

    internal override void CountLeafUses(bool reset)
    {
        foreach (var input in Inputs)
            if (!input.IsIntermediate && input.RequiresGrad)
            {
                if (reset) input.PendingContributions = 0;
                else input.PendingContributions++;
            }
    }
}
