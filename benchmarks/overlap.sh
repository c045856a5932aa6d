#!/usr/bin/env bash
# The gradients' all-reduce overlapped with backward against after it: W1
# (the LSTM training step) at 2 ranks x 1 thread (mpirun -np 2, each rank a
# whole step on its own batch), CADENZA_DIST_OVERLAP=0 and 1 alternating,
# for each bucket size, ROUNDS times back to back. Prints the JSON lines,
# then per setting the median over the rounds of the step time, the
# throughput of both ranks, the time per step in the reduction's own code
# (with overlap: prepare, hooks and finish; what backward hid is not in it)
# and the buckets that started before backward ended.
#   benchmarks/overlap.sh [SECONDS] [ROUNDS] [BUCKET_MB ...]   (default 15 3 25 4)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-15}
rounds=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
buckets=("$@")
[ ${#buckets[@]} -gt 0 ] || buckets=(25 4)
cadenza=$root/build/examples/cadenza
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset CADENZA_NUM_THREADS
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT
for round in $(seq 1 "$rounds"); do
  for mb in "${buckets[@]}"; do
    for overlap in 0 1; do
      out=$(CADENZA_DIST_OVERLAP=$overlap mpirun -np 2 --oversubscribe --bind-to none -x CADENZA_DIST_OVERLAP \
        "$cadenza" bench W1 --json --seconds "$seconds" --threads 1 --bucket-mb "$mb")
      echo "{\"round\": $round, \"bucket_mb\": $mb, \"overlap\": $overlap, \"result\": $out}" | tee -a "$lines"
    done
  done
done
python3 - "$lines" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| bucket | all-reduce | s/step (median of rounds) | tokens/s, 2 ranks | reduction's own time per step | buckets, started during backward |")
print("| --- | --- | --- | --- | --- | --- |")
for mb in dict.fromkeys(r["bucket_mb"] for r in rows):
    for ov in (0, 1):
        rs = [r["result"] for r in rows if r["bucket_mb"] == mb and r["overlap"] == ov]
        s = statistics.median(r["seconds_per_unit"] for r in rs)
        t = statistics.median(r["throughput"] for r in rs)
        a = statistics.median(r["allreduce_s_per_unit"] for r in rs)
        started = rs[-1].get("buckets_started_in_backward", 0)
        each = ", ".join("%.3f" % r["seconds_per_unit"] for r in rs)
        how = "overlapped" if ov else "after backward"
        print(f"| {mb} MiB | {how} | {s:.3f} ({each}) | {t:.0f} | {1e3 * a:.1f} ms | {rs[-1]['buckets']}, {started} |")
PY
