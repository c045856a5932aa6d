#!/usr/bin/env python3
"""Writes tests/golden/poly_model.safetensors: the polyphonic benchmark's loss
and a small piano-roll LSTM, computed by PyTorch.

Run with any Python that has torch (Debian's python3-torch works):
    /usr/bin/python3 tests/reference/make_poly_golden.py

Two references are stored:
- `bce.*`: torch.nn.functional.binary_cross_entropy_with_logits on logits
  with extreme values, summed over the 88 keys and over the masked frames,
  and its gradient;
- `model.*`: PolyModel (nn.LSTM(88, 9, 2, batch_first) -> nn.Linear(9, 88))
  on three pieces of different lengths, scored exactly as the TCN
  repository's poly_music/music_test.py does (one piece at a time, the
  negative trace of y log(p)^T + (1-y) log(1-p)^T, summed and divided by the
  number of predicted frames), with every parameter gradient of that NLL.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import OUT, save  # noqa: E402


class PolyModel(torch.nn.Module):
    def __init__(self, hidden, layers, cell="lstm"):
        super().__init__()
        rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = rnn(88, hidden, layers, batch_first=True)
        self.output = torch.nn.Linear(hidden, 88)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.output(y)


def tcn_piece_nll(model, piece):
    """The TCN repository's per-piece loss (a sum over frames and keys)."""
    x, y = piece[:-1], piece[1:].double()
    output = torch.sigmoid(model(x.unsqueeze(0)).squeeze(0).double())
    return -torch.trace(torch.matmul(y, torch.log(output).t()) + torch.matmul(1 - y, torch.log(1 - output).t()))


def main():
    torch.manual_seed(7)
    t = {}
    # Loss on extreme logits: |x| up to 100, where log(sigmoid) must not be
    # computed naively.
    logits = (torch.randn(2, 5, 88, dtype=torch.float64) * 4)
    logits[0, 0, :6] = torch.tensor([100.0, -100.0, 30.0, -30.0, 0.0, 1e-3], dtype=torch.float64)
    logits.requires_grad_(True)
    target = (torch.rand(2, 5, 88, dtype=torch.float64) < 0.2).double()
    target[0, 0, :6] = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.float64)
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    loss = (per * mask).sum()
    loss.backward()
    t.update({"bce.logits": logits, "bce.target": target, "bce.mask": mask, "bce.loss": loss,
              "bce.grad": logits.grad})

    torch.manual_seed(11)
    model = PolyModel(9, 2)
    lengths = [7, 4, 2]
    pieces = [(torch.rand(n, 88) < 0.08).float() for n in lengths]
    total = sum(tcn_piece_nll(model, p) for p in pieces)
    count = sum(n - 1 for n in lengths)
    nll = total / count
    nll.backward()
    padded = torch.zeros(len(lengths), max(lengths), 88)
    for i, p in enumerate(pieces):
        padded[i, :len(p)] = p
    t["model.pieces"] = padded
    t["model.lengths"] = torch.tensor(lengths, dtype=torch.int64)
    t["model.nll"] = nll.detach()
    for name, p in model.named_parameters():
        t["param." + name] = p
        t["grad." + name] = p.grad
    save(os.path.join(OUT, "poly_model.safetensors"), t,
         {"torch": torch.__version__, "module": "PolyModel(nn.LSTM(88, 9, 2, batch_first=True), nn.Linear(9, 88))"})
    print("wrote", os.path.join(os.path.normpath(OUT), "poly_model.safetensors"), "with torch", torch.__version__,
          file=sys.stderr)


if __name__ == "__main__":
    main()
