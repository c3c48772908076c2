using Engine.Layers;
using Engine.ResNet.Diagnostics;
using Engine.ResNet.Models;
using Engine.Tensors;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The CUDA backend against the CPU: every op and layer, forward and backward, and whole
/// networks training, through <see cref="DeviceParity"/> (what `resnet selftest --device cuda`
/// runs), and tensors moving between the devices. Skipped, saying why, where no GPU can be used.
/// </summary>
[NonParallelizable]
public class CudaBackendTests
{
    static CudaDevice Gpu()
    {
        if (!CudaDevice.TryGetDefault(out var device, out string reason)) Assert.Ignore($"no CUDA device: {reason}");
        return device!;
    }

    public static IEnumerable<string> ParityCases => DeviceParity.CaseNames;

    [TestCaseSource(nameof(ParityCases))]
    public void Op_matches_the_cpu(string name)
    {
        var gpu = Gpu();
        // The filter matches by substring: it narrows the run, the name picks the case.
        var result = DeviceParity.Run(gpu, Device.Cpu, filter: name).Single(r => r.Name == name);
        Assert.That(result.Error, Is.Null);
        Assert.That(result.MaxRelativeDifference, Is.LessThanOrEqualTo(DeviceParity.Tolerance), $"worst output: {result.Worst}");
    }

    [Test]
    public void A_tensor_goes_to_the_gpu_and_back_unchanged()
    {
        var gpu = Gpu();
        var values = Enumerable.Range(0, 1001).Select(i => (float)Math.Sin(i)).ToArray();
        using var onGpu = Tensor<float>.FromArray(values, new Shape(7, 11, 13), gpu);
        Assert.That(onGpu.Device, Is.SameAs(gpu));
        Assert.Throws<InvalidOperationException>(() => _ = onGpu.Span[0]);
        using var back = onGpu.To(Device.Cpu);
        Assert.That(back.ToArray(), Is.EqualTo(values));
        Assert.That(onGpu.ToArray(), Is.EqualTo(values));
    }

}

/// <summary>
/// The parity harness itself, on a second host device (every machine has one): it runs every
/// case end to end and it fails a device whose results are off.
/// </summary>
public class DeviceParityTests
{
    [Test]
    public void Parity_of_the_cpu_with_another_host_device_finds_nothing()
    {
        // Every case runs end to end through a second device (data moved there and back) and
        // finds at most rounding: the same kernels on the same values, except that inference folds
        // batch norms into convolutions on the CPU device only.
        var results = DeviceParity.Run(new OtherCpu(), Device.Cpu).ToArray();
        Assert.That(results.Select(r => r.Name), Is.EqualTo(DeviceParity.CaseNames));
        foreach (var r in results)
        {
            Assert.That(r.Error, Is.Null, r.Name);
            Assert.That(r.MaxRelativeDifference, Is.LessThanOrEqualTo(r.Name.Contains("inference, batch 4") ? 1e-6 : 1e-12), $"{r.Name}: {r.Worst}");
        }
    }

    [Test]
    public void Parity_catches_a_device_whose_results_are_off_by_a_little()
    {
        // 3e-4 relative on every value read back: above the tolerance, as a kernel bug of that size would be.
        var results = DeviceParity.Run(new OtherCpu(perturbation: 3e-4), Device.Cpu, filter: "conv").ToArray();
        Assert.That(results, Is.Not.Empty);
        foreach (var r in results)
        {
            Assert.That(r.Passed, Is.False, r.Name);
            Assert.That(r.MaxRelativeDifference, Is.EqualTo(3e-4).Within(1e-4), r.Name);
        }
    }
}
