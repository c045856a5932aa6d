#!/usr/bin/env python3
"""Checks that files written by cadenza load with Python's safetensors package.

    check_safetensors_python.py WRITER OUT_DIR

runs WRITER OUT_DIR (tests/engine_tools/write_safetensors_sample), then loads
the three files it writes with safetensors (safe_open + numpy, and the
framework-free safetensors.deserialize for BF16) and checks names, shapes,
dtypes, values and metadata against the formulas the writer used. ctest runs
this as `safetensors_python_interop`; it exits 77 (ctest: skipped) when numpy
or safetensors is missing (scripts/test.sh installs both with pip).
"""
import os
import subprocess
import sys

try:
    import numpy as np
    import safetensors
    from safetensors import safe_open
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (pip install numpy safetensors)")
    sys.exit(77)

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what)


def load(path):
    """name -> (dtype string, shape, raw bytes) via the package's own parser,
    plus the metadata as safe_open reports it."""
    with open(path, "rb") as f:
        raw = {n: (d["dtype"], list(d["shape"]), bytes(d["data"]))
               for n, d in safetensors.deserialize(f.read())}
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
        keys = sorted(f.keys())
    check(keys == sorted(raw), f"{path}: safe_open and deserialize list the same names")
    return raw, meta


def numpy_tensor(path, name):
    with safe_open(path, framework="numpy") as f:
        return f.get_tensor(name)


def check_file(path, expected, meta_want):
    raw, meta = load(path)
    check(meta == meta_want, f"{path}: metadata {meta!r} == {meta_want!r}")
    check(sorted(raw) == sorted(expected), f"{path}: names {sorted(raw)} == {sorted(expected)}")
    for name, (dtype, want) in expected.items():
        if name not in raw:
            continue
        got_dtype, shape, data = raw[name]
        check(got_dtype == dtype, f"{path}:{name}: dtype {got_dtype} == {dtype}")
        check(shape == list(want.shape), f"{path}:{name}: shape {shape} == {list(want.shape)}")
        if dtype == "BF16":
            # numpy has no bfloat16: compare the stored bits.
            got = np.frombuffer(data, dtype="<u2").reshape(shape)
            check(np.array_equal(got, want), f"{path}:{name}: bf16 bits {got} == {want}")
            continue
        got = numpy_tensor(path, name)
        check(got.dtype == want.dtype, f"{path}:{name}: numpy dtype {got.dtype} == {want.dtype}")
        same = np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want)) \
            if got.dtype.kind == "f" else np.array_equal(got, want)
        check(same, f"{path}:{name}: values\n{got}\n== \n{want}")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    writer, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    subprocess.run([writer, out], check=True)

    i64 = np.iinfo(np.int64)
    check_file(os.path.join(out, "sample.safetensors"), {
        "layers.0.weight": ("F32", (np.arange(105) * 0.5 - 20).astype(np.float32).reshape(3, 5, 7)),
        "layers.0.bias": ("F64", 1.0 / (np.arange(7, dtype=np.float64) + 1)),
        "tokens": ("I32", (np.arange(6) * 7 - 10).astype(np.int32).reshape(2, 3)),
        "step": ("I64", np.array(123456789012, dtype=np.int64)),
        "extremes": ("I64", np.array([i64.min, -1, i64.max], dtype=np.int64)),
        "empty": ("F32", np.zeros((0, 4), dtype=np.float32)),
        "transposed": ("F32", np.array([[1, 4], [2, 5], [3, 6]], dtype=np.float32)),
    }, {"format": "pt", "config": '{"model": "lstm", "layers": 2, "hidden": 512}',
        "unicode": "caf\u00e9 \u266b \"quoted\""})

    # BF16 bits as PyTorch rounds these values (torch.tensor(v).to(torch.bfloat16)).
    check_file(os.path.join(out, "sample_bf16.safetensors"), {
        "w": ("BF16", np.array([0x3F80, 0x3F80, 0x3F82, 0x4049, 0xBA83, 0x3DCD, 0x4780, 0x8000],
                               dtype=np.uint16)),
        "d": ("BF16", np.array([0x3DCD, 0xC0E0], dtype=np.uint16)),
        "count": ("I64", np.array([3], dtype=np.int64)),
    }, {"stored": "bf16"})

    # numpy's float16 cast rounds to nearest even, as cadenza's float_to_f16 must.
    half = np.array([1.0, -2.5, 65504.0, 1e-5, 6e-8, 0.1, 1.00048828125, 70000.0],
                    dtype=np.float32)
    with np.errstate(over="ignore"):
        half = half.astype(np.float16).reshape(2, 4)
    check_file(os.path.join(out, "sample_bytes.safetensors"), {
        "half": ("F16", half),
        "mask": ("BOOL", np.array([True, False, True])),
        "u8": ("U8", np.array([0, 255], dtype=np.uint8)),
        "i8": ("I8", np.array([-128, 127], dtype=np.int8)),
        "i16": ("I16", np.array([[-32768, 32767]], dtype=np.int16)),
        "u32": ("U32", np.array([4000000000], dtype=np.uint32)),
        "u64": ("U64", np.array(18000000000000000000, dtype=np.uint64)),
    }, {})

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("safetensors (Python", safetensors.__version__, ") loads cadenza's files: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
