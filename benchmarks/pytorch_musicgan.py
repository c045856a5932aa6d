#!/usr/bin/env python3
"""Times PyTorch on cadenza's MusicGAN workload (W5 of DESIGN.md) with the
PyTorch twin of the model (tests/reference/musicgan.py) and prints one JSON
line in the format of `cadenza bench W5 --json`:

  W5    one WGAN-GP critic update (the generator's rolls without history, the
        critic on real, fake and interpolated rolls, the penalty's double
        backward) and one generator update, batch 16, 4 tracks x 4 bars x 48
        steps x 84 pitches, MuseGAN's sizes, Adam 2e-4 (0.5, 0.9)

usage: pytorch_musicgan.py [--threads N] [--seconds S]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from musicgan import Critic, Generator, critic_loss  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402

CFG = {"model": "musicgan", "tracks": 4, "bars": 4, "steps_per_bar": 48, "pitches": 84, "lowest_pitch": 24,
       "z_dim": 32, "temporal_channels": 1024, "gen_channels": 64, "critic_channels": 16, "output": "sigmoid",
       "critic_norm": "layer"}


def w5():
    torch.manual_seed(1)
    gen, critic = Generator(CFG), Critic(CFG)
    opt_g = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(critic.parameters(), 2e-4, betas=(0.5, 0.9))
    B = 16
    real = (torch.rand(B, 4, 4, 48, 84) < 0.05).float()
    rows = 2 + 2 * CFG["tracks"]

    def step():
        with torch.no_grad():
            fake = gen(torch.randn(B, rows, CFG["z_dim"]))
        eps = torch.rand(B, 1, 1, 1, 1)
        opt_d.zero_grad()
        critic_loss(critic, real, fake, eps, 10.0)[0].backward()
        opt_d.step()
        for p in critic.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad()
        (-critic(gen(torch.randn(B, rows, CFG["z_dim"]))).mean()).backward()
        opt_g.step()
        for p in critic.parameters():
            p.requires_grad_(True)
    return step, 2.0 * B, "step", "segments/s", 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("workloads", nargs="*", default=["W5"])
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    for name in a.workloads:
        if name != "W5":
            sys.exit(f"pytorch_musicgan.py: unknown workload {name} (W5)")
        timing.run(name, *w5(), a.seconds)


if __name__ == "__main__":
    main()
