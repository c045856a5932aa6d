#!/usr/bin/env python3
"""Writes tests/golden/torch_tensors.safetensors with PyTorch's own writer
(safetensors.torch.save_file) and, beside it, torch_tensors.json holding the
expected values of every tensor as plain JSON, so the C++ test checks what it
loads against numbers that did not pass through the file.

Run with a Python that has torch and safetensors (Debian's python3-torch plus
`/usr/bin/python3 -m pip install --break-system-packages safetensors`):
    /usr/bin/python3 tests/reference/make_safetensors_golden.py
Both files are small and committed; tests/engine/test_safetensors.cpp reads them.
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")
NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32", torch.int64: "I64",
         torch.bfloat16: "BF16", torch.float16: "F16", torch.uint8: "U8", torch.int8: "I8",
         torch.int16: "I16", torch.bool: "BOOL"}


def plain(v):
    # JSON has no NaN or infinity; the C++ side reads these strings back.
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def main():
    torch.manual_seed(0)
    # Rounding cases for the 16-bit formats: exact ties (to even), just above
    # and below ties, subnormals, overflow, infinities, NaN, signed zero.
    tricky = torch.tensor([
        1.0, -2.5, 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1.0 + 2.0 ** -8 + 2.0 ** -20,
        1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 1.0 + 2.0 ** -11 - 2.0 ** -20,
        65504.0, 65519.0, 65520.0, 70000.0, 3.0e38, 1.0e-5, 6.0e-8, 2.0 ** -25, 3.0 * 2.0 ** -26,
        1.0e-40, -0.0, float("inf"), float("-inf"), float("nan"), 0.1, -1.0 / 3.0,
    ], dtype=torch.float32)
    randn = torch.randn(5, 7)
    tensors = {
        "f32.matrix": randn,
        "f32.scalar": torch.tensor(3.25),
        "f32.empty": torch.zeros(0, 3),
        "f32.tricky": tricky,
        "f64.cube": torch.randn(2, 3, 4, dtype=torch.float64),
        "i32.ones_dims": torch.arange(-6, 6, dtype=torch.int32).reshape(2, 1, 3, 1, 2),
        "i64.extremes": torch.tensor([0, -1, 2 ** 62, -(2 ** 63), 2 ** 63 - 1], dtype=torch.int64),
        "bf16.tricky": tricky.to(torch.bfloat16),
        "bf16.matrix": randn.to(torch.bfloat16),
        "f16.tricky": tricky.to(torch.float16),
        "f16.matrix": randn.to(torch.float16),
        "u8.bytes": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
        "i8.bytes": torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8),
        "i16.values": torch.tensor([[-32768, 32767], [0, -2]], dtype=torch.int16),
        "bool.mask": torch.tensor([True, False, True]),
    }
    metadata = {"format": "pt", "producer": "torch " + torch.__version__,
                "config": json.dumps({"layers": 2, "hidden": 512, "name": "caf\u00e9 \"quoted\""})}
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, "torch_tensors.safetensors"), metadata=metadata)

    expected = {"metadata": metadata, "tensors": {}}
    for name, t in tensors.items():
        # BF16/F16 values as the floats torch decodes them to; BOOL as 0/1.
        values = t.float().flatten().tolist() if t.is_floating_point() else t.flatten().tolist()
        if t.dtype == torch.float64:
            values = t.flatten().tolist()
        expected["tensors"][name] = {
            "dtype": NAMES[t.dtype], "shape": list(t.shape),
            "values": [plain(int(v) if isinstance(v, bool) else v) for v in values]}
    # The f32 source of the 16-bit tensors, so the test can check cadenza's
    # own rounding (float_to_bf16 / float_to_f16) against torch's.
    expected["sources"] = {"bf16.tricky": "f32.tricky", "f16.tricky": "f32.tricky",
                           "bf16.matrix": "f32.matrix", "f16.matrix": "f32.matrix"}
    with open(os.path.join(OUT, "torch_tensors.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote torch_tensors.safetensors/.json with torch", torch.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
