#!/usr/bin/env python3
"""Trains the PyTorch twin of cadenza's WaveNet (tests/reference/wavenet.py)
for a wall-clock budget on the same audio as a cadenza run, and saves a
checkpoint in cadenza's format, so `cadenza eval wavenet` scores both models
the same way (benchmarks/WAVENET.md).

The recipe is cadenza's: random crops of --crop samples from the training
files, next-sample cross-entropy over 256 mu-law classes, Adam at a constant
--lr, global-norm clipping at 1. The training files are those of a cadenza
run's data minus its held-out files (given), read as 16-bit mono WAV at the
model's rate (cadenza also trims leading and trailing silence; this does not).

usage: pytorch_wavenet_train.py --data DIR --held-out A.wav,B.wav --out X.safetensors
           --minutes M [--layers 12 --stacks 2 --residual 32 --gate 64 --skip 64
           --batch 4 --crop 4096 --lr 2e-3 --threads 2 --seed 1]
"""
import argparse
import json
import math
import os
import struct
import sys
import time
import wave

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from wavenet import WaveNet  # noqa: E402


def mu_law(x, q=256):
    mu = q - 1.0
    x = x.clamp(-1, 1)
    return ((torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu) + 1) / 2 * mu + 0.5).to(torch.int64)


def read(path, rate):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == rate and w.getsampwidth() == 2, path
        pcm = torch.frombuffer(bytearray(w.readframes(w.getnframes())), dtype=torch.int16).float() / 32768.0
        if w.getnchannels() > 1:
            pcm = pcm.view(-1, w.getnchannels()).mean(1)
    return pcm


def save(path, model, cfg, steps):
    tensors = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"config": json.dumps(cfg), "format": "cadenza.wavenet.v1",
                              "source": f"benchmarks/pytorch_wavenet_train.py, torch {torch.__version__}, {steps} steps"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--held-out", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--stacks", type=int, default=2)
    ap.add_argument("--residual", type=int, default=32)
    ap.add_argument("--gate", type=int, default=64)
    ap.add_argument("--skip", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = {"model": "wavenet", "layers": a.layers, "stacks": a.stacks, "kernel_size": 2,
           "residual_channels": a.residual, "gate_channels": a.gate, "skip_channels": a.skip, "quantize": 256,
           "cin_channels": 0, "gin_channels": 16, "n_classes": 0, "upsample_scales": [], "dropout": 0.05,
           "sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "n_mels": 0, "fmin": 125.0, "fmax": 7600.0,
           "class_names": []}
    held = {os.path.basename(p) for p in a.held_out.split(",")}
    clips = [mu_law(read(os.path.join(a.data, f), 16000)) for f in sorted(os.listdir(a.data))
             if f.endswith(".wav") and f not in held]
    clips = [c for c in clips if c.numel() > a.crop + 1]
    weights = torch.tensor([float(c.numel() - a.crop) for c in clips])
    model = WaveNet(cfg).train()
    opt = torch.optim.Adam(model.parameters(), a.lr)
    g = torch.Generator().manual_seed(a.seed)
    start, steps, loss_sum = time.time(), 0, 0.0
    while time.time() - start < a.minutes * 60:
        rows = []
        for i in torch.multinomial(weights, a.batch, replacement=True, generator=g).tolist():
            s = int(torch.randint(0, clips[i].numel() - a.crop - 1, (1,), generator=g))
            rows.append(clips[i][s:s + a.crop + 1])
        x = torch.stack(rows)
        opt.zero_grad()
        loss = F.cross_entropy(model(x[:, :-1]), x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps += 1
        loss_sum += loss.item()
        if steps % 100 == 0:
            print(f"step {steps}  loss {loss_sum / 100:.4f}  {time.time() - start:.0f}s", flush=True)
            loss_sum = 0.0
    save(a.out, model, cfg, steps)
    print(json.dumps({"steps": steps, "seconds": time.time() - start, "out": a.out, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
