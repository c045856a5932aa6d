#!/usr/bin/env bash
# Two builds of cadenza on the same workloads, alternated in the same run, so
# a refactor can show it did not slow the hot path on this (noisy, shared)
# machine: W1 (the LSTM training step, `cadenza bench W1`) and seconds per
# epoch of JSB Chorales through `cadenza train poly` (training + validation,
# the POLYPHONIC.md recipe). Prints one JSON line per measurement and the
# median new/old ratio of each workload.
#   benchmarks/compare_builds.sh OLD_CADENZA NEW_CADENZA [ROUNDS] [THREADS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
old=$1
new=$2
rounds=${3:-3}
threads=${4:-2}
jsb=${JSB:-$root/../shared/data/polyphonic/jsb_chorales.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lines=$work/lines.jsonl
for r in $(seq 1 "$rounds"); do
  for which in old new; do
    bin=${!which}
    w1=$("$bin" bench W1 --json --seconds 5 --threads "$threads")
    echo "{\"build\": \"$which\", \"round\": $r, \"workload\": \"W1\", \"result\": $w1}" | tee -a "$lines"
    rm -rf "$work/run"
    out=$("$bin" train poly --data "$jsb" --out "$work/run" --epochs 3 --layers 2 --hidden 200 --dropout 0.2 \
          --batch 4 --lr 3e-3 --transpose 6 --patience 0 --threads "$threads" --log-every 100000 | tail -1)
    secs=$(sed -n 's/.*"seconds":\([0-9.e+-]*\).*/\1/p' <<<"$out")
    echo "{\"build\": \"$which\", \"round\": $r, \"workload\": \"jsb_epoch\", \"seconds_per_epoch\": $(awk "BEGIN {print $secs / 3}")}" |
      tee -a "$lines"
  done
done
python3 - "$lines" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def fig(r):
    return r["result"]["seconds_per_unit"] if r["workload"] == "W1" else r["seconds_per_epoch"]
for w in ("W1", "jsb_epoch"):
    per_round = {}
    for r in rows:
        if r["workload"] == w:
            per_round.setdefault(r["round"], {})[r["build"]] = fig(r)
    ratios = [v["new"] / v["old"] for v in per_round.values() if "new" in v and "old" in v]
    old = [v["old"] for v in per_round.values()]
    new = [v["new"] for v in per_round.values()]
    print(f"{w}: old {statistics.median(old):.4f} s, new {statistics.median(new):.4f} s, "
          f"new/old median {statistics.median(ratios):.3f} (per round: {', '.join(f'{x:.3f}' for x in ratios)})")
PY
