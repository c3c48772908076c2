using System.Runtime.InteropServices;

namespace Engine.ResNet.Data;

/// <summary>
/// An HDF5 identifier that is closed exactly once, by the H5*close of its kind, even when its
/// owner is never disposed (the finalizer closes it then).
/// </summary>
internal sealed class Hdf5Handle : SafeHandle
{
    readonly Hdf5Kind _kind;

    public Hdf5Handle(long id, Hdf5Kind kind) : base(0, ownsHandle: true)
    {
        _kind = kind;
        SetHandle((nint)id);
    }

    // Valid identifiers are positive; 0 is H5P_DEFAULT and negatives are failures.
    public override bool IsInvalid => handle <= 0;

    /// <summary>The identifier; throws once the handle is closed.</summary>
    public long Id
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    protected override bool ReleaseHandle() => Hdf5.Close(_kind, handle) >= 0;
}
