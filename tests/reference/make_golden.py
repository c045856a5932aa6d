#!/usr/bin/env python3
"""Writes the engine's PyTorch golden files (tests/golden/*.safetensors).

Run with any Python that has torch (Debian's python3-torch works):
    /usr/bin/python3 tests/reference/make_golden.py
The files are small and committed; ctest compares cadenza against them.
The safetensors files are written by hand here (the format is a u64 header
length, a JSON header and raw little-endian data) so that only torch is needed.
"""
import json
import os
import struct
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")
DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64"}


def save(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def mlp_cross_entropy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, generator=g)
    target = torch.tensor([0, 3, 1, 2, 3, 0, -100, 1])
    w1 = torch.randn(16, 5, generator=g) * 0.5
    b1 = torch.randn(16, generator=g) * 0.1
    w2 = torch.randn(4, 16, generator=g) * 0.5
    b2 = torch.randn(4, generator=g) * 0.1
    params = [x, w1, b1, w2, b2]
    for p in params:
        p.requires_grad_(True)
    h = torch.tanh(torch.nn.functional.linear(x, w1, b1))
    logits = torch.nn.functional.linear(h, w2, b2)
    loss = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100)
    loss.backward()
    save(os.path.join(OUT, "mlp_cross_entropy.safetensors"), {
        "x": x, "target": target, "w1": w1, "b1": b1, "w2": w2, "b2": b2,
        "logits": logits, "loss": loss.reshape(1),
        "grad.x": x.grad, "grad.w1": w1.grad, "grad.b1": b1.grad,
        "grad.w2": w2.grad, "grad.b2": b2.grad,
    }, {"torch": torch.__version__, "model": "tanh MLP 5-16-4, cross_entropy ignore_index=-100"})


def extremes():
    inf = float("inf")
    x = torch.tensor([[1000.0, 1000.0, -1000.0, 0.0],
                      [-1e4, -1e4 + 1, -1e4 + 2, -1e4 + 3],
                      [88.0, -88.0, 20.0, 1e-3],
                      [-inf, 0.0, 1.0, -inf]], dtype=torch.float64, requires_grad=True)
    # Reference in f64: PyTorch's own f32 logsumexp backward is off by up to
    # one ulp of lse (1e-3 at |x| = 1e4), which would hide cadenza's errors.
    w = torch.tensor([[0.1, -0.2, 0.3, 0.4]] * 4, dtype=torch.float64)
    ls = torch.log_softmax(x, dim=1)
    lse = torch.logsumexp(x, dim=1)
    obj = (torch.where(torch.isinf(ls), torch.zeros_like(ls), ls) * w).sum() + lse.sum()
    obj.backward()
    save(os.path.join(OUT, "softmax_extremes.safetensors"), {
        "x": x, "w": w, "log_softmax": ls, "logsumexp": lse, "grad.x": x.grad,
    }, {"torch": torch.__version__})


def adam_steps():
    out = {}
    for name, cls, kw in [("adam", torch.optim.Adam, dict(lr=0.01, weight_decay=0.01)),
                          ("adamw", torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1))]:
        p = torch.tensor([0.5, -1.5, 2.0, 0.0, 3.0, -0.25], requires_grad=True)
        out[name + ".init"] = p.detach().clone()
        opt = cls([p], betas=(0.9, 0.999), eps=1e-8, **kw)
        traj = []
        for _ in range(10):
            opt.zero_grad()
            loss = (p ** 4 - 2 * p ** 2 + torch.sin(3 * p)).sum()
            loss.backward()
            opt.step()
            traj.append(p.detach().clone())
        out[name + ".trajectory"] = torch.stack(traj)
    save(os.path.join(OUT, "adam_steps.safetensors"), out,
         {"torch": torch.__version__, "loss": "sum(p^4 - 2 p^2 + sin(3 p))", "betas": "0.9,0.999",
          "eps": "1e-8", "adam": "lr=0.01 weight_decay=0.01", "adamw": "lr=0.01 weight_decay=0.1"})


def rnn_goldens():
    """torch.nn.LSTM / nn.GRU, 2 layers, batch_first, odd sizes, initial state."""
    for kind, cls in [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)]:
        torch.manual_seed(1)
        rnn = cls(input_size=7, hidden_size=9, num_layers=2, batch_first=True)
        x = torch.randn(3, 11, 7, requires_grad=True)
        h0 = torch.randn(2, 3, 9, requires_grad=True)
        w_out = torch.randn(3, 11, 9)
        w_h = torch.randn(2, 3, 9)
        tensors = {"x": x, "h0": h0, "w_out": w_out, "w_h": w_h}
        if kind == "lstm":
            c0 = torch.randn(2, 3, 9, requires_grad=True)
            w_c = torch.randn(2, 3, 9)
            out, (hn, cn) = rnn(x, (h0, c0))
            obj = (out * w_out).sum() + (hn * w_h).sum() + (cn * w_c).sum()
            tensors.update({"c0": c0, "w_c": w_c, "c_n": cn})
        else:
            out, hn = rnn(x, h0)
            obj = (out * w_out).sum() + (hn * w_h).sum()
        obj.backward()
        tensors.update({"output": out, "h_n": hn, "grad.x": x.grad, "grad.h0": h0.grad})
        if kind == "lstm":
            tensors["grad.c0"] = tensors["c0"].grad
        for name, p in rnn.named_parameters():
            tensors["param." + name] = p
            tensors["grad." + name] = p.grad
        save(os.path.join(OUT, kind + "_2layer.safetensors"), tensors,
             {"torch": torch.__version__, "module": f"nn.{cls.__name__}(7, 9, num_layers=2, batch_first=True)"})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    mlp_cross_entropy()
    extremes()
    adam_steps()
    rnn_goldens()
    print("wrote goldens to", os.path.normpath(OUT), "with torch", torch.__version__, file=sys.stderr)
