#!/usr/bin/env python3
"""Writes tests/golden/conv1d.safetensors: torch.nn.Conv1d on left (causal)
and symmetric padding, with its output and the gradients of input, weight
and bias for a fixed upstream gradient, in f32 and f64.

    /usr/bin/python3 tests/reference/make_conv1d_golden.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import OUT, save  # noqa: E402

# name, B, Cin, Cout, T, K, dilation, (pad_left, pad_right), bias, dtype
CASES = [
    ("causal_k2_d1", 2, 3, 5, 17, 2, 1, (1, 0), True, torch.float32),
    ("causal_k2_d7", 3, 4, 6, 29, 2, 7, (7, 0), True, torch.float32),
    ("causal_k3_d2", 1, 5, 3, 13, 3, 2, (4, 0), False, torch.float32),
    ("same_k3_d1", 2, 3, 4, 11, 3, 1, (1, 1), True, torch.float32),
    ("valid_k2_d64", 2, 2, 3, 70, 2, 64, (0, 0), True, torch.float64),
    ("onebyone", 2, 7, 5, 9, 1, 1, (0, 0), True, torch.float32),
]


def main():
    torch.manual_seed(0)
    tensors = {}
    for name, B, cin, cout, T, K, d, (pl, pr), bias, dt in CASES:
        conv = torch.nn.Conv1d(cin, cout, K, dilation=d, bias=bias).to(dt)
        x = torch.randn(B, cin, T, dtype=dt, requires_grad=True)
        # PyTorch pads symmetrically; a left-only (causal) pad is an explicit F.pad, as wavenet_vocoder does.
        y = conv(torch.nn.functional.pad(x, (pl, pr)))
        gy = torch.randn_like(y)
        (y * gy).sum().backward()
        tensors[name + ".x"] = x
        tensors[name + ".weight"] = conv.weight
        tensors[name + ".y"] = y
        tensors[name + ".gy"] = gy
        tensors[name + ".dx"] = x.grad
        tensors[name + ".dweight"] = conv.weight.grad
        if bias:
            tensors[name + ".bias"] = conv.bias
            tensors[name + ".dbias"] = conv.bias.grad
        tensors[name + ".config"] = torch.tensor([K, d, pl, pr], dtype=torch.int64)
    save(os.path.join(OUT, "conv1d.safetensors"), tensors,
         {"source": "torch " + torch.__version__ + " nn.Conv1d, tests/reference/make_conv1d_golden.py"})


if __name__ == "__main__":
    main()
