#!/usr/bin/env python3
"""Checks that a cadenza MusicGAN checkpoint loads into the PyTorch twin
(tests/reference/musicgan.py, strictly, both networks) and that the twin's
generator, in eval mode, gives the outputs cadenza wrote for the same
latents (`cadenza sample musicgan --latents Z.npy --npy OUT.npy`).

    check_musicgan_sample.py CHECKPOINT Z.npy OUT.npy
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from musicgan import load_checkpoint  # noqa: E402


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    gen, critic, cfg = load_checkpoint(sys.argv[1])
    z = torch.from_numpy(np.load(sys.argv[2]))
    want = np.load(sys.argv[3])
    with torch.no_grad():
        got = gen(z).numpy()
        scores = critic(torch.from_numpy(want))
    if got.shape != want.shape:
        print(f"check_musicgan_sample: shapes differ: twin {got.shape}, cadenza {want.shape}", file=sys.stderr)
        return 1
    worst = float(np.max(np.abs(got - want)))
    if not worst <= 1e-4 or not torch.isfinite(scores).all():
        print(f"check_musicgan_sample: the twin's outputs differ by up to {worst}", file=sys.stderr)
        return 1
    print(f"check_musicgan_sample: {cfg['tracks']} tracks, {got.shape[0]} rolls, worst difference {worst:.2e}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
