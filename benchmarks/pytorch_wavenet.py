#!/usr/bin/env python3
"""Times PyTorch on cadenza's WaveNet workloads (DESIGN.md) with the PyTorch
twin of the model (tests/reference/wavenet.py) and prints one JSON line per
workload in the format of `cadenza bench NAME --json`:

  W2    training step: 2x10 layers, kernel 2, residual 64, gate 128, skip 256,
        256 classes, batch 4 x 4096 samples, cross-entropy, Adam, clipping
  W3    generation, one stream: cached incremental generation as
        r9y9/wavenet_vocoder's incremental_forward does it (each layer keeps
        its last (K-1) d + 1 inputs; the dilated conv is one linear map over
        the taps), sampling from the softmax every step
  W3x8  the same with 8 streams

W3 and W3x8 time --samples samples (default 2000; cadenza times 16000) and
report samples per second.

usage: pytorch_wavenet.py [--threads N] [--seconds S] [--samples N] [W2 W3 W3x8]
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from wavenet import WaveNet  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

CFG = {"model": "wavenet", "layers": 20, "stacks": 2, "kernel_size": 2, "residual_channels": 64,
       "gate_channels": 128, "skip_channels": 256, "quantize": 256, "cin_channels": 0, "gin_channels": 0,
       "n_classes": 0, "upsample_scales": [], "dropout": 0.0, "sample_rate": 16000, "n_fft": 1024,
       "hop_length": 256, "n_mels": 0, "fmin": 0.0, "fmax": 8000.0, "class_names": []}


def w2():
    torch.manual_seed(1)
    model = WaveNet(CFG)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    ids = torch.randint(0, 256, (4, 4097))
    x, y = ids[:, :-1], ids[:, 1:]

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step, 4 * 4096, "step", "samples/s", 1.0


def w3(streams, samples):
    torch.manual_seed(1)
    model = WaveNet(CFG).eval()
    R, K, Q = CFG["residual_channels"], CFG["kernel_size"], CFG["quantize"]
    first = model.first_conv.weight[:, :, 0].t().contiguous() + model.first_conv.bias  # [Q, R]
    layers = []
    for f in model.conv_layers:
        # Taps oldest first, as the buffer holds them: [G, K * R].
        w = f.conv.weight.permute(0, 2, 1).reshape(f.conv.weight.size(0), -1)
        layers.append((f.dilation, w, f.conv.bias, f.conv1x1_out, f.conv1x1_skip))
    last1, last3 = model.last_conv_layers[1], model.last_conv_layers[3]

    def generate():
        with torch.no_grad():
            bufs = [torch.zeros(streams, (K - 1) * d + 1, R) for d, *_ in layers]
            x = torch.full((streams,), 128, dtype=torch.long)
            for _ in range(samples):
                h = first[x]
                skips = 0
                for i, (d, w, b, out, skip) in enumerate(layers):
                    bufs[i] = torch.cat([bufs[i][:, 1:], h.unsqueeze(1)], 1)
                    z = F.linear(bufs[i][:, ::d].reshape(streams, -1), w, b)
                    a, g = z.split(z.size(1) // 2, 1)
                    u = torch.tanh(a) * torch.sigmoid(g)
                    skips = skips + F.linear(u, skip.weight[:, :, 0], skip.bias)
                    h = (F.linear(u, out.weight[:, :, 0], out.bias) + h) * math.sqrt(0.5)
                s = torch.relu(skips * math.sqrt(1.0 / len(layers)))
                s = torch.relu(F.linear(s, last1.weight[:, :, 0], last1.bias))
                logits = F.linear(s, last3.weight[:, :, 0], last3.bias)
                x = torch.multinomial(torch.softmax(logits, -1), 1).view(-1)
    return generate, streams * samples, f"{samples} samples x {streams}", "samples/s", 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("workloads", nargs="*", default=["W2", "W3", "W3x8"])
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    makers = {"W2": w2, "W3": lambda: w3(1, a.samples), "W3x8": lambda: w3(8, a.samples)}
    for name in a.workloads:
        timing.run(name, *makers[name](), a.seconds)


if __name__ == "__main__":
    main()
