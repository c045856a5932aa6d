#!/usr/bin/env bash
# `mpirun -np 2 cadenza train lstm` end to end on the packaged planetblupi
# MIDI files: the log names the global batch, only rank 0 writes, a 2-rank
# run resumes over 2 ranks (and refuses 1), and a rank that raises or is
# killed mid-run stops the other with a message naming it, within the
# timeout, leaving rank 0's last checkpoint loadable.
set -euo pipefail
cadenza=$1
work=$2
mpirun=${3:-mpirun}
data=/usr/share/planetblupi/music
rm -rf "$work"; mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 CADENZA_DIST_TIMEOUT=30
mp() { "$mpirun" -np 2 --oversubscribe "$@"; }
small=(--data "$data" --vocab performance --layers 1 --hidden 32 --embed 16 --batch 2 --seq-len 32
       --warmup 1 --val-tokens 1024 --threads 1)

mp "$cadenza" train lstm "${small[@]}" --out "$work/run" --steps 6 --eval-every 2 --stop-at 4 \
  > "$work/train1.log" 2> "$work/train1.err" || fail "2-rank run failed: $(cat "$work/train1.err")"
grep -q "data-parallel over MPI, 2 ranks: batch 2 per rank, global batch 4" "$work/train1.log" \
  || fail "the log does not say the global batch: $(cat "$work/train1.log")"
[ "$(grep -c '"interrupted":true' "$work/train1.log")" -eq 1 ] || fail "expected one report, from rank 0 alone"
for f in latest.safetensors best.safetensors metrics.csv; do [ -s "$work/run/$f" ] || fail "missing $f"; done
mp "$cadenza" train lstm --data "$data" --vocab performance --out "$work/run" --resume --threads 1 \
  > "$work/train2.log" 2> "$work/train2.err" || fail "2-rank resume failed: $(cat "$work/train2.err")"
grep -q '"steps":6' "$work/train2.log" || fail "the resumed run did not reach step 6"
[ "$(grep -c '^' "$work/run/metrics.csv")" -ge 4 ] || fail "metrics.csv too short"

