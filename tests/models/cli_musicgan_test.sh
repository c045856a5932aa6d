#!/usr/bin/env bash
# End to end: `cadenza train|sample|eval musicgan` on four-voice MIDI made
# here (plus a 3/4 file and a corrupt one, counted and skipped), an
# interrupt and an exact resume, a checkpoint loaded into the PyTorch twin,
# samples as MIDI/WAV/PNG, the metrics table, and bad input.
#   cli_musicgan_test.sh CADENZA WORKDIR
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
[ $# -eq 2 ] || fail "usage: $0 CADENZA WORKDIR"
cadenza=$1 work=$2
python=${CADENZA_TORCH_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/data"
d="$work/data"
"$python" - "$d" <<'PY'
import os, random, sys
import mido
out = sys.argv[1]
random.seed(3)

def piece(path, beats_per_bar, bars):
    mf = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("time_signature", numerator=beats_per_bar, denominator=4, time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=600000, time=0))
    mf.tracks.append(meta)
    for ch, (name, low) in enumerate((("Soprano", 67), ("Alto", 60), ("Tenor", 53), ("Bass", 43))):
        tr = mido.MidiTrack()
        tr.append(mido.MetaMessage("track_name", name=name, time=0))
        tr.append(mido.Message("program_change", channel=ch, program=52, time=0))
        pitch = low
        for _ in range(beats_per_bar * bars):
            pitch = max(low - 5, min(low + 7, pitch + random.choice((-2, -1, 0, 1, 2))))
            tr.append(mido.Message("note_on", channel=ch, note=pitch, velocity=80, time=0))
            tr.append(mido.Message("note_off", channel=ch, note=pitch, velocity=0, time=480))
        mf.tracks.append(tr)
    mf.save(path)

for i in range(10):
    piece(os.path.join(out, "chorale%02d.mid" % i), 4, 8)
piece(os.path.join(out, "waltz.mid"), 3, 8)
open(os.path.join(out, "broken.mid"), "wb").write(b"MThd\x00\x00\x00\x06junk")
PY
tiny="--steps-per-bar 16 --z-dim 4 --temporal-channels 8 --gen-channels 4 --critic-channels 2 --batch 3 \
  --critic-steps 2 --eval-samples 4"

# Interrupted at step 3 of 6 and resumed; the same losses as a straight run.
$cadenza train musicgan --data "$d" --out "$work/run" $tiny --steps 6 --eval-every 2 --log-every 1 \
  --stop-at 3 > "$work/t1.log"
grep -q "unreadable" "$work/t1.log" || fail "the broken file is not counted: $(head -3 "$work/t1.log")"
grep -q "meter" "$work/t1.log" || fail "the 3/4 file is not counted: $(head -3 "$work/t1.log")"
grep -q '"interrupted":true' "$work/t1.log" || fail "did not stop at step 3"
$cadenza train musicgan --data "$d" --out "$work/run" --resume --batch 5 --log-every 1 > "$work/t2.log" 2> "$work/t2.err"
grep -q '"steps":6' "$work/t2.log" || fail "resume did not reach step 6"
grep -q 'not used: --batch' "$work/t2.err" || fail "resume did not name --batch as unused"
$cadenza train musicgan --data "$d" --out "$work/straight" $tiny --steps 6 --eval-every 2 --log-every 1 \
  > "$work/t3.log"
for f in latest.safetensors best.safetensors metrics.csv loss.png; do [ -s "$work/run/$f" ] || fail "missing $f"; done
# same_metrics A B: both runs' metrics.csv hold the same 6 rows of losses and evaluations.
same_metrics() {
  "$python" - "$1" "$2" <<'PY'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:])
keys = ["step", "loss", "wasserstein", "gradient_penalty", "g_loss", "val_nll", "val_wasserstein"]
ra, rb = [[r[k] for k in keys] for r in a], [[r[k] for k in keys] for r in b]
if ra != rb or len(ra) != 6:
    print(sys.argv[1], ra, sys.argv[2], rb, sep="\n")
    sys.exit(1)
PY
}
same_metrics "$work/run/metrics.csv" "$work/straight/metrics.csv" || fail "resumed run differs"

