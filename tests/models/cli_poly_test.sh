#!/usr/bin/env bash
# End-to-end test of `cadenza train|eval|sample poly` on a small dataset in
# the benchmark's JSON form (made here, with a learnable pattern): training
# with an interrupt and resume, Ctrl-C, evaluation checked against PyTorch
# scoring it the TCN way, sampling to MIDI/WAV/PNG, and bad input.
#   cli_poly_test.sh CADENZA WORKDIR
set -euo pipefail
cadenza=$1
work=$2
python=${CADENZA_TORCH_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

"$python" - "$work/data.json" <<'PY'
import json, random, sys
random.seed(4)
def piece():
    root, n = random.randint(40, 70), random.randint(8, 30)
    return [[root + (t % 5), root + 4 + (t % 5), root + 7 + (t % 5)] if t % 4 else [] for t in range(n)]
json.dump({s: [piece() for _ in range(k)] for s, k in [("train", 24), ("valid", 6), ("test", 7)]},
          open(sys.argv[1], "w"))
PY
d="$work/data.json"

for cell in lstm gru; do
  $cadenza train poly --data "$d" --out "$work/$cell" --cell $cell --layers 2 --hidden 16 --batch 4 \
    --epochs 3 --lr 1e-2 --stop-at 8 > "$work/$cell-1.log"
  grep -q '"interrupted":true' "$work/$cell-1.log" || fail "$cell: first run did not stop at step 8"
  $cadenza train poly --data "$d" --out "$work/$cell" --resume --hidden 64 > "$work/$cell-2.log" 2> "$work/$cell-2.err"
  grep -q '"steps":18' "$work/$cell-2.log" || fail "$cell: resumed run did not reach step 18 (3 epochs x 6)"
  grep -q 'not used: --hidden' "$work/$cell-2.err" || fail "$cell: resume did not name --hidden as unused"
  for f in latest.safetensors best.safetensors metrics.csv loss.png; do
    [ -s "$work/$cell/$f" ] || fail "$cell: missing $f"
  done
  ls "$work/$cell"/events.out.tfevents.* >/dev/null || fail "$cell: no TensorBoard events"
  $cadenza eval poly --checkpoint "$work/$cell/best.safetensors" --data "$d" --split test > "$work/$cell-eval.json"
  grep -q '"frames":' "$work/$cell-eval.json" || fail "$cell: eval printed no frame count"
  "$python" "$here/../reference/check_poly_eval.py" "$work/$cell/best.safetensors" "$d" test "$work/$cell-eval.json"
done

# An uninterrupted run gives the same validation NLL after every epoch as the
# interrupted-and-resumed one (the unit tests compare every step's loss).
$cadenza train poly --data "$d" --out "$work/straight" --cell lstm --layers 2 --hidden 16 --batch 4 \
  --epochs 3 --lr 1e-2 > "$work/straight.log"
awk -F, '$5 != ""' "$work/straight/metrics.csv" | cut -d, -f1,2,5 > "$work/a.csv"
awk -F, '$5 != ""' "$work/lstm/metrics.csv" | cut -d, -f1,2,5 > "$work/b.csv"
[ "$(grep -c '^' "$work/a.csv")" -eq 4 ] || fail "expected a validation row per epoch"
diff "$work/a.csv" "$work/b.csv" >/dev/null || fail "resumed run's validation NLLs differ from the uninterrupted run's"
# The same run on the emulated device (the CPU's kernels under cuda:0's name,
# host access refused): every step's loss and evaluation the same.
CADENZA_EMULATE_CUDA=1 $cadenza train poly --data "$d" --out "$work/device" --cell lstm --layers 2 --hidden 16 \
  --batch 4 --epochs 3 --lr 1e-2 --device cuda > "$work/device.log"
cut -d, -f1-5 "$work/straight/metrics.csv" > "$work/c.csv"
cut -d, -f1-5 "$work/device/metrics.csv" > "$work/e.csv"
diff "$work/c.csv" "$work/e.csv" >/dev/null || fail "the device run's metrics differ from the cpu's"

$cadenza sample poly --checkpoint "$work/lstm/best.safetensors" --out "$work/s.mid" --wav "$work/s.wav" \
  --png "$work/s.png" --frames 32 --seed 3 > "$work/sample.json"
for f in s.mid s.wav s.png; do [ -s "$work/$f" ] || fail "missing sample $f"; done
$cadenza midi info "$work/s.mid" > /dev/null || fail "sampled MIDI does not read back"
$cadenza sample poly --checkpoint "$work/lstm/best.safetensors" --out "$work/again.mid" --frames 32 --seed 3 >/dev/null
cmp -s "$work/s.mid" "$work/again.mid" || fail "the same seed gave a different sample"
CADENZA_EMULATE_CUDA=1 $cadenza sample poly --checkpoint "$work/lstm/best.safetensors" --out "$work/dev.mid" \
  --frames 32 --seed 3 --device cuda >/dev/null || fail "sample poly --device cuda (emulated)"
cmp -s "$work/dev.mid" "$work/again.mid" || fail "sample poly --device cuda gave another sample"

# Ctrl-C saves latest.safetensors and exits 0; the run resumes from it.
$cadenza train poly --data "$d" --out "$work/int" --hidden 16 --batch 2 --epochs 100000 --log-every 1 \
  > "$work/int.log" &
pid=$!
for _ in $(seq 1 200); do
  [ "$(grep -c '^' "$work/int/metrics.csv" 2>/dev/null || echo 0)" -ge 3 ] && break
  sleep 0.1
done
kill -INT $pid
wait $pid || fail "SIGINT: training exited with $?"
grep -q '"interrupted":true' "$work/int.log" || fail "SIGINT: no interrupted run reported"
[ -s "$work/int/latest.safetensors" ] || fail "SIGINT: no checkpoint saved"

# Bad input names the problem; usage errors exit 2, data errors 1.
set +e
out=$($cadenza train poly --data "$d" --out "$work/x" --cell rnn 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "cell must be lstm or gru" || fail "bad --cell: $rc $out"
printf '{"train": [[[60], [200]]], "valid": [], "test": []}' > "$work/bad.json"
out=$($cadenza train poly --data "$work/bad.json" --out "$work/x" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "bad.json', split train, piece 0, frame 1: note 200" || fail "bad note: $rc $out"
out=$($cadenza eval poly --checkpoint "$work/lstm/best.safetensors" --data "$d" --split dev 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "split must be train, valid or test" || fail "bad --split: $rc $out"
head -c 100 "$work/lstm/latest.safetensors" > "$work/cut.safetensors"
out=$($cadenza eval poly --checkpoint "$work/cut.safetensors" --data "$d" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "cut.safetensors" || fail "truncated checkpoint: $rc $out"
out=$($cadenza sample poly --checkpoint "$work/lstm/best.safetensors" --out "$work/x.mid" --primer 60,abc 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "primer" || fail "bad --primer: $rc $out"
echo "cli poly ok"
