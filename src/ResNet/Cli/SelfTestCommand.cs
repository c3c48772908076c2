using System.CommandLine;
using System.Globalization;
using Engine.ResNet.Diagnostics;
using Engine.Tensors;

namespace Engine.ResNet.Cli;

/// <summary>
/// `resnet selftest --device cuda`: every op and layer, forward and backward, on the GPU and on
/// the CPU from the same inputs; prints each case's largest relative difference and fails when
/// one exceeds the tolerance.
/// </summary>
static class SelfTestCommand
{
    public static Command Create()
    {
        var device = Program.DeviceOption(defaultValue: "cuda");
        var filter = new Option<string?>("--filter") { Description = "run only the cases whose names contain this text" };
        var command = new Command("selftest",
            $"Run every op and layer (forward, backward, the optimizers, a whole ResNet-50 step) on the device and on the CPU from the " +
            $"same inputs, and print the largest difference of each (relative to the output's scale; at most {DeviceParity.Tolerance:G} passes).")
        { device, filter };
        command.SetAction(parse =>
        {
            if (parse.GetValue(device) == "cpu") return Program.Fail("selftest compares a device with the CPU: choose --device cuda");
            var d = Program.ResolveDevice(parse.GetValue(device)!);
            if (d == null) return 2;
            if (d is CudaDevice cuda)
                Console.WriteLine($"{cuda.Context.DeviceName} (compute capability {cuda.Context.ComputeCapability / 10}.{cuda.Context.ComputeCapability % 10}) against the CPU");
            int failed = 0, total = 0;
            double worst = 0;
            foreach (var r in DeviceParity.Run(d, Device.Cpu, parse.GetValue(filter)))
            {
                total++;
                if (!r.Passed) failed++;
                if (r.Error == null) worst = Math.Max(worst, r.MaxRelativeDifference);
                string figure = r.Error != null ? "error" : r.MaxRelativeDifference.ToString("0.0e+00", CultureInfo.InvariantCulture);
                Console.WriteLine($"{(r.Passed ? "ok  " : "FAIL")} {figure,9}  {r.Name}{(r.Passed ? "" : r.Error != null ? $": {r.Error}" : "")}");
                if (!r.Passed && r.Largest != null)
                    foreach (var (output, difference) in r.Largest)
                        Console.WriteLine($"{"",15}{difference.ToString("0.0e+00", CultureInfo.InvariantCulture)}  {output}");
            }
            if (total == 0) return Program.Fail($"no case matches '{parse.GetValue(filter)}'");
            Console.WriteLine($"{total - failed} of {total} cases within {DeviceParity.Tolerance:G}; largest difference {worst.ToString("0.0e+00", CultureInfo.InvariantCulture)}");
            return failed == 0 ? 0 : 1;
        });
        return command;
    }
}