# On the emulated device (CADENZA_EMULATE_CUDA=1: the CPU's kernels under
# cuda:0's name, host access refused) the run is the CPU's, loss for loss.
CADENZA_EMULATE_CUDA=1 $cadenza train musicgan --data "$d" --out "$work/device" $tiny --steps 6 --eval-every 2 \
  --log-every 1 --device cuda > "$work/t4.log"
same_metrics "$work/device/metrics.csv" "$work/straight/metrics.csv" || fail "the device run differs from the cpu's"

# The straight-through outputs train on 0/1 rolls and sample one voice per track.
for out in binary voice hold; do
  $cadenza train musicgan --data "$d" --out "$work/$out" $tiny --output $out --steps 2 --eval-every 2 > "$work/$out.log"
  grep -q '"steps":2' "$work/$out.log" || fail "$out run: $(tail -2 "$work/$out.log")"
  $cadenza sample musicgan --checkpoint "$work/$out/latest.safetensors" --out "$work/$out.mid" \
    --npy "$work/$out.npy" --count 2 > /dev/null
done
# Two-stage training (BinaryMuseGAN): the sigmoid run resumes with binary neurons; voice cannot switch.
$cadenza train musicgan --data "$d" --out "$work/run" --resume --steps 7 --output binary > "$work/t5.log" 2> "$work/t5.err"
grep -q '"steps":7' "$work/t5.log" || fail "sigmoid -> binary resume: $(tail -2 "$work/t5.log")"
! grep -q 'not used' "$work/t5.err" || fail "--output was reported unused: $(cat "$work/t5.err")"
$cadenza sample musicgan --checkpoint "$work/run/latest.safetensors" --out "$work/b2.mid" --npy "$work/b2.npy" > /dev/null
set +e
out=$($cadenza train musicgan --data "$d" --out "$work/voice" --resume --steps 3 --output sigmoid 2>&1); rc=$?
set -e
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--output: the run was trained with a voice output" || fail "voice -> sigmoid: $rc $out"
"$python" - "$work/b2.npy" <<'PY' || fail "the resumed binary run's rolls are not 0/1"
import sys
import numpy
assert set(numpy.unique(numpy.load(sys.argv[1]))) <= {0.0, 1.0}
PY
"$python" - "$work/binary.npy" "$work/voice.npy" "$work/hold.npy" <<'PY' || fail "straight-through outputs are not 0/1 rolls"
import sys
import numpy
b, v, h = (numpy.load(a) for a in sys.argv[1:4])
for y in (b, v, h):
    assert set(numpy.unique(y)) <= {0.0, 1.0}, numpy.unique(y)
for y in (v, h):
    assert y.sum(-1).max() <= 1, "a voice sounds two pitches at once"
PY

# Nearest time upsampling: the private layers work at 16 steps per bar and each 16th is held
# (here 2 steps), so no note ends inside one.
$cadenza train musicgan --data "$d" --out "$work/nearest" ${tiny/--steps-per-bar 16/--steps-per-bar 32} \
  --output voice --time-upsample nearest --steps 2 --eval-every 2 > "$work/nearest.log"
grep -q 'voice output, nearest time upsampling' "$work/nearest.log" || fail "nearest run: $(head -3 "$work/nearest.log")"
$cadenza sample musicgan --checkpoint "$work/nearest/latest.safetensors" --out "$work/nearest.mid" \
  --npy "$work/nearest.npy" --count 3 > /dev/null
"$python" - "$work/nearest.npy" <<'PY' || fail "nearest upsampling split a 16th"
import sys
import numpy
y = numpy.load(sys.argv[1])
assert y.shape[-2] % 2 == 0 and y.sum() > 0, (y.shape, y.sum())
pairs = y.reshape(-1, 2, y.shape[-1])
assert (pairs[:, 0] == pairs[:, 1]).all(), "the two steps of a 16th differ"
PY

# A generator ending in tanh trains against rolls of -1/1, and samples.
$cadenza train musicgan --data "$d" --out "$work/tanh" $tiny --output tanh --critic-norm none --steps 2 \
  --eval-every 2 > "$work/tanh.log"
grep -q '"steps":2' "$work/tanh.log" || fail "tanh run: $(tail -2 "$work/tanh.log")"
$cadenza sample musicgan --checkpoint "$work/tanh/latest.safetensors" --out "$work/tanh.mid" > /dev/null

