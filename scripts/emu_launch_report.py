#!/usr/bin/env python3
"""Counts what a run on the CUDA emulator asked of the device, from the trace
that CADENZA_CUDA_EMU_TRACE=FILE writes (tests/cuda_emu): launches by kernel,
cuBLAS GEMMs by shape, copies, memsets and synchronisations. Kernels the
trace names by offset ("@0x...") are resolved with nm against BINARY.

  CADENZA_CUDA_EMU_TRACE=t.trace build-emu/benchmarks/device_bench --device cuda --seconds 0 W1
  scripts/emu_launch_report.py t.trace build-emu/benchmarks/device_bench [--per N]

--per N divides every count by N (the runs the trace holds), so the table
reads per step; --base T2 first subtracts trace T2's counts (a run of fewer
steps: what is left is the steps' own work, without set-up, validation and
checkpoints). A count, not a time: the emulator runs one launch at a time
on the CPU, so it says how many launches and round trips a GPU would see,
nothing of how long each takes.
"""
import argparse
import collections
import re
import subprocess
import sys


def symbols(binary):
    out = subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            table[int(parts[0], 16)] = parts[2]
    return table


def short(name):
    """The kernel's name without its namespaces, arguments' types or parameters."""
    if name.endswith(")"):  # drop the parameter list: the balanced (...) at the end
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    name = name.replace("(anonymous namespace)", "anon")
    depth, out = 0, []
    for ch in name:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out).split("::")[-1].split(" ")[-1]


def count(path, table):
    kinds = collections.Counter()
    kernels = collections.Counter()
    gemms = collections.Counter()
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            kinds[w[0] if w[0] not in ("memcpy", "sync") else w[0] + " " + w[1]] += 1
            if w[0] in ("launch", "cooperative"):
                name = w[1]
                if name.startswith("@0x"):
                    name = table.get(int(name[1:], 16), name)
                kernels[short(name)] += 1
            elif w[0] == "gemm":
                gemms[" ".join(w[1:])] += 1
    return kinds, kernels, gemms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("binary", nargs="?")
    ap.add_argument("--per", type=float, default=1.0, help="divide the counts by this many runs")
    ap.add_argument("--base", help="a trace whose counts are subtracted first")
    a = ap.parse_args()
    table = symbols(a.binary) if a.binary else {}
    kinds, kernels, gemms = count(a.trace, table)
    if a.base:
        base = count(a.base, table)
        kinds, kernels, gemms = (c - b for c, b in zip((kinds, kernels, gemms), base))
    per = a.per
    print(f"per {per:g} run(s) of the traced program" if per != 1 else "in the whole trace")
    print(f"({sum(kinds.values()) / per:g} device calls: {kinds['launch'] / per:g} launches and "
          f"{kinds['gemm'] / per:g} cuBLAS GEMMs)")
    print("\n| what | count |\n| --- | ---: |")
    for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {n / per:g} |")
    print("\n| kernel | launches |\n| --- | ---: |")
    for k, n in kernels.most_common():
        print(f"| {k} | {n / per:g} |")
    print("\n| GEMM m x n x k | calls |\n| --- | ---: |")
    for k, n in gemms.most_common(20):
        print(f"| {k} | {n / per:g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
