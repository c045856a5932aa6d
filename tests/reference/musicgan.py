"""The PyTorch twin of cadenza's MusicGAN (models/musicgan.h): the same
generator and critic under the same state_dict names, after MuseGAN (Dong et
al., AAAI 2018) and its repository's current model. A cadenza checkpoint
loads into it with load_checkpoint(); the config is the JSON in the
checkpoint's __metadata__["config"], the networks are saved under
"generator." and "critic.".

Rolls are [B, tracks, bars, steps_per_bar, pitches]; every network is a 3-D
convolution over (bars, steps, pitches).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wavenet import read_safetensors  # noqa: E402

SLOPE = 0.2


class ConvBlock(nn.Module):
    def __init__(self, conv, norm=None, norm_name="bn"):
        super().__init__()
        self.conv = conv
        self.norm_name = norm_name if norm is not None else None
        if norm is not None:
            self.add_module(norm_name, norm)

    def forward(self, x):
        x = self.conv(x)
        return getattr(self, self.norm_name)(x) if self.norm_name else x


class ChannelLayerNorm(nn.Module):
    """Layer norm over every dim of an example but the batch, then a
    per-channel scale and shift."""

    def __init__(self, channels, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        dims = tuple(range(1, x.dim()))
        c = x - x.mean(dims, keepdim=True)
        y = c * torch.rsqrt((c * c).mean(dims, keepdim=True) + self.eps)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape)


def gen_block(cin, cout, k, s):
    return ConvBlock(nn.ConvTranspose3d(cin, cout, k, s), nn.BatchNorm3d(cout))


class TemporalGenerator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        z, h, stretch = cfg["z_dim"], cfg["temporal_channels"], cfg["bars"] // 2
        self.add_module("0", gen_block(z, h, (2, 1, 1), (2, 1, 1)))
        self.add_module("1", gen_block(h, z, (stretch, 1, 1), (stretch, 1, 1)))

    def forward(self, z):
        h = z.reshape(z.size(0), z.size(1), 1, 1, 1)
        h = F.relu(getattr(self, "0")(h))
        return F.relu(getattr(self, "1")(h))


class Generator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        Z, g, f, T = cfg["z_dim"], cfg["gen_channels"], cfg["steps_per_bar"] // 16, cfg["tracks"]
        if cfg.get("time_upsample", "conv") == "nearest":
            f = 1  # the private layers work at 16 steps per bar; forward() repeats each step
        self.temporal_shared = TemporalGenerator(cfg)
        self.temporal_private = nn.ModuleList([TemporalGenerator(cfg) for _ in range(T)])
        self.shared = nn.ModuleList([
            gen_block(4 * Z, 4 * g, (1, 4, 1), (1, 4, 1)),
            gen_block(4 * g, 2 * g, (1, 1, 3), (1, 1, 3)),
            gen_block(2 * g, 2 * g, (1, 4, 1), (1, 4, 1)),
            gen_block(2 * g, g, (1, 1, 3), (1, 1, 2)),
        ])
        tracks = []
        for _ in range(T):
            t = nn.Module()
            t.pitch_time = nn.ModuleList([gen_block(g, g, (1, 1, 12), (1, 1, 12)),
                                          gen_block(g, g // 2, (1, f, 1), (1, f, 1))])
            t.time_pitch = nn.ModuleList([gen_block(g, g, (1, f, 1), (1, f, 1)),
                                          gen_block(g, g // 2, (1, 1, 12), (1, 1, 12))])
            t.merge = nn.Conv3d(g, {"voice": 2, "hold": 3}.get(cfg["output"], 1), 1)
            tracks.append(t)
        self.private = nn.ModuleList(tracks)

    def forward(self, z):
        c = self.cfg
        B, Z, T, bars = z.size(0), c["z_dim"], c["tracks"], c["bars"]

        def constant(row):
            return z[:, row].reshape(B, Z, 1, 1, 1).expand(B, Z, bars, 1, 1)

        inter, inter_t = constant(0), self.temporal_shared(z[:, 1])
        per_track = [torch.cat([inter, inter_t, constant(2 + i), self.temporal_private[i](z[:, 2 + T + i])], 1)
                     for i in range(T)]
        h = torch.cat(per_track, 0)
        for block in self.shared:
            h = F.relu(block(h))
        outs = []
        for i, p in enumerate(self.private):
            hi = h[i * B:(i + 1) * B]
            pt = F.relu(p.pitch_time[1](F.relu(p.pitch_time[0](hi))))
            tp = F.relu(p.time_pitch[1](F.relu(p.time_pitch[0](hi))))
            outs.append(p.merge(torch.cat([pt, tp], 1)))

        def upsampled(y):  # nearest: each 16th held for steps_per_bar // 16 steps
            if c.get("time_upsample", "conv") == "nearest":
                return y.repeat_interleave(c["steps_per_bar"] // 16, dim=3)
            return y

        if c["output"] in ("voice", "hold"):
            # softmax over the pitches, a rest (and "hold"): the extra channels' means over the
            # pitches; the one-hot maximum forward, the softmax's gradient backward
            extra = 2 if c["output"] == "hold" else 1
            outs = [torch.cat([o[:, :1]] + [o[:, k:k + 1].mean(4, keepdim=True) for k in range(1, extra + 1)], 4)
                    for o in outs]
            p = torch.softmax(torch.cat(outs, 1), 4)
            hard = F.one_hot(p.argmax(4), p.size(4)).to(p.dtype)  # the first maximum
            if c["output"] == "voice":
                return upsampled((hard + (p - p.detach()))[..., :c["pitches"]])
            # hold: state = hold * state + (pitches, rest) through the segment, from a rest
            B_, T_, bars_, S_, K = p.shape
            N = c["pitches"] + 1
            pf, hf = p.reshape(B_, T_, bars_ * S_, K), hard.reshape(B_, T_, bars_ * S_, K)
            rest = torch.zeros(B_, T_, N, dtype=p.dtype)
            rest[..., -1] = 1
            soft_state, hard_state, soft_steps, hard_steps = rest, rest, [], []
            for t in range(bars_ * S_):
                soft_state = pf[:, :, t, N:] * soft_state + pf[:, :, t, :N]
                hard_state = hf[:, :, t, N:] * hard_state + hf[:, :, t, :N]
                soft_steps.append(soft_state)
                hard_steps.append(hard_state)
            soft = torch.stack(soft_steps, 2).reshape(B_, T_, bars_, S_, N)
            hard_roll = torch.stack(hard_steps, 2).reshape(B_, T_, bars_, S_, N)
            return upsampled((hard_roll + (soft - soft.detach()))[..., :c["pitches"]])
        y = torch.cat(outs, 1)
        if c["output"] == "tanh":
            return upsampled(torch.tanh(y))
        s = torch.sigmoid(y)
        if c["output"] == "binary":
            return upsampled((s > 0.5).to(s.dtype) + (s - s.detach()))
        return upsampled(s)


class Critic(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, f, T, bars = cfg["critic_channels"], cfg["steps_per_bar"] // 16, cfg["tracks"], cfg["bars"]
        layer = cfg.get("critic_norm", "layer") == "layer"

        def block(cin, cout, k, s):
            return ConvBlock(nn.Conv3d(cin, cout, k, s), ChannelLayerNorm(cout) if layer else None, "norm")
        tracks = []
        for _ in range(T):
            t = nn.Module()
            t.pitch_time = nn.ModuleList([block(1, d, (1, 1, 12), (1, 1, 12)),
                                          block(d, 2 * d, (1, f, 1), (1, f, 1))])
            t.time_pitch = nn.ModuleList([block(1, d, (1, f, 1), (1, f, 1)),
                                          block(d, 2 * d, (1, 1, 12), (1, 1, 12))])
            t.merge = block(4 * d, 4 * d, 1, 1)
            tracks.append(t)
        self.private = nn.ModuleList(tracks)
        self.shared = nn.ModuleList([block(4 * d * T, 8 * d, (1, 4, 3), (1, 4, 2)),
                                     block(8 * d, 16 * d, (1, 4, 3), (1, 4, 3))])
        self.chroma = nn.ModuleList([block(T, 4 * d, (1, 1, 12), (1, 1, 12)),
                                     block(4 * d, 8 * d, (1, f, 1), (1, f, 1)),
                                     block(8 * d, 8 * d, (1, 16, 1), (1, 16, 1))])
        self.onset = nn.ModuleList([block(T, 4 * d, (1, f, 1), (1, f, 1)),
                                    block(4 * d, 8 * d, (1, 4, 1), (1, 4, 1)),
                                    block(8 * d, 8 * d, (1, 4, 1), (1, 4, 1))])
        self.merged = block(32 * d, 32 * d, (2, 1, 1), 1)
        self.dense = nn.Linear(32 * d * (bars - 1), 1)

    def forward(self, x):
        c = self.cfg
        B, T, S, P = x.size(0), c["tracks"], c["steps_per_bar"], c["pitches"]

        def lrelu(t):
            return F.leaky_relu(t, SLOPE)

        tracks = []
        for i, p in enumerate(self.private):
            xi = x[:, i:i + 1]
            pt = lrelu(p.pitch_time[1](lrelu(p.pitch_time[0](xi))))
            tp = lrelu(p.time_pitch[1](lrelu(p.time_pitch[0](xi))))
            tracks.append(lrelu(p.merge(torch.cat([pt, tp], 1))))
        h = torch.cat(tracks, 1)
        for m in self.shared:
            h = lrelu(m(h))
        cr = x.reshape(B, T, c["bars"], S, P // 12, 12).sum(4)
        for m in self.chroma:
            cr = lrelu(m(cr))
        on = torch.cat([x[:, :, :, :1], x[:, :, :, 1:] - x[:, :, :, :-1]], 3).sum(4, keepdim=True)
        for m in self.onset:
            on = lrelu(m(on))
        m = lrelu(self.merged(torch.cat([h, cr, on], 1)))
        return self.dense(m.reshape(B, -1))


def gradient_penalty(critic, real, fake, eps):
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    d = critic(x_hat)
    (g,) = torch.autograd.grad(d.sum(), x_hat, create_graph=True)
    norm = torch.sqrt((g * g).sum((1, 2, 3, 4)) + 1e-12)
    return ((norm - 1) ** 2).mean()


def critic_loss(critic, real, fake, eps, lam):
    d_real, d_fake = critic(real).mean(), critic(fake.detach()).mean()
    gp = gradient_penalty(critic, real, fake, eps)
    return d_fake - d_real + lam * gp, d_real - d_fake, gp


def load_checkpoint(path):
    """(generator, critic, config) of a cadenza MusicGAN checkpoint, in eval mode."""
    tensors, meta = read_safetensors(path)
    cfg = json.loads(meta["config"])
    gen, critic = Generator(cfg), Critic(cfg)
    for prefix, net in (("generator.", gen), ("critic.", critic)):
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        net.load_state_dict(state, strict=True)
    return gen.eval(), critic.eval(), cfg
