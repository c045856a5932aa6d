#!/usr/bin/env python3
"""Loads a cadenza sequence-model checkpoint into the PyTorch module that
cadenza's parameter names follow, computes the NLL per token on token files
written by `cadenza midi tokens`, and compares it with `cadenza eval lstm`.

usage: check_lstm_eval.py CHECKPOINT EVAL_JSON TOKENS.npy [TOKENS.npy ...]
Exit 0 when |nll_torch - nll_cadenza| <= 1e-4 and the token counts agree.
Needs torch and numpy (Debian's python3-torch works); the safetensors file is
read here directly, so the safetensors package is not needed.
"""
import json
import struct
import sys

import numpy as np
import torch

DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype=DT[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


class SequenceModel(torch.nn.Module):
    def __init__(self, vocab_size, embed, hidden, layers, cell, dropout):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab_size, embed)
        rnn = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        self.rnn = rnn(embed, hidden, layers, batch_first=True, dropout=dropout)
        self.output = torch.nn.Linear(hidden, vocab_size)

    def forward(self, ids):
        y, _ = self.rnn(self.embedding(ids))
        return self.output(y)


def main():
    ckpt, eval_json, token_files = sys.argv[1], sys.argv[2], sys.argv[3:]
    tensors, meta = load_safetensors(ckpt)
    cfg = json.loads(meta["config"])
    model = SequenceModel(cfg["vocab_size"], cfg["embed"], cfg["hidden"], cfg["layers"], cfg["cell"],
                          cfg["dropout"])
    state = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "trainer."))}
    model.load_state_dict(state, strict=True)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for path in token_files:
            toks = torch.from_numpy(np.load(path).astype(np.int64))
            if toks.numel() < 2:
                continue
            logits = model(toks[:-1].unsqueeze(0))[0]
            total += torch.nn.functional.cross_entropy(logits.double(), toks[1:], reduction="sum").item()
            count += toks.numel() - 1
    nll = total / count
    ref = json.load(open(eval_json))
    print(f"torch nll {nll:.6f} over {count} tokens; cadenza nll {ref['nll']:.6f} over {ref['tokens']} tokens")
    if count != ref["tokens"] or abs(nll - ref["nll"]) > 1e-4:
        print("MISMATCH")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
