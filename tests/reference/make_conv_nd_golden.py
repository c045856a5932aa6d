#!/usr/bin/env python3
"""Writes tests/golden/conv_nd.safetensors: torch.nn.functional conv2d,
conv3d, conv_transpose2d and conv_transpose3d (outputs, and the gradients of
input, weight and bias for a fixed upstream gradient), and F.batch_norm
(training output, gradients and running statistics after one call, then an
evaluation output). Shapes are small and odd, plus MusicGAN's kernel ==
stride cases scaled down.

    /usr/bin/python3 tests/reference/make_conv_nd_golden.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import OUT, save  # noqa: E402

# name, op, x shape, weight shape, stride, padding, output_padding, dilation, bias, dtype
CASES = [
    ("conv2d_odd", "conv2d", (2, 3, 7, 5), (4, 3, 3, 2), (2, 1), (1, 0), None, (1, 2), True, torch.float32),
    ("conv3d_odd", "conv3d", (2, 3, 5, 7, 6), (5, 3, 2, 3, 3), (1, 2, 3), (1, 1, 0), None, (2, 1, 1), True,
     torch.float32),
    ("conv3d_octave", "conv3d", (2, 4, 2, 6, 24), (3, 4, 1, 1, 12), (1, 1, 12), (0, 0, 0), None, (1, 1, 1), False,
     torch.float32),
    ("conv3d_beat", "conv3d", (2, 3, 2, 12, 7), (4, 3, 1, 4, 3), (1, 4, 2), (0, 0, 0), None, (1, 1, 1), True,
     torch.float32),
    ("conv3d_f64", "conv3d", (1, 2, 4, 5, 3), (3, 2, 2, 1, 1), (1, 1, 1), (0, 1, 0), None, (1, 1, 1), True,
     torch.float64),
    ("convt2d_odd", "conv_transpose2d", (2, 4, 4, 3), (4, 3, 3, 3), (2, 3), (1, 0), (1, 2), (1, 1), True,
     torch.float32),
    ("convt3d_odd", "conv_transpose3d", (2, 3, 3, 4, 2), (3, 2, 2, 3, 3), (2, 1, 2), (0, 1, 1), (1, 0, 0),
     (1, 2, 1), True, torch.float32),
    ("convt3d_octave", "conv_transpose3d", (2, 4, 2, 3, 2), (4, 3, 1, 1, 12), (1, 1, 12), (0, 0, 0), (0, 0, 0),
     (1, 1, 1), True, torch.float32),
    ("convt3d_step", "conv_transpose3d", (2, 5, 2, 2, 3), (5, 2, 1, 3, 1), (1, 3, 1), (0, 0, 0), (0, 0, 0),
     (1, 1, 1), False, torch.float32),
]


def conv_cases(tensors):
    for name, op, xs, ws, stride, pad, opad, dil, bias, dt in CASES:
        x = torch.randn(*xs, dtype=dt, requires_grad=True)
        w = (torch.randn(*ws, dtype=dt) * 0.3).requires_grad_(True)
        cout = ws[1] if op.startswith("conv_transpose") else ws[0]
        b = torch.randn(cout, dtype=dt, requires_grad=True) if bias else None
        fn = getattr(F, op)
        if opad is None:
            y = fn(x, w, b, stride=stride, padding=pad, dilation=dil)
        else:
            y = fn(x, w, b, stride=stride, padding=pad, output_padding=opad, dilation=dil)
        gy = torch.randn_like(y)
        (y * gy).sum().backward()
        p = name + "."
        tensors[p + "x"] = x
        tensors[p + "weight"] = w
        tensors[p + "y"] = y
        tensors[p + "gy"] = gy
        tensors[p + "dx"] = x.grad
        tensors[p + "dweight"] = w.grad
        if bias:
            tensors[p + "bias"] = b
            tensors[p + "dbias"] = b.grad
        tensors[p + "stride"] = torch.tensor(stride, dtype=torch.int64)
        tensors[p + "padding"] = torch.tensor(pad, dtype=torch.int64)
        tensors[p + "output_padding"] = torch.tensor(opad or (0,) * len(stride), dtype=torch.int64)
        tensors[p + "dilation"] = torch.tensor(dil, dtype=torch.int64)


def batch_norm_case(tensors):
    x = (torch.randn(4, 3, 5, 6) * 2 + 1).requires_grad_(True)
    w = torch.randn(3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    rm0, rv0 = torch.randn(3), torch.rand(3) + 0.5
    rm, rv = rm0.clone(), rv0.clone()
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2, eps=1e-4)
    gy = torch.randn_like(y)
    (y * gy).sum().backward()
    y_eval = F.batch_norm(x.detach(), rm, rv, w.detach(), b.detach(), training=False, momentum=0.2, eps=1e-4)
    for k, v in {"x": x, "weight": w, "bias": b, "running_mean0": rm0, "running_var0": rv0, "y": y, "gy": gy,
                 "dx": x.grad, "dweight": w.grad, "dbias": b.grad, "running_mean": rm, "running_var": rv,
                 "y_eval": y_eval}.items():
        tensors["batch_norm." + k] = v


def main():
    torch.manual_seed(0)
    tensors = {}
    conv_cases(tensors)
    batch_norm_case(tensors)
    save(os.path.join(OUT, "conv_nd.safetensors"), tensors,
         {"source": "torch " + torch.__version__ + " torch.nn.functional, tests/reference/make_conv_nd_golden.py"})


if __name__ == "__main__":
    main()
