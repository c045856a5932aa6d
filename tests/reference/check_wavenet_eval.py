#!/usr/bin/env python3
"""Loads a cadenza wavenet checkpoint into its PyTorch twin (wavenet.py),
scores 16-bit PCM WAV files at the checkpoint's rate in one forward pass
each (whole file, zero history), and compares the NLL with the JSON of
`cadenza eval wavenet` (which runs in windows with the receptive field in
front of each).

usage: check_wavenet_eval.py CHECKPOINT EVAL_JSON [--class ID] WAV...
Exit 0 when |bits_torch - bits_cadenza| <= 1e-4 and the sample counts agree.
Needs torch (Debian's python3-torch works).
"""
import json
import math
import os
import sys
import wave

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wavenet import load_checkpoint  # noqa: E402


def read_wav(path, rate):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path + ": need mono 16-bit PCM"
        assert w.getframerate() == rate, f"{path}: {w.getframerate()} Hz, the checkpoint is {rate} Hz"
        pcm = torch.frombuffer(bytearray(w.readframes(w.getnframes())), dtype=torch.int16)
    return pcm.float() / 32768.0


def mu_law(x, q):
    mu = q - 1.0
    x = x.clamp(-1, 1)
    x_mu = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return ((x_mu + 1) / 2 * mu + 0.5).to(torch.int64)


def main():
    args = sys.argv[1:]
    ckpt, ej = args[0], args[1]
    label = None
    files = args[2:]
    if files[:1] == ["--class"]:
        label, files = int(files[1]), files[2:]
    model, cfg = load_checkpoint(ckpt)
    model = model.double()
    total, n = 0.0, 0
    with torch.no_grad():
        for f in files:
            ids = mu_law(read_wav(f, cfg["sample_rate"]), cfg["quantize"]).unsqueeze(0)
            g = torch.tensor([label]) if label is not None else None
            logits = model(ids[:, :-1], None, g)
            total += F.cross_entropy(logits, ids[:, 1:], reduction="sum").item()
            n += ids.size(1) - 1
    bits = total / n / math.log(2)
    got = json.load(open(ej))
    print(f"torch {bits:.6f} bits/sample over {n} samples; cadenza {got['bits_per_sample']:.6f} over {got['samples']}")
    if got["samples"] != n or abs(bits - got["bits_per_sample"]) > 1e-4:
        print("MISMATCH")
        sys.exit(1)


if __name__ == "__main__":
    main()
