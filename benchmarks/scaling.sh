#!/usr/bin/env bash
# Data-parallel scaling on one machine: W1 (the LSTM training step) and W2
# (the WaveNet training step), each as
#   1 rank x 1 thread    the baseline
#   1 rank x 2 threads   the other way to use a second core
#   2 ranks x 1 thread   mpirun -np 2: each rank a whole W1/W2 step on its own
#                        batch, gradients averaged by MPI_Allreduce
# back to back in one run. Throughput counts every rank's examples (weak
# scaling: the per-rank batch is the workload's). Prints the JSON lines and
# the efficiencies: 2 ranks / (2 x 1 thread), and 2 ranks / 2 threads.
#   benchmarks/scaling.sh [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-15}
cadenza=$root/build/examples/cadenza
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset CADENZA_NUM_THREADS
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for w in W1 W2; do
  for setup in "1x1" "1x2" "2x1"; do
    ranks=${setup%x*} threads=${setup#*x}
    if [ "$ranks" = 1 ]; then
      out=$("$cadenza" bench "$w" --json --seconds "$seconds" --threads "$threads")
    else
      out=$(mpirun -np "$ranks" --oversubscribe --bind-to none "$cadenza" bench "$w" --json --seconds "$seconds" \
        --threads "$threads")
    fi
    echo "{\"setup\": \"$setup\", \"result\": $out}" | tee -a "$lines"
  done
done
python3 - "$lines" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["result"]["workload"], r["setup"]): r["result"] for r in rows}
print("\n| workload | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread | all-reduce per step | 2 ranks / 2x(1x1) | 2 ranks / (1x2) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for w in ("W1", "W2"):
    a, b, c = by[(w, "1x1")], by[(w, "1x2")], by[(w, "2x1")]
    unit = a["throughput_unit"]
    print(f"| {w} | {a['throughput']:.0f} {unit} | {b['throughput']:.0f} | {c['throughput']:.0f} "
          f"| {c.get('allreduce_bytes', 0) / 1e6:.1f} MB, {1e3 * c.get('allreduce_s_per_unit', 0):.1f} ms "
          f"| {c['throughput'] / (2 * a['throughput']):.2f} | {c['throughput'] / b['throughput']:.2f} |")
PY
