#!/usr/bin/env bash
# End to end: `cadenza train|eval|sample wavenet` on tones made here with sox
# (two folders = two classes, plus a broken and a silent file that are
# skipped), an interrupt and an exact resume, evaluation checked against the
# PyTorch twin, a tiny vocoder that resynthesises a file, and bad input.
#   cli_wavenet_test.sh CADENZA WORKDIR
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
[ $# -eq 2 ] || fail "usage: $0 CADENZA WORKDIR"
cadenza=$1 work=$2
python=${CADENZA_TORCH_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/data/sine" "$work/data/square"
for i in 1 2 3 4; do
  sox -n -r 16000 -c 1 -b 16 -e signed-integer "$work/data/sine/s$i.wav" synth 1.2 sine $((220 * i)) vol 0.5
  sox -n -r 16000 -c 1 -b 16 -e signed-integer "$work/data/square/q$i.wav" synth 1.2 square $((110 * i)) vol 0.3
done
sox -D -n -r 16000 -c 1 -b 16 -e signed-integer "$work/data/sine/silent.wav" trim 0 1
echo "not audio" > "$work/data/square/broken.wav"
d="$work/data"
tiny="--layers 4 --stacks 2 --residual-channels 8 --gate-channels 16 --skip-channels 8 --batch 2 --crop 1000 --valid-crops 2"

# Class-conditioned, interrupted at step 5 of 12 and resumed.
$cadenza train wavenet --data "$d" --out "$work/run" $tiny --condition class --steps 12 --eval-every 4 \
  --stop-at 5 > "$work/t1.log"
grep -q "dropped 1 silent" "$work/t1.log" || fail "silent file not counted: $(head -3 "$work/t1.log")"
grep -q "dropped 1 unreadable" "$work/t1.log" || fail "broken file not counted"
grep -q '"interrupted":true' "$work/t1.log" || fail "did not stop at step 5"
$cadenza train wavenet --data "$d" --out "$work/run" --resume --batch 3 > "$work/t2.log" 2> "$work/t2.err"
grep -q '"steps":12' "$work/t2.log" || fail "resume did not reach step 12"
grep -q 'not used: --batch' "$work/t2.err" || fail "resume did not name --batch as unused"
$cadenza train wavenet --data "$d" --out "$work/straight" $tiny --condition class --steps 12 --eval-every 4 \
  > "$work/t3.log"
for f in latest.safetensors best.safetensors metrics.csv loss.png; do [ -s "$work/run/$f" ] || fail "missing $f"; done
cut -d, -f1,4 "$work/run/metrics.csv" | grep -v ',$' > "$work/a.csv"
cut -d, -f1,4 "$work/straight/metrics.csv" | grep -v ',$' > "$work/b.csv"
[ "$(grep -c '^' "$work/a.csv")" -eq 4 ] || fail "expected 3 validation rows and a header: $(cat "$work/a.csv")"
diff "$work/a.csv" "$work/b.csv" > /dev/null || fail "resumed validation NLLs differ from the uninterrupted run's"

# Evaluation equals the PyTorch twin's on whole files.
$cadenza eval wavenet --checkpoint "$work/run/best.safetensors" --audio "$d/sine/s1.wav,$d/square/q3.wav" \
  --class square > "$work/eval.json"
"$python" "$here/../reference/check_wavenet_eval.py" "$work/run/best.safetensors" "$work/eval.json" --class 1 \
  "$d/sine/s1.wav" "$d/square/q3.wav"

# Sampling: two streams, WAV + spectrogram each, the same for the same seed.
$cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/s.wav" --seconds 0.3 --count 2 \
  --class sine --seed 4 > /dev/null
for f in s-1.wav s-2.wav s-1.png s-2.png; do [ -s "$work/$f" ] || fail "missing sample $f"; done
$cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/again.wav" --seconds 0.3 \
  --class sine --seed 4 > /dev/null
cmp -s "$work/s-1.wav" "$work/again.wav" || fail "the same seed gave a different sample"
# bf16 weights: a sample of the same length (its values may differ by rounding).
$cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/h.wav" --seconds 0.3 \
  --class sine --seed 4 --precision bf16 > /dev/null
[ "$(stat -c %s "$work/h.wav")" = "$(stat -c %s "$work/again.wav")" ] || fail "--precision bf16: another length"
# --device cuda: the emulated device runs the CPU generator, so the same
# sample; without a device, a clear refusal before any work.
CADENZA_EMULATE_CUDA=1 $cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/dev.wav" \
  --seconds 0.3 --class sine --seed 4 --device cuda > "$work/dev.json" || fail "sample --device cuda (emulated)"
cmp -s "$work/dev.wav" "$work/again.wav" || fail "--device cuda (emulated) gave another sample"
grep -q '"device":"cuda:0"' "$work/dev.json" || fail "sample --device cuda: the JSON does not name the device"
if [ -z "$(command -v nvidia-smi)" ]; then
  rc=0
  out=$($cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/x.wav" --class sine \
    --device cuda:3 2>&1) || rc=$?
  [ $rc -ne 0 ] && echo "$out" | grep -q "cuda:3 is not available" || fail "--device cuda:3 without a GPU: $rc $out"
fi

# A tiny vocoder resynthesises a file from its mel.
$cadenza train wavenet --data "$d" --out "$work/voc" $tiny --condition mel --n-mels 10 --n-fft 128 \
  --upsample-scales 4,4 --steps 4 --eval-every 2 > /dev/null
ls "$work/voc/cache"/mel-*.npy > /dev/null || fail "no mel cache beside the run"
# The same vocoder on the emulated device (the CPU's kernels under cuda:0's name,
# host access refused): the same losses, and its evaluations' resynthesis runs
# on a host copy.
CADENZA_EMULATE_CUDA=1 $cadenza train wavenet --data "$d" --out "$work/voc-dev" $tiny --condition mel --n-mels 10 \
  --n-fft 128 --upsample-scales 4,4 --steps 4 --eval-every 2 --device cuda > /dev/null
cut -d, -f1-5 "$work/voc/metrics.csv" > "$work/c.csv"
cut -d, -f1-5 "$work/voc-dev/metrics.csv" > "$work/e.csv"
diff "$work/c.csv" "$work/e.csv" > /dev/null || fail "the device run's metrics differ: $(paste -d'|' "$work/c.csv" "$work/e.csv")"
$cadenza sample wavenet --checkpoint "$work/voc/best.safetensors" --out "$work/r.wav" --mel "$d/sine/s2.wav" > "$work/r.json"
[ -s "$work/r.wav" ] && [ -s "$work/r.png" ] || fail "vocoder wrote no WAV/PNG"
grep -q '"samples":19200' "$work/r.json" || fail "resynthesis length: $(cat "$work/r.json")"
grep -Eq '"log_mel_l1":[0-9.]+' "$work/r.json" || fail "no log-mel distance: $(cat "$work/r.json")"
# RUN/corpus.json gives PyTorch's twin the same model and data: it trains on
# the cached clips and mels, and cadenza resynthesises with its checkpoint.
"$python" - "$work/voc/corpus.json" <<'PY' || fail "corpus.json: $(head -c 400 "$work/voc/corpus.json")"
import json, os, sys
j = json.load(open(sys.argv[1]))
assert j["config"]["cin_channels"] == 10 and j["config"]["hop_length"] == 16, j["config"]
clips = j["train"] + j["held_out"]
assert len(clips) == 8 and j["held_out"], [c["path"] for c in clips]
for c in clips:
    assert os.path.isabs(c["path"]) and os.path.isfile(c["audio"]) and os.path.isfile(c["mel"]), c
PY
"$python" "$here/../../benchmarks/pytorch_wavenet_train.py" --corpus "$work/voc/corpus.json" --minutes 0.01 \
  --batch 2 --crop 1000 --threads 1 --out "$work/twin.safetensors" > "$work/twin.log" || fail "twin: $(tail -3 "$work/twin.log")"
$cadenza sample wavenet --checkpoint "$work/twin.safetensors" --out "$work/t.wav" --mel "$d/sine/s2.wav" > "$work/t.json"
grep -Eq '"log_mel_l1":[0-9.]+' "$work/t.json" || fail "the twin's vocoder did not resynthesise: $(cat "$work/t.json")"

# Bad input names what is wrong.
set +e
"$python" -c "import numpy; numpy.save('$work/bad.npy', numpy.zeros((7, 5), dtype=numpy.float32))"
out=$($cadenza sample wavenet --checkpoint "$work/voc/best.safetensors" --out "$work/x.wav" --mel "$work/bad.npy" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "shape \[7, 5\]; the model needs float32 \[10, frames\] at hop 16" ||
  fail "bad .npy: $rc $out"
out=$($cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/x.wav" --class sine --rate 8000 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "differs from the checkpoint's 16000" || fail "bad --rate: $rc $out"
out=$($cadenza sample wavenet --checkpoint "$work/run/best.safetensors" --out "$work/x.wav" --class flute 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "is not one of the checkpoint's 2 classes (sine, square)" || fail "bad --class: $rc $out"
mkdir -p "$work/empty" && echo junk > "$work/empty/a.wav"
out=$($cadenza train wavenet --data "$work/empty" --out "$work/x" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "$work/empty" || fail "no usable audio: $rc $out"
head -c 200 "$work/run/latest.safetensors" > "$work/cut.safetensors"
out=$($cadenza eval wavenet --checkpoint "$work/cut.safetensors" --audio "$d/sine/s1.wav" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "cut.safetensors" || fail "truncated checkpoint: $rc $out"
echo "cli wavenet ok"