set +e
out=$("$cadenza" train lstm --data "$data" --vocab performance --out "$work/run" --resume --steps 8 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "mpirun -np 2" || fail "a 2-rank run resumed alone: $rc $out"
out=$(mp "$cadenza" sample lstm --checkpoint "$work/run/latest.safetensors" --out "$work/s.mid" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "only \`cadenza train\`" || fail "sample under mpirun: $rc $out"

# A stop request forwarded to every rank (mpirun forwards SIGUSR1; Ctrl-C
# reaches the ranks as SIGTERM): they stop after the same step, rank 0
# saves, and the run resumes from there.
"$mpirun" -np 2 --oversubscribe "$cadenza" train lstm "${small[@]}" --out "$work/usr1" --steps 100000 \
  --eval-every 1000 --log-every 1 > "$work/usr1.log" 2>&1 &
pid=$!  # mpirun itself, which forwards SIGUSR1 to the ranks
for _ in $(seq 1 300); do
  [ "$(grep -c '^' "$work/usr1/metrics.csv" 2>/dev/null || echo 0)" -ge 4 ] && break
  sleep 0.1
done
kill -USR1 $pid
wait $pid || fail "SIGUSR1: mpirun exited with $?: $(tail -3 "$work/usr1.log")"
grep -q '"interrupted":true' "$work/usr1.log" || fail "SIGUSR1: no interrupted run reported"
[ -s "$work/usr1/latest.safetensors" ] || fail "SIGUSR1: no checkpoint saved"
done_steps=$(grep -o '"steps":[0-9]*' "$work/usr1.log" | cut -d: -f2)
mp "$cadenza" train lstm --data "$data" --vocab performance --out "$work/usr1" --resume --steps 100000 --threads 1 \
  --stop-at $((done_steps + 2)) > "$work/usr1-resume.log" 2>&1 || fail "resume after SIGUSR1: $(tail -3 "$work/usr1-resume.log")"
grep -q "\"steps\":$((done_steps + 2))" "$work/usr1-resume.log" || fail "resume after SIGUSR1 did not continue"

# MusicGAN over 2 ranks (BatchNorm buffers follow rank 0): a run stopped at
# step 2 and resumed logs the losses of a straight 2-rank run.
mkdir -p "$work/chorales"
/usr/bin/python3 - "$work/chorales" <<'PY' || fail "could not write the test MIDI (python3-mido)"
import os, random, sys
import mido
random.seed(3)
for i in range(6):
    mf = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    mf.tracks.append(meta)
    for ch, low in enumerate((67, 60, 53, 43)):
        tr = mido.MidiTrack()
        pitch = low
        for _ in range(32):
            pitch = max(low - 5, min(low + 7, pitch + random.choice((-2, -1, 0, 1, 2))))
            tr.append(mido.Message("note_on", channel=ch, note=pitch, velocity=80, time=0))
            tr.append(mido.Message("note_off", channel=ch, note=pitch, velocity=0, time=480))
        mf.tracks.append(tr)
    mf.save(os.path.join(sys.argv[1], "c%d.mid" % i))
PY
gan=(--data "$work/chorales" --steps-per-bar 16 --z-dim 4 --temporal-channels 8 --gen-channels 4
     --critic-channels 2 --batch 2 --critic-steps 2 --eval-samples 4 --steps 4 --eval-every 2 --log-every 1 --threads 1)
mp "$cadenza" train musicgan "${gan[@]}" --out "$work/gan-split" --stop-at 2 > "$work/gan1.log" 2>&1 \
  || fail "2-rank musicgan: $(cat "$work/gan1.log")"
mp "$cadenza" train musicgan --data "$work/chorales" --out "$work/gan-split" --resume --threads 1 --log-every 1 \
  > "$work/gan2.log" 2>&1 || fail "2-rank musicgan resume: $(cat "$work/gan2.log")"
mp "$cadenza" train musicgan "${gan[@]}" --out "$work/gan-straight" > "$work/gan3.log" 2>&1 \
  || fail "2-rank musicgan: $(cat "$work/gan3.log")"
cmp -s <(cut -d, -f1-5 "$work/gan-split/metrics.csv") <(cut -d, -f1-5 "$work/gan-straight/metrics.csv") \
  || fail "resumed 2-rank musicgan differs: $(paste -d'|' "$work/gan-split/metrics.csv" "$work/gan-straight/metrics.csv")"
[ "$(grep -c '^' "$work/gan-split/metrics.csv")" -eq 5 ] || fail "musicgan metrics.csv: $(cat "$work/gan-split/metrics.csv")"

# The same run on a device (emulated: the CPU's kernels under cuda:0's name,
# host access refused): gradients and buffers go through the host, and the
# losses are the CPU's.
mp -x CADENZA_EMULATE_CUDA=1 "$cadenza" train musicgan "${gan[@]}" --out "$work/gan-device" --device cuda \
  > "$work/gan4.log" 2>&1 || fail "2-rank musicgan on a device: $(cat "$work/gan4.log")"
grep -q "rank 0 on cuda:0, gradients reduced through the host" "$work/gan4.log" \
  || fail "the log does not say where the ranks train: $(head -5 "$work/gan4.log")"
cmp -s <(cut -d, -f1-5 "$work/gan-device/metrics.csv") <(cut -d, -f1-5 "$work/gan-straight/metrics.csv") \
  || fail "2-rank musicgan on a device differs: $(paste -d'|' "$work/gan-device/metrics.csv" "$work/gan-straight/metrics.csv")"

# A rank that raises: the other stops, and the error names the rank.
start=$(date +%s)
out=$(CADENZA_FAULT=1:3:raise timeout 120 "$mpirun" -np 2 --oversubscribe "$cadenza" train lstm "${small[@]}" \
  --out "$work/raise" --steps 50 --eval-every 2 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a raising rank: exit $rc (124: it hung) $out"
echo "$out" | grep -q "rank 1: error: fault injected after step 3" || fail "a raising rank was not named: $out"
# A rank killed by SIGKILL: the launcher or the timeout stops the other.
out=$(CADENZA_FAULT=1:3:kill timeout 120 "$mpirun" -np 2 --oversubscribe "$cadenza" train lstm "${small[@]}" \
  --out "$work/kill" --steps 50 --eval-every 2 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a killed rank: exit $rc (124: it hung) $out"
echo "$out" | grep -qi "rank 1" || fail "a killed rank was not named: $out"
echo "$out" | grep -qi "signal 9\|killed\|did not complete" || fail "no reason given for the stop: $out"
# A rank that stops taking part (alive, silent): the others give up after
# CADENZA_DIST_TIMEOUT and name the collective that waited.
out=$(CADENZA_DIST_TIMEOUT=5 CADENZA_FAULT=1:3:stall timeout 120 "$mpirun" -np 2 --oversubscribe "$cadenza" train \
  lstm "${small[@]}" --out "$work/stall" --steps 50 --eval-every 2 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a stalled rank: exit $rc (124: it hung) $out"
echo "$out" | grep -q "rank 0 of 2: .* did not complete within 5 s" || fail "the timeout's message: $out"
elapsed=$(( $(date +%s) - start ))
[ $elapsed -lt 200 ] || fail "stopping took $elapsed s"
set -e
# Rank 0's last checkpoint (step 2) is whole: the run resumes from it.
mp "$cadenza" train lstm --data "$data" --vocab performance --out "$work/kill" --resume --steps 4 --threads 1 \
  > "$work/resume-kill.log" 2>&1 || fail "the checkpoint left by the killed run: $(cat "$work/resume-kill.log")"
grep -q '"steps":4' "$work/resume-kill.log" || fail "the killed run did not resume to step 4"
echo "ok"
