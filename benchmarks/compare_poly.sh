#!/usr/bin/env bash
# Seconds per training epoch (training + validation) of the polyphonic
# benchmark's recipes, cadenza and PyTorch, on the same machine in the same
# run, the same number of threads each. Prints one JSON line per
# (framework, dataset).
#   benchmarks/compare_poly.sh [DATA_DIR] [THREADS] [DATASET ...]
# DATA_DIR defaults to ../shared/data/polyphonic beside the checkout.
# PYTHON (default /usr/bin/python3, Debian's python3-torch) runs PyTorch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/data/polyphonic}
threads=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
only=" $* "
python=${PYTHON:-/usr/bin/python3}
cadenza=$root/build/examples/cadenza
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# name  epochs-to-time  model and recipe (the rows of benchmarks/POLYPHONIC.md)
recipes=(
  "jsb_chorales 3 --layers 2 --hidden 200 --dropout 0.2 --batch 4 --lr 3e-3 --transpose 6"
  "nottingham 1 --layers 3 --hidden 280 --dropout 0.2 --batch 8 --lr 4e-3"
  "musedata 1 --layers 3 --hidden 280 --dropout 0.2 --batch 8 --lr 4e-3"
  "piano_midi 1 --layers 2 --hidden 200 --dropout 0.2 --batch 4 --lr 3e-3 --transpose 6"
)
for r in "${recipes[@]}"; do
  read -r name epochs args <<<"$r"
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || continue
  # shellcheck disable=SC2086
  out=$("$cadenza" train poly --data "$data/$name.json" --out "$work/$name" --epochs "$epochs" \
        --threads "$threads" --log-every 100000 $args | tail -1)
  secs=$(sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p' <<<"$out")
  echo "{\"framework\": \"cadenza\", \"data\": \"$name\", \"epochs\": $epochs, \"threads\": $threads," \
       "\"seconds\": $secs, \"seconds_per_epoch\": $(awk "BEGIN {print $secs / $epochs}")}"
  # shellcheck disable=SC2086
  "$python" "$root/benchmarks/pytorch_poly.py" "$data/$name.json" --epochs "$epochs" --threads "$threads" $args |
    sed "s/^{/{\"framework\": \"pytorch\", /"
done
