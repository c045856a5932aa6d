#!/usr/bin/env python3
"""Times PyTorch on exactly the shapes of cadenza's K1 workloads (DESIGN.md):
a causal dilated conv1d, kernel 2, batch 8, 64 -> 128 channels, length 16384,
forward plus the input, weight and bias gradients, and prints one JSON line
per dilation in the format of `cadenza bench NAME --json`. The causal pad is
an explicit F.pad on the left, as r9y9/wavenet_vocoder does it; the work
counted is the same as cadenza's (the taps' padded columns are not counted).

usage: pytorch_conv1d.py [--threads N] [--seconds S] [--device cpu|cuda] [K1_d1 K1_d8 K1_d64 K1_d512]
(on cuda: cuDNN's convolutions, TF32 off as in cadenza)
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

B, CIN, COUT, T, K = 8, 64, 128, 16384, 2


def k1(dilation):
    torch.manual_seed(1)
    d = timing.DEVICE
    x = torch.randn(B, CIN, T).to(d).requires_grad_()
    w = torch.randn(COUT, CIN, K).to(d).requires_grad_()
    b = torch.randn(COUT).to(d).requires_grad_()
    gy = torch.randn(B, COUT, T).to(d)

    def run():
        y = F.conv1d(F.pad(x, (dilation * (K - 1), 0)), w, b, dilation=dilation)
        torch.autograd.grad(y, (x, w, b), gy)
    flops = 3 * 2 * B * COUT * CIN * (K * T - dilation)
    return run, flops, "forward+backward", "GFLOP/s", 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("workloads", nargs="*", default=["K1_d1", "K1_d8", "K1_d64", "K1_d512"])
    a = ap.parse_args()
    timing.DEVICE = a.device
    torch.backends.cudnn.allow_tf32 = False
    if a.threads:
        torch.set_num_threads(a.threads)
    for name in a.workloads:
        timing.run(name, *k1(int(name.split("_d")[1])), a.seconds)


if __name__ == "__main__":
    main()
