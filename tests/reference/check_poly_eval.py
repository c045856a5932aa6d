#!/usr/bin/env python3
"""Loads a cadenza poly checkpoint into the PyTorch module whose names it
follows, scores a split of a polyphonic-benchmark JSON file exactly as the
TCN repository's poly_music/music_test.py does, and compares the result with
`cadenza eval poly`.

usage: check_poly_eval.py CHECKPOINT DATA.json SPLIT EVAL_JSON
Exit 0 when |nll_torch - nll_cadenza| <= 1e-4 and the frame counts agree.
Needs torch and numpy (Debian's python3-torch works).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_lstm_eval import load_safetensors  # noqa: E402


class PolyModel(torch.nn.Module):
    def __init__(self, hidden, layers, cell, dropout):
        super().__init__()
        rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = rnn(88, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.output = torch.nn.Linear(hidden, 88)
        self.dropout = dropout

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.output(torch.nn.functional.dropout(y, self.dropout, self.training))


def piano_roll(piece):
    roll = np.zeros((len(piece), 88), dtype=np.float64)
    for t, frame in enumerate(piece):
        for note in frame:
            roll[t, int(note) - 21] = 1
    return torch.from_numpy(roll)


def main():
    ckpt, data_path, split, eval_json = sys.argv[1:5]
    tensors, meta = load_safetensors(ckpt)
    cfg = json.loads(meta["config"])
    model = PolyModel(cfg["hidden"], cfg["layers"], cfg["cell"], cfg["dropout"])
    state = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "trainer."))}
    model.load_state_dict(state, strict=True)
    model.eval()
    pieces = json.load(open(data_path))[split]
    total, count = 0.0, 0
    with torch.no_grad():
        for piece in pieces:
            if len(piece) < 2:
                continue
            roll = piano_roll(piece)
            x, y = roll[:-1].float(), roll[1:]
            # music_test.py: one piece at a time, sigmoid in double, the
            # negative trace of y log(p)^T + (1 - y) log(1 - p)^T.
            output = torch.sigmoid(model(x.unsqueeze(0)).squeeze(0).double())
            loss = -torch.trace(torch.matmul(y, torch.log(output).t()) +
                                torch.matmul(1 - y, torch.log(1 - output).t()))
            total += loss.item()
            count += output.size(0)
    nll = total / count
    ref = json.load(open(eval_json))
    print(f"torch (TCN evaluation) nll {nll:.6f} over {count} frames; "
          f"cadenza nll {ref['nll']:.6f} over {ref['frames']} frames")
    if count != ref["frames"] or abs(nll - ref["nll"]) > 1e-4:
        print("MISMATCH")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
