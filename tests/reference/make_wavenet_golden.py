#!/usr/bin/env python3
"""Writes tests/golden/wavenet.safetensors: the PyTorch twin (wavenet.py) on
small configs, without conditioning, with a class id, with a mel
spectrogram and with both, in f64: every parameter, the inputs, the logits,
the next-sample cross-entropy and every parameter's gradient. The config of
each case is in __metadata__ under "<case>.config".

    /usr/bin/python3 tests/reference/make_wavenet_golden.py
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import OUT, save  # noqa: E402
from wavenet import WaveNet  # noqa: E402


def config(**kw):
    cfg = {"model": "wavenet", "layers": 6, "stacks": 2, "kernel_size": 2, "residual_channels": 8,
           "gate_channels": 12, "skip_channels": 10, "quantize": 32, "cin_channels": 0, "gin_channels": 0,
           "n_classes": 0, "upsample_scales": [], "dropout": 0.0, "sample_rate": 16000, "n_fft": 1024,
           "hop_length": 1, "n_mels": 0, "fmin": 0.0, "fmax": 8000.0, "class_names": []}
    cfg.update(kw)
    return cfg


CASES = {
    "plain": config(),
    "class": config(n_classes=3, gin_channels=4, class_names=["a", "b", "c"], kernel_size=3, layers=4),
    "mel": config(cin_channels=5, n_mels=5, upsample_scales=[2, 3], hop_length=6),
    "both": config(cin_channels=5, n_mels=5, upsample_scales=[3], hop_length=3, n_classes=2, gin_channels=3,
                   class_names=["x", "y"]),
}


def main():
    torch.manual_seed(0)
    tensors, meta = {}, {}
    B, T = 2, 37
    for name, cfg in CASES.items():
        model = WaveNet(cfg).double()
        x = torch.randint(0, cfg["quantize"], (B, T))
        c = torch.randn(B, cfg["n_mels"], (T + cfg["hop_length"] - 1) // cfg["hop_length"] + 1,
                        dtype=torch.float64) if cfg["cin_channels"] else None
        g = torch.randint(0, cfg["n_classes"], (B,)) if cfg["n_classes"] else None
        logits = model(x, c, g)
        loss = F.cross_entropy(logits[:, :, :-1], x[:, 1:])
        loss.backward()
        p = name + "."
        for k, v in model.state_dict().items():
            tensors[p + "param." + k] = v
        for k, v in model.named_parameters():
            # The last layer's residual output feeds nothing: its 1x1 gets no gradient (zeros here).
            tensors[p + "grad." + k] = v.grad if v.grad is not None else torch.zeros_like(v)
        tensors[p + "x"] = x
        if c is not None:
            tensors[p + "c"] = c
        if g is not None:
            tensors[p + "g"] = g
        tensors[p + "logits"] = logits
        tensors[p + "loss"] = loss.reshape(1)
        meta[p + "config"] = json.dumps(cfg)
    meta["source"] = "torch " + torch.__version__ + ", tests/reference/make_wavenet_golden.py"
    save(os.path.join(OUT, "wavenet.safetensors"), tensors, meta)


if __name__ == "__main__":
    main()
