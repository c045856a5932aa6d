#!/usr/bin/env bash
# cadenza against PyTorch on the WaveNet workloads of DESIGN.md (K1 at four
# dilations, W2, W3, W3x8), back to back in the same run, the same thread
# count each; then cadenza's bf16 generation (W3_bf16, W3x8_bf16), compared
# with PyTorch's f32 figure of the same run. Prints the JSON lines of both and
# a table of ratios.
#   benchmarks/compare_wavenet.sh [PYTHON] [THREADS]
# PYTHON: a python with torch (default /usr/bin/python3, Debian's 1.13; PyPI's
# 2.x in a venv outside the repository is the peer of the targets).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-/usr/bin/python3}
threads=${2:-2}
cadenza=$root/build/examples/cadenza
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for w in K1_d1 K1_d8 K1_d64 K1_d512 W2 W3 W3x8; do
  echo "{\"framework\": \"cadenza\", \"result\": $("$cadenza" bench "$w" --json --seconds 4 --threads "$threads")}" | tee -a "$lines"
  if [[ $w == K1_* ]]; then
    out=$("$python" "$root/benchmarks/pytorch_conv1d.py" --threads "$threads" --seconds 4 "$w")
  else
    out=$("$python" "$root/benchmarks/pytorch_wavenet.py" --threads "$threads" --seconds 4 "$w")
  fi
  echo "{\"framework\": \"pytorch\", \"result\": $out}" | tee -a "$lines"
done
for w in W3_bf16 W3x8_bf16; do
  echo "{\"framework\": \"cadenza\", \"result\": $("$cadenza" bench "$w" --json --seconds 4 --threads "$threads")}" | tee -a "$lines"
done
python3 "$root/benchmarks/ratio_table.py" "$lines"
