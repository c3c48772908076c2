using System.Numerics;
using Engine.Tensors;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>
    /// The same elements under a new shape of equal size. The value is a view (no copy); one
    /// dimension may be -1 and is inferred.
    /// </summary>
    public static Variable<T> Reshape<T>(Variable<T> x, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dims = (int[])shape.Clone();
        int unknown = Array.IndexOf(dims, -1);
        if (unknown >= 0)
        {
            int known = 1;
            for (int i = 0; i < dims.Length; i++) if (i != unknown) known *= dims[i];
            if (known == 0 || x.Value.Length % known != 0) throw new ArgumentException($"cannot reshape {x.Shape} to ({string.Join(", ", shape)})");
            dims[unknown] = x.Value.Length / known;
        }
        var y = Tape.Output(x.Value.Reshape(new Shape(dims)));
        y.ViewOf = x;
        x.HasViews = true;
        Tape.Record(new ReshapeNode<T>(), y, x);
        return y;
    }

    /// <summary>Keras Flatten: [N, ...] -> [N, product of the rest].</summary>
    public static Variable<T> Flatten<T>(Variable<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Shape.Rank < 1) throw new ArgumentException("flatten needs a batch axis");
        return Reshape(x, x.Shape[0], x.Shape.SizeOf(1, x.Shape.Rank));
    }

    sealed class ReshapeNode<T> : Node<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Gradients keep their own buffers: dX += dY read in X's shape (same element order).
        public override void Backward()
        {
            var dx = Inputs[0].GradForWrite(out bool accumulate);
            using var view = OutputGrad.Reshape(dx.Shape);
            if (accumulate) dx.Backend.Axpy(T.One, view, dx);
            else dx.Backend.Copy(view, dx);
        }
    }
}
