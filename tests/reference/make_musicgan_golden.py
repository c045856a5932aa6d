#!/usr/bin/env python3
"""Writes tests/golden/musicgan.safetensors: the PyTorch twin (musicgan.py)
on small configs in f64, the generator in training mode (BatchNorm on batch
statistics): every parameter and buffer before the step, the latents, the
generated rolls, the critic's scores, one WGAN-GP critic loss (with the
penalty) and the gradient of every critic parameter, the generator loss
-mean(D(G(z))) and the gradient of every generator parameter, and the
BatchNorm running statistics after the generator's forward passes. The
config of each case is in __metadata__ under "<case>.config".

    /usr/bin/python3 tests/reference/make_musicgan_golden.py
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import OUT, save  # noqa: E402
from musicgan import Critic, Generator, critic_loss  # noqa: E402


def config(**kw):
    cfg = {"model": "musicgan", "tracks": 2, "bars": 2, "steps_per_bar": 16, "pitches": 84, "lowest_pitch": 24,
           "track_names": [], "programs": [], "is_drum": [], "us_per_quarter": 500000, "meter_numerator": 4,
           "meter_denominator": 4, "track_mode": "order", "z_dim": 3, "temporal_channels": 5, "gen_channels": 4,
           "critic_channels": 2, "output": "sigmoid", "time_upsample": "conv", "critic_norm": "layer"}
    cfg.update(kw)
    return cfg


CASES = {
    "small": config(),
    "tanh_4bars": config(tracks=2, bars=4, output="tanh", z_dim=2, gen_channels=6, critic_channels=1, critic_norm="none"),
    # the straight-through outputs: 0/1 rolls forward, the sigmoid's or the softmax's gradient backward
    "binary": config(output="binary", gen_channels=2, critic_channels=1),
    "voice": config(output="voice", gen_channels=2, critic_channels=1),
    # the private layers at 16 steps per bar, each step's logits held for 3 steps
    "voice_nearest": config(output="voice", time_upsample="nearest", steps_per_bar=48, gen_channels=2,
                            critic_channels=1),
    "sigmoid_nearest": config(time_upsample="nearest", steps_per_bar=32, gen_channels=2, critic_channels=1),
    # one voice with a hold choice per step: a note is one choice, held until another
    "hold_nearest": config(output="hold", time_upsample="nearest", steps_per_bar=32, gen_channels=2,
                           critic_channels=1),
}


def main():
    torch.manual_seed(0)
    tensors, meta = {}, {}
    B, lam = 2, 10.0
    for name, cfg in CASES.items():
        gen, critic = Generator(cfg).double(), Critic(cfg).double()
        p = name + "."
        for k, v in gen.state_dict().items():
            tensors[p + "generator." + k] = v.clone()
        for k, v in critic.state_dict().items():
            tensors[p + "critic." + k] = v.clone()
        z = torch.randn(B, 2 + 2 * cfg["tracks"], cfg["z_dim"], dtype=torch.float64)
        real = (torch.rand(B, cfg["tracks"], cfg["bars"], cfg["steps_per_bar"], cfg["pitches"],
                           dtype=torch.float64) > 0.8).double()
        eps = torch.rand(B, 1, 1, 1, 1, dtype=torch.float64)
        fake = gen(z)
        scores = critic(fake)
        loss_d, wasserstein, gp = critic_loss(critic, real, fake, eps, lam)
        grads_d = torch.autograd.grad(loss_d, list(critic.parameters()))
        z2 = torch.randn_like(z)
        loss_g = -critic(gen(z2)).mean()
        grads_g = torch.autograd.grad(loss_g, list(gen.parameters()))
        for (k, _), g in zip(critic.named_parameters(), grads_d):
            tensors[p + "grad_critic." + k] = g
        for (k, _), g in zip(gen.named_parameters(), grads_g):
            tensors[p + "grad_generator." + k] = g
        for k, v in gen.state_dict().items():
            if "running" in k:
                tensors[p + "after." + k] = v.clone()
        tensors[p + "z"], tensors[p + "z2"], tensors[p + "eps"] = z, z2, eps
        tensors[p + "real"] = real.float()  # 0/1, exact in f32
        tensors[p + "fake"], tensors[p + "scores"] = fake, scores
        tensors[p + "loss_d"], tensors[p + "gp"] = loss_d.reshape(1), gp.reshape(1)
        tensors[p + "wasserstein"], tensors[p + "loss_g"] = wasserstein.reshape(1), loss_g.reshape(1)
        meta[p + "config"] = json.dumps(cfg)
    meta["source"] = "torch " + torch.__version__ + ", tests/reference/make_musicgan_golden.py"
    save(os.path.join(OUT, "musicgan.safetensors"), tensors, meta)


if __name__ == "__main__":
    main()
