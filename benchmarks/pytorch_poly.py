#!/usr/bin/env python3
"""The polyphonic benchmark's recipe of `cadenza train poly` in PyTorch, for
wall-clock and NLL comparisons on the same machine.

Same model (nn.LSTM/nn.GRU(88, H, L, batch_first, dropout) -> dropout ->
nn.Linear(H, 88)), same batching (pieces shuffled, sorted by length within
windows of 16 batches, padded and masked), same loss (per-frame sum over 88
keys of binary cross-entropy, mean over the batch's frames), Adam, global-norm
clipping, linear warmup then cosine decay to 5%, the output bias started at
each key's log-odds, optional transposition,
validation after every epoch, test NLL of the best-validation model scored as
the TCN repository does (every predicted frame weighted equally).

usage: pytorch_poly.py DATA.json [--cell lstm] [--layers 2] [--hidden 200]
         [--dropout 0.2] [--batch 8] [--epochs 100] [--lr 1e-3] [--clip 1.0]
         [--warmup 0] [--transpose 0] [--bias-init marginal] [--seed 1] [--threads 2]
Prints one JSON line: seconds (training + validation), seconds_per_epoch,
best_val_nll, best_epoch, test_nll, torch version.
"""
import argparse
import copy
import os
import sys
import json
import math
import random
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from check_poly_eval import PolyModel  # noqa: E402  (the module whose names cadenza's checkpoints use)


def rolls(pieces):
    out = []
    for piece in pieces:
        r = torch.zeros(len(piece), 88)
        for t, frame in enumerate(piece):
            for n in frame:
                r[t, int(n) - 21] = 1
        out.append(r)
    return out


def batch_of(pieces, shifts=None):
    T = max(1, max(len(p) - 1 for p in pieces))
    x = torch.zeros(len(pieces), T, 88)
    y = torch.zeros(len(pieces), T, 88)
    m = torch.zeros(len(pieces), T)
    for i, p in enumerate(pieces):
        if shifts and shifts[i]:
            p = torch.roll(p, shifts[i], dims=1)
        n = len(p) - 1
        if n <= 0:
            continue
        x[i, :n], y[i, :n], m[i, :n] = p[:-1], p[1:], 1
    return x, y, m


def frame_nll_sum(logits, y, m):
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)
    return (per * m).sum()


def evaluate(model, pieces):
    model.eval()
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    order = [i for i in order if len(pieces[i]) > 1]
    total, frames = 0.0, 0
    with torch.no_grad():
        for g in range(0, len(order), 16):
            x, y, m = batch_of([pieces[i] for i in order[g:g + 16]])
            total += frame_nll_sum(model(x).double(), y.double(), m.double()).item()
            frames += int(m.sum().item())
    model.train()
    return total / frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--transpose", type=int, default=0)
    ap.add_argument("--bias-init", default="marginal", choices=["marginal", "default"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print the validation NLL after every epoch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    d = json.load(open(a.data))
    train, valid, test = rolls(d["train"]), rolls(d["valid"]), rolls(d["test"])
    train = [p for p in train if len(p) > 1]  # as cadenza: pieces that predict nothing are left out
    ranges = []
    for p in train:
        keys = p.sum(0).nonzero()
        ranges.append((int(keys.min()), int(keys.max())) if len(keys) else None)
    model = PolyModel(a.hidden, a.layers, a.cell, a.dropout)
    if a.bias_init == "marginal":  # as cadenza: each key's log-odds over the predicted training frames
        on = sum(p[1:].sum(0) for p in train)
        frames = sum(max(0, len(p) - 1) for p in train)
        q = (on / frames).clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
            model.output.bias.copy_(torch.log(q / (1 - q)))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    per_epoch = math.ceil(len(train) / a.batch)
    total_steps = per_epoch * a.epochs
    cosine_steps = max(1, total_steps - a.warmup)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        s = min(step - a.warmup, cosine_steps)
        return a.lr * 0.05 + (a.lr - a.lr * 0.05) * 0.5 * (1 + math.cos(math.pi * s / cosine_steps))

    best_val, best_epoch, best_state, step = float("inf"), 0, None, 0
    t0 = time.perf_counter()
    for epoch in range(a.epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        window = a.batch * 16
        for w in range(0, len(order), window):
            order[w:w + window] = sorted(order[w:w + window], key=lambda i: len(train[i]))
        batches = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
        rng.shuffle(batches)
        for idx in batches:
            shifts = None
            if a.transpose:
                shifts = []
                for i in idx:
                    r = ranges[i]
                    lo, hi = (-a.transpose, a.transpose) if r is None else (max(-a.transpose, -r[0]),
                                                                               min(a.transpose, 87 - r[1]))
                    shifts.append(rng.randint(lo, hi) if r is not None else 0)
            x, y, m = batch_of([train[i] for i in idx], shifts)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad()
            loss = frame_nll_sum(model(x), y, m) / m.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
        val = evaluate(model, valid)
        if val < best_val:
            best_val, best_epoch, best_state = val, epoch + 1, copy.deepcopy(model.state_dict())
        if a.verbose:
            print(f"epoch {epoch + 1} val {val:.4f}", flush=True)
    seconds = time.perf_counter() - t0
    model.load_state_dict(best_state)
    print(json.dumps({"data": a.data, "cell": a.cell, "layers": a.layers, "hidden": a.hidden, "epochs": a.epochs,
                      "seconds": seconds, "seconds_per_epoch": seconds / a.epochs, "best_val_nll": best_val,
                      "best_epoch": best_epoch, "test_nll": evaluate(model, test), "threads": a.threads,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
