#!/usr/bin/env bash
# Runs cadenza's and PyTorch's W1, W4 and K2 in the same run on this machine
# and prints one JSON line per (implementation, workload).
#   compare_lstm.sh [PYTHON...]   default: /usr/bin/python3 (Debian's torch)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cadenza=${CADENZA_BIN:-$root/build/examples/cadenza}
pythons=("$@")
[ ${#pythons[@]} -eq 0 ] && pythons=(/usr/bin/python3)
seconds=${SECONDS_PER_WORKLOAD:-5}
for w in W1 W4 K2_b1 K2_b8 K2_b64; do
  echo "{\"impl\":\"cadenza\",\"result\":$($cadenza bench $w --json --seconds "$seconds")}"
  for py in "${pythons[@]}"; do
    echo "{\"impl\":\"$py\",\"result\":$("$py" "$root/benchmarks/pytorch_lstm.py" --threads "$(nproc)" --seconds "$seconds" $w)}"
  done
done
