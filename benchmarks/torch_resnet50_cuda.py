#!/usr/bin/env python3
"""PyTorch's eager ResNet-50 on an NVIDIA GPU: the reference for `resnet bench --device cuda`.

The network is the assignment's ResNet-50 for 64x64x3 images and 6 classes (Keras layout:
convolutions with bias, batch norm epsilon 1e-3 and Keras momentum 0.99), trained with Adam on
one fixed random batch that stays on the GPU, as the engine's benchmark does. Every timed step
ends with torch.cuda.synchronize(), so a time covers the GPU's work, not only its queuing.

    python3 benchmarks/torch_resnet50_cuda.py [--batch 32] [--steps 30] [--warmup 5]

prints one line per configuration: float32 with TF32 off (the arithmetic the engine does) and
PyTorch's defaults (cuDNN may use TF32 tensor cores for convolutions), each in NCHW and
channels-last; and a JSON line with every figure.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def batch_norm(channels):
    # Keras' momentum 0.99 keeps 99% of the old statistic; PyTorch's momentum is the new share.
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class Block(nn.Module):
    """The assignment's identity block (no projection) or convolutional block (projection, stride s)."""

    def __init__(self, inputs, filters, stride=1, project=False):
        super().__init__()
        f1, f2, f3 = filters
        self.a = nn.Conv2d(inputs, f1, 1, stride=stride)
        self.bn_a = batch_norm(f1)
        self.b = nn.Conv2d(f1, f2, 3, padding=1)
        self.bn_b = batch_norm(f2)
        self.c = nn.Conv2d(f2, f3, 1)
        self.bn_c = batch_norm(f3)
        self.shortcut = nn.Sequential(nn.Conv2d(inputs, f3, 1, stride=stride), batch_norm(f3)) if project else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn_a(self.a(x)))
        y = F.relu(self.bn_b(self.b(y)))
        y = self.bn_c(self.c(y))
        return F.relu(y + self.shortcut(x))


def stage(inputs, filters, blocks, stride):
    layers = [Block(inputs, filters, stride, project=True)]
    layers += [Block(filters[2], filters) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet50(nn.Module):
    def __init__(self, classes=6):
        super().__init__()
        self.stem = nn.Sequential(nn.ZeroPad2d(3), nn.Conv2d(3, 64, 7, stride=2), batch_norm(64), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.stages = nn.Sequential(
            stage(64, (64, 64, 256), 3, 1),
            stage(256, (128, 128, 512), 4, 2),
            stage(512, (256, 256, 1024), 6, 2),
            stage(1024, (512, 512, 2048), 3, 2))
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


def median_ms(fn, warmup, steps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(batch, tf32, channels_last, warmup, steps):
    # PyTorch's defaults: cuDNN may use TF32 for convolutions, matrix products stay float32.
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = ResNet50().to(device)
    x = torch.rand(batch, 3, 64, 64, device=device)
    y = torch.randint(0, 6, (batch,), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    def inference():
        with torch.no_grad():
            model(x)

    model.train()
    train_ms = median_ms(train_step, warmup, steps)
    model.eval()
    infer_ms = median_ms(inference, warmup, steps)
    return dict(batch=batch, tf32=tf32, channels_last=channels_last, train_step_ms=train_ms, train_img_s=batch / train_ms * 1e3,
                infer_ms=infer_ms, infer_img_s=batch / infer_ms * 1e3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name(0)}, eager, batch {args.batch}, medians of {args.steps} steps")
    results = []
    for tf32 in (False, True):
        for channels_last in (False, True):
            r = measure(args.batch, tf32, channels_last, args.warmup, args.steps)
            results.append(r)
            arithmetic = "TF32 allowed (default)" if tf32 else "float32, TF32 off"
            layout = "channels-last" if channels_last else "NCHW"
            print(f"{arithmetic:24} {layout:14} train {r['train_img_s']:8.1f} img/s ({r['train_step_ms']:.2f} ms)"
                  f"   inference {r['infer_img_s']:8.1f} img/s ({r['infer_ms']:.2f} ms)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
