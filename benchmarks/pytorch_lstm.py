#!/usr/bin/env python3
"""Times PyTorch on exactly the shapes of cadenza's W1, W4 and K2 workloads
(DESIGN.md) on this machine, and prints one JSON line per workload in the
format of `cadenza bench NAME --json`.

usage: pytorch_lstm.py [--threads N] [--seconds S] [--device cpu|cuda] [W1 W4 K2_b1 K2_b8 K2_b64]
(on cuda: cuDNN's LSTM, TF32 off as in cadenza)
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


class SequenceModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(388, 256)
        self.rnn = torch.nn.LSTM(256, 512, 2, batch_first=True)
        self.output = torch.nn.Linear(512, 388)

    def forward(self, ids, state=None):
        y, state = self.rnn(self.embedding(ids), state)
        return self.output(y), state


def w1():
    torch.manual_seed(1)
    model = SequenceModel().to(timing.DEVICE)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    inp = torch.randint(0, 388, (32, 128)).to(timing.DEVICE)
    tgt = torch.randint(0, 388, (32, 128)).to(timing.DEVICE)

    def step():
        opt.zero_grad()
        logits, _ = model(inp)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 388), tgt.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step, 32 * 128, "step", "tokens/s", 1.0


def w4():
    torch.manual_seed(1)
    model = SequenceModel().to(timing.DEVICE).eval()

    def sample():
        with torch.no_grad():
            state = None
            tok = torch.zeros(1, 1, dtype=torch.long, device=timing.DEVICE)
            for _ in range(2000):
                logits, state = model(tok, state)
                probs = torch.softmax(logits[0, -1], -1)
                tok = torch.multinomial(probs, 1).view(1, 1)
    return sample, 2000, "2000 tokens", "tokens/s", 1.0


def k2(batch):
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(512, 512, 1).to(timing.DEVICE)
    x = torch.randn(128, batch, 512).to(timing.DEVICE).requires_grad_()
    g = torch.randn(128, batch, 512).to(timing.DEVICE)

    def run():
        y, _ = lstm(x)
        y.backward(g)
        lstm.zero_grad()
        x.grad = None
    flops = 3 * 2 * 128 * batch * (512 + 512) * 4 * 512
    return run, flops, "forward+backward", "GFLOP/s", 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("workloads", nargs="*", default=["W1", "W4", "K2_b1", "K2_b8", "K2_b64"])
    a = ap.parse_args()
    timing.DEVICE = a.device
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if a.threads:
        torch.set_num_threads(a.threads)
    makers = {"W1": w1, "W4": w4, "K2_b1": lambda: k2(1), "K2_b8": lambda: k2(8), "K2_b64": lambda: k2(64)}
    for name in a.workloads:
        timing.run(name, *makers[name](), a.seconds)


if __name__ == "__main__":
    main()
