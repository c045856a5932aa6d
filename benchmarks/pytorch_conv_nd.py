#!/usr/bin/env python3
"""Times PyTorch on exactly the shapes of cadenza's conv3d and
conv_transpose3d bench workloads (MusicGAN's pitch convolutions on a
[16, 64, 4, 16, 84] piano-roll volume, kernel = stride (1, 1, 12)): forward
plus the input, weight and bias gradients, one JSON line per workload in the
format of `cadenza bench NAME --json`, with the same work counted.

usage: pytorch_conv_nd.py [--threads N] [--seconds S] [conv3d conv_transpose3d]
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

B, C, BARS, STEPS, PITCHES, OCTAVE = 16, 64, 4, 16, 84, 12


def workload(transposed):
    torch.manual_seed(1)
    cout = 64 if transposed else 128
    if transposed:
        x = torch.randn(B, C, BARS, STEPS, PITCHES // OCTAVE, requires_grad=True)
        w = (torch.randn(C, cout, 1, 1, OCTAVE) * 0.05).requires_grad_(True)
    else:
        x = torch.randn(B, C, BARS, STEPS, PITCHES, requires_grad=True)
        w = (torch.randn(cout, C, 1, 1, OCTAVE) * 0.05).requires_grad_(True)
    b = torch.randn(cout, requires_grad=True)
    stride = (1, 1, OCTAVE)
    with torch.no_grad():
        y0 = F.conv_transpose3d(x, w, b, stride=stride) if transposed else F.conv3d(x, w, b, stride=stride)
    gy = torch.randn_like(y0)

    def run():
        y = F.conv_transpose3d(x, w, b, stride=stride) if transposed else F.conv3d(x, w, b, stride=stride)
        torch.autograd.grad(y, (x, w, b), gy)
    flops = 3 * 2 * B * C * cout * BARS * STEPS * PITCHES
    return run, flops, "forward+backward", "GFLOP/s", 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("workloads", nargs="*", default=["conv3d", "conv_transpose3d"])
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    for name in a.workloads:
        if name not in ("conv3d", "conv_transpose3d"):
            sys.exit("unknown workload " + name)
        timing.run(name, *workload(name == "conv_transpose3d"), a.seconds)


if __name__ == "__main__":
    main()
