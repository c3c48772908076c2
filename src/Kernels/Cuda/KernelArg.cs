using System.Runtime.InteropServices;

namespace Engine.Kernels.Cuda;

/// <summary>
/// One kernel parameter, 8 bytes: a device address (ulong), int, uint, long, float or double.
/// The driver reads each parameter through a pointer to its value, as many bytes as the kernel
/// declares; a 4-byte int or float sits in the low bytes, which is where a little-endian
/// machine (x86-64, ARM64) reads it from.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly struct KernelArg
{
    [FieldOffset(0)] readonly ulong _bits;

    KernelArg(ulong bits) => _bits = bits;

    /// <summary>The 8 bytes as passed to the kernel.</summary>
    public ulong Bits => _bits;

    /// <summary>A device address (a T* parameter).</summary>
    public static implicit operator KernelArg(ulong address) => new(address);
    /// <summary>A long long parameter.</summary>
    public static implicit operator KernelArg(long value) => new((ulong)value);
    /// <summary>An int parameter (sizes, flags).</summary>
    public static implicit operator KernelArg(int value) => new((uint)value);
    /// <summary>An unsigned parameter.</summary>
    public static implicit operator KernelArg(uint value) => new(value);
    /// <summary>A float parameter (a float32 kernel's scalars).</summary>
    public static implicit operator KernelArg(float value) => new(BitConverter.SingleToUInt32Bits(value));
    /// <summary>A double parameter (a float64 kernel's scalars).</summary>
    public static implicit operator KernelArg(double value) => new(BitConverter.DoubleToUInt64Bits(value));

    public override string ToString() => $"0x{_bits:x16}";
}
