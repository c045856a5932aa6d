#!/usr/bin/env bash
# cadenza against PyTorch on MusicGAN's workloads: W5 of DESIGN.md (one
# WGAN-GP critic update and one generator update, batch 16) and the conv3d /
# conv_transpose3d kernels on MusicGAN's shapes, back to back in the same
# run, the same thread count each. Prints the JSON lines of both and a table
# of ratios.
#   benchmarks/compare_musicgan.sh [PYTHON] [THREADS]
# PYTHON: a python with torch (default /usr/bin/python3, Debian's 1.13; PyPI's
# 2.x in a venv outside the repository is the peer of the targets).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-/usr/bin/python3}
threads=${2:-2}
cadenza=$root/build/examples/cadenza
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for w in conv3d conv_transpose3d W5; do
  echo "{\"framework\": \"cadenza\", \"result\": $("$cadenza" bench "$w" --json --seconds 10 --threads "$threads")}" | tee -a "$lines"
  if [[ $w == W5 ]]; then
    out=$("$python" "$root/benchmarks/pytorch_musicgan.py" --threads "$threads" --seconds 10 "$w")
  else
    out=$("$python" "$root/benchmarks/pytorch_conv_nd.py" --threads "$threads" --seconds 10 "$w")
  fi
  echo "{\"framework\": \"pytorch\", \"result\": $out}" | tee -a "$lines"
done
python3 "$root/benchmarks/ratio_table.py" "$lines"
