"""The PyTorch twin of cadenza's WaveNet (models/wavenet.h): the same layers
under the same state_dict names, after the paper (van den Oord et al. 2016)
and r9y9/wavenet_vocoder. A cadenza checkpoint loads into it with
load_checkpoint(); the config is the JSON in the checkpoint's
__metadata__["config"].

  x (mu-law ids [B, T]) -> first_conv (1x1 over the one-hot) -> residual layers
  (causal dilated conv -> + conditioning -> tanh * sigmoid -> 1x1 residual and
  1x1 skip) -> sum of skips * sqrt(1 / layers) -> ReLU, 1x1, ReLU, 1x1 -> logits
  [B, quantize, T]. Global conditioning: an embedded class id into every gate;
  local: a mel spectrogram, upsampled (repeat + smoothing conv per scale),
  into every gate.
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualLayer(nn.Module):
    def __init__(self, residual, gate, skip, kernel_size, dilation, cin, gin, dropout):
        super().__init__()
        self.kernel_size, self.dilation, self.dropout = kernel_size, dilation, dropout
        self.conv = nn.Conv1d(residual, gate, kernel_size, dilation=dilation)
        self.conv1x1c = nn.Conv1d(cin, gate, 1, bias=False) if cin > 0 else None
        self.conv1x1g = nn.Conv1d(gin, gate, 1, bias=False) if gin > 0 else None
        self.conv1x1_out = nn.Conv1d(gate // 2, residual, 1)
        self.conv1x1_skip = nn.Conv1d(gate // 2, skip, 1)

    def forward(self, x, c=None, g=None):
        residual = x
        x = F.dropout(x, self.dropout, self.training)
        x = self.conv(F.pad(x, ((self.kernel_size - 1) * self.dilation, 0)))
        a, b = x.split(x.size(1) // 2, dim=1)
        if c is not None:
            ca, cb = self.conv1x1c(c).split(a.size(1), dim=1)
            a, b = a + ca, b + cb
        if g is not None:
            ga, gb = self.conv1x1g(g).split(a.size(1), dim=1)
            a, b = a + ga, b + gb
        x = torch.tanh(a) * torch.sigmoid(b)
        s = self.conv1x1_skip(x)
        x = (self.conv1x1_out(x) + residual) * math.sqrt(0.5)
        return x, s


class Upsample(nn.Module):
    """Mel frames to samples: per scale, each frame repeated `scale` times,
    then smoothed along time by a (2 scale + 1)-tap convolution shared by all
    mel channels (r9y9's Stretch2d + Conv2d with a frequency kernel of 1)."""

    def __init__(self, scales):
        super().__init__()
        self.scales = list(scales)
        self.convs = nn.ModuleList([nn.Conv1d(1, 1, 2 * s + 1, padding=s, bias=False) for s in self.scales])
        for s, conv in zip(self.scales, self.convs):
            nn.init.constant_(conv.weight, 1.0 / (2 * s + 1))

    def forward(self, c):
        B, C, _ = c.shape
        for s, conv in zip(self.scales, self.convs):
            c = c.repeat_interleave(s, dim=2)
            c = conv(c.reshape(B * C, 1, -1)).reshape(B, C, -1)
        return c


class WaveNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        Q, R, G, S = cfg["quantize"], cfg["residual_channels"], cfg["gate_channels"], cfg["skip_channels"]
        per_stack = cfg["layers"] // cfg["stacks"]
        cin = cfg["cin_channels"]
        gin = cfg["gin_channels"] if cfg["n_classes"] > 0 else 0
        self.first_conv = nn.Conv1d(Q, R, 1)
        self.conv_layers = nn.ModuleList([
            ResidualLayer(R, G, S, cfg["kernel_size"], 2 ** (i % per_stack), cin, gin, cfg["dropout"])
            for i in range(cfg["layers"])])
        self.last_conv_layers = nn.Sequential(nn.ReLU(), nn.Conv1d(S, S, 1), nn.ReLU(), nn.Conv1d(S, Q, 1))
        if cfg["n_classes"] > 0:
            self.embed_classes = nn.Embedding(cfg["n_classes"], gin)
        if cin > 0:
            self.upsample = Upsample(cfg["upsample_scales"])

    def forward(self, x, c=None, g=None):
        """x: long [B, T]; c: mel [B, n_mels, frames] with frames * hop >= T; g: long [B]."""
        T = x.size(1)
        h = self.first_conv(F.one_hot(x, self.cfg["quantize"]).transpose(1, 2).to(self.first_conv.weight.dtype))
        if g is not None:
            g = self.embed_classes(g).unsqueeze(-1)
        if c is not None:
            c = self.upsample(c)[:, :, :T]
        skips = 0
        for f in self.conv_layers:
            h, s = f(h, c, g)
            skips = skips + s
        skips = skips * math.sqrt(1.0 / len(self.conv_layers))
        return self.last_conv_layers(skips)


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file, with torch only."""
    dtypes = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[h["dtype"]]) if b > a else torch.zeros(0)
        tensors[name] = t.reshape(h["shape"]).clone()
    return tensors, meta


def load_checkpoint(path):
    """The WaveNet of a cadenza checkpoint, in eval mode, and its config."""
    tensors, meta = read_safetensors(path)
    cfg = json.loads(meta["config"])
    model = WaveNet(cfg)
    state = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "trainer."))}
    model.load_state_dict(state, strict=True)
    return model.eval(), cfg
