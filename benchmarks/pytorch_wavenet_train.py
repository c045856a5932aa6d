#!/usr/bin/env python3
"""Trains the PyTorch twin of cadenza's WaveNet (tests/reference/wavenet.py)
for a wall-clock budget on the same data as a cadenza run, and saves a
checkpoint in cadenza's format, so `cadenza eval wavenet` and `cadenza sample
wavenet --mel` score both models the same way (benchmarks/WAVENET.md).

The model and the data come from the cadenza run's RUN/corpus.json: its
config (layers, channels, dropout, conditioning, mel settings) and its
training clips as cadenza decoded them (resampled, trimmed of silence,
cached as float WAVs) with their cached log-mel features. The recipe is
cadenza's: random crops of --crop samples starting on a hop boundary (every
sample without mel), next-sample cross-entropy over the mu-law classes, Adam
at a constant --lr, global-norm clipping at 1.

usage: pytorch_wavenet_train.py --corpus RUN/corpus.json --out X.safetensors --minutes M
           [--batch 4 --crop 4096 --lr 2e-3 --threads 2 --seed 1]
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from wavenet import WaveNet  # noqa: E402


def mu_law(x, q=256):
    mu = q - 1.0
    x = x.clamp(-1, 1)
    return ((torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu) + 1) / 2 * mu + 0.5).to(torch.int64)


def read_float_wav(path):
    """A mono 32-bit float WAV (cadenza's audio cache) as a float tensor."""
    with open(path, "rb") as f:
        b = f.read()
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE", f"{path}: not a RIFF WAVE file"
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(b):
        tag, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            fmt = struct.unpack("<HHIIHH", b[pos + 8:pos + 24])
        elif tag == b"data":
            data = b[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    assert fmt and data is not None, f"{path}: no fmt or data chunk"
    tag, channels, bits = fmt[0], fmt[1], fmt[5]
    assert tag in (3, 0xFFFE) and channels == 1 and bits == 32, f"{path}: not mono float32 (format {fmt})"
    return torch.frombuffer(bytearray(data), dtype=torch.float32)


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
    ap.add_argument("--corpus", required=True, help="RUN/corpus.json of a cadenza wavenet run")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.corpus) as f:
        corpus = json.load(f)
    cfg = corpus["config"]
    mel = cfg["cin_channels"] > 0
    hop = cfg["hop_length"] if mel else 1
    clips = []
    for c in corpus["train"]:
        ids = mu_law(read_float_wav(c["audio"]), cfg["quantize"])
        assert ids.numel() == c["samples"], f"{c['audio']}: {ids.numel()} samples, corpus.json says {c['samples']}"
        m = torch.from_numpy(np.load(c["mel"])) if mel else None
        assert m is None or (m.dtype == torch.float32 and m.shape[0] == cfg["n_mels"]), f"{c['mel']}: {m.dtype} {tuple(m.shape)}"
        if ids.numel() >= a.crop + 1:
            clips.append((ids, m, c["label"]))
    assert clips, f"no training clip in {a.corpus} holds a crop of {a.crop + 1} samples"
    # As cadenza draws them: one index over every crop start of every clip.
    spans = torch.tensor([(ids.numel() - a.crop - 1) // hop + 1 for ids, _, _ in clips], dtype=torch.float64)
    frames = (a.crop + hop - 1) // hop
    model = WaveNet(cfg).train()
    opt = torch.optim.Adam(model.parameters(), a.lr)
    g = torch.Generator().manual_seed(a.seed)
    start, steps, loss_sum = time.time(), 0, 0.0
    while time.time() - start < a.minutes * 60:
        xs, cs, gs = [], [], []
        for i in torch.multinomial(spans, a.batch, replacement=True, generator=g).tolist():
            ids, m, label = clips[i]
            s = int(torch.randint(0, int(spans[i]), (1,), generator=g)) * hop
            xs.append(ids[s:s + a.crop + 1])
            if mel:
                f = torch.clamp(torch.arange(s // hop, s // hop + frames), max=m.shape[1] - 1)
                cs.append(m[:, f])
            gs.append(label)
        x = torch.stack(xs)
        c = torch.stack(cs) if mel else None
        cls = torch.tensor(gs) if cfg["n_classes"] > 0 else None
        opt.zero_grad()
        loss = F.cross_entropy(model(x[:, :-1], c, cls), x[:, 1:])
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
