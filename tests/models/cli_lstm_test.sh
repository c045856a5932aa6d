#!/usr/bin/env bash
# End-to-end smoke test of `cadenza train|sample|eval lstm` on the packaged
# planetblupi MIDI files: a few steps, a resume, sampling with audio, eval,
# and the errors a user sees for bad input.
set -euo pipefail
cadenza=$1
work=$2
data=/usr/share/planetblupi/music
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

$cadenza train lstm --data "$data" --vocab performance --out "$work/run" --layers 1 --hidden 32 \
  --embed 16 --batch 4 --seq-len 32 --steps 8 --warmup 2 --eval-every 4 --val-tokens 2048 \
  --stop-at 4 > "$work/train1.log"
grep -q '"interrupted":true' "$work/train1.log" || fail "first run did not stop at step 4"
$cadenza train lstm --data "$data" --vocab performance --out "$work/run" --resume > "$work/train2.log" \
  2> "$work/train2.err"
grep -q '"steps":8' "$work/train2.log" || fail "resumed run did not reach step 8"
grep -q "not used" "$work/train2.err" && fail "resume warned about flags that it uses: $(cat "$work/train2.err")"
# Flags that --resume does not use are named on stderr, and the run goes on.
$cadenza train lstm --data "$data" --vocab performance --out "$work/run" --resume --lr 0.5 --batch 2 \
  > "$work/train3.log" 2> "$work/train3.err"
grep -q 'not used: --batch, --lr' "$work/train3.err" || fail "resume did not name the flags it ignores: $(cat "$work/train3.err")"
for f in latest.safetensors best.safetensors metrics.csv loss.png; do
  [ -s "$work/run/$f" ] || fail "missing $f"
done
ls "$work/run"/events.out.tfevents.* >/dev/null || fail "no TensorBoard events"
[ "$(grep -c '^' "$work/run/metrics.csv")" -ge 3 ] || fail "metrics.csv too short"

$cadenza sample lstm --checkpoint "$work/run/latest.safetensors" --out "$work/s.mid" --wav "$work/s.wav" \
  --png "$work/s.png" --length 200 --count 2 --seed 3 > "$work/sample.json"
for f in s-1.mid s-2.mid s-1.wav s-2.png; do [ -s "$work/$f" ] || fail "missing sample $f"; done
$cadenza sample lstm --checkpoint "$work/run/latest.safetensors" --out "$work/again.mid" --length 200 --seed 3 >/dev/null
cmp -s "$work/s-1.mid" "$work/again.mid" || fail "the same seed gave a different sample"
# --device cuda (the emulated device here): the model steps there and only
# the logits come back; the CPU's kernels draw the Decoder's tokens.
CADENZA_EMULATE_CUDA=1 $cadenza sample lstm --checkpoint "$work/run/latest.safetensors" --out "$work/dev.mid" \
  --length 200 --seed 3 --device cuda >/dev/null || fail "sample lstm --device cuda (emulated)"
cmp -s "$work/dev.mid" "$work/again.mid" || fail "sample lstm --device cuda gave another sample"

$cadenza eval lstm --checkpoint "$work/run/latest.safetensors" --data "$data/music000.mid" > "$work/eval.json"
grep -q '"nll"' "$work/eval.json" || fail "eval printed no nll"

# Ctrl-C: SIGINT during training saves latest.safetensors and exits 0; the
# run then resumes from it.
$cadenza train lstm --data "$data" --vocab performance --out "$work/int" --layers 1 --hidden 32 \
  --embed 16 --batch 4 --seq-len 32 --steps 100000 --warmup 2 --eval-every 1000 --log-every 1 \
  --val-tokens 1024 > "$work/int.log" &
pid=$!
for _ in $(seq 1 200); do
  [ "$(grep -c '^' "$work/int/metrics.csv" 2>/dev/null || echo 0)" -ge 3 ] && break
  sleep 0.1
done
kill -INT $pid
wait $pid || fail "SIGINT: training exited with $?"
grep -q '"interrupted":true' "$work/int.log" || fail "SIGINT: no interrupted run reported"
[ -s "$work/int/latest.safetensors" ] || fail "SIGINT: no checkpoint saved"
$cadenza train lstm --data "$data" --vocab performance --out "$work/int" --resume --steps 100000 \
  --stop-at "$(( $(grep -o '"steps":[0-9]*' "$work/int.log" | cut -d: -f2) + 1 ))" > "$work/int2.log"
grep -q '"interrupted":true' "$work/int2.log" || fail "resume after SIGINT did not run"

# Bad input: the message names the problem and the exit code is non-zero.
set +e
out=$($cadenza train lstm --data "$data" --vocab jazz --out "$work/x" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "vocab must be performance or melody" || fail "bad --vocab: $rc $out"
head -c 100 "$work/run/latest.safetensors" > "$work/cut.safetensors"
out=$($cadenza sample lstm --checkpoint "$work/cut.safetensors" --out "$work/x.mid" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "cut.safetensors" || fail "truncated checkpoint: $rc $out"
out=$($cadenza train lstm --data /nonexistent --out "$work/x" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "/nonexistent" || fail "missing data: $rc $out"
echo "cli lstm ok"