# The checkpoint loads into the PyTorch twin, which generates the same rolls.
"$python" -c "import numpy; numpy.random.seed(1); numpy.save('$work/z.npy', numpy.random.randn(3, 10, 4).astype('float32'))"
$cadenza sample musicgan --checkpoint "$work/run/best.safetensors" --latents "$work/z.npy" --npy "$work/y.npy" \
  --out "$work/z.mid" > /dev/null
"$python" "$here/../reference/check_musicgan_sample.py" "$work/run/best.safetensors" "$work/z.npy" "$work/y.npy"
CADENZA_EMULATE_CUDA=1 $cadenza sample musicgan --checkpoint "$work/run/best.safetensors" --latents "$work/z.npy" \
  --npy "$work/yd.npy" --out "$work/zd.mid" --device cuda > /dev/null
cmp -s "$work/y.npy" "$work/yd.npy" || fail "sample musicgan --device cuda (emulated) differs from the cpu's"

# Samples: MIDI with four named tracks, a WAV and a PNG each, the same for the same seed.
$cadenza sample musicgan --checkpoint "$work/run/best.safetensors" --out "$work/s.mid" --wav "$work/s.wav" \
  --png "$work/s.png" --count 2 --bernoulli --seed 4 > "$work/s.json"
for f in s-1.mid s-2.mid s-1.wav s-1.png s-2.png; do [ -s "$work/$f" ] || fail "missing sample $f"; done
$cadenza midi info "$work/s-1.mid" > "$work/info.txt"
grep -q "Soprano" "$work/info.txt" && grep -q "Bass" "$work/info.txt" || fail "sample tracks: $(cat "$work/info.txt")"
$cadenza sample musicgan --checkpoint "$work/run/best.safetensors" --out "$work/again.mid" --bernoulli --seed 4 > /dev/null
cmp -s "$work/s-1.mid" "$work/again.mid" || fail "the same seed gave a different sample"

# The metrics of the data and of samples, side by side.
$cadenza eval musicgan --checkpoint "$work/run/best.safetensors" --data "$d" --samples 8 > "$work/eval.json" \
  2> "$work/eval.txt"
"$python" - "$work/eval.json" <<'PY' || fail "eval JSON: $(cat "$work/eval.json")"
import json, sys
j = json.load(open(sys.argv[1]))
text = json.dumps(j)
for key in ("EB", "UPC", "QN", "NL", "TD"):
    assert key in text, key
PY
grep -q "UPC" "$work/eval.txt" || fail "no metrics table: $(cat "$work/eval.txt")"

# Bad input names what is wrong.
set +e
"$python" -c "import numpy; numpy.save('$work/bad.npy', numpy.zeros((2, 7, 4), dtype=numpy.float32))"
out=$($cadenza sample musicgan --checkpoint "$work/run/best.safetensors" --out "$work/x.mid" --latents "$work/bad.npy" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "needs float32 \[count, 10, 4\]" || fail "bad latents: $rc $out"
out=$($cadenza train musicgan --data "$d" --out "$work/x" --meter 4/3 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "\-\-meter '4/3'" || fail "bad --meter: $rc $out"
mkdir -p "$work/empty" && echo junk > "$work/empty/a.mid"
out=$($cadenza train musicgan --data "$work/empty" --out "$work/x" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "$work/empty" || fail "no usable MIDI: $rc $out"
"$python" - "$work/other.safetensors" "$here/../reference" <<'PY'
import sys, torch
sys.path.insert(0, sys.argv[2])
from make_golden import save
save(sys.argv[1], {"w": torch.zeros(2)}, {"format": "cadenza.wavenet.v1", "config": "{}"})
PY
out=$($cadenza sample musicgan --checkpoint "$work/other.safetensors" --out "$work/x.mid" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "not a cadenza musicgan checkpoint" || fail "other family: $rc $out"
head -c 300 "$work/run/latest.safetensors" > "$work/cut.safetensors"
out=$($cadenza sample musicgan --checkpoint "$work/cut.safetensors" --out "$work/x.mid" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "cut.safetensors" || fail "truncated checkpoint: $rc $out"
echo "cli musicgan ok"
