#!/usr/bin/env bash
# cadenza's main job: train an LSTM over performance events on real MIDI
# (Debian's openttd-openmsx and planetblupi-music-midi), then sample three
# pieces to demo-out/ as .mid, .wav and a piano-roll .png each. Training
# takes about 75 s on 2 cores of a Zen 5 (measured 2026-12-01); validation
# NLL stops improving after ~600 of the 1200 steps, so longer runs or a
# larger model (hidden 512 was tried) only overfit this 540k-token corpus.
#   CADENZA_DEMO_STEPS=N   training steps (default 1200)
#   CADENZA_DEMO_DATA=...  comma-separated MIDI files or directories
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/deps.sh
cadenza_install_deps

echo "== Building cadenza (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target cadenza_cli -j"$(nproc)"
cadenza=build/examples/cadenza

data=${CADENZA_DEMO_DATA:-/usr/share/games/openttd/baseset/openmsx,/usr/share/planetblupi/music}
steps=${CADENZA_DEMO_STEPS:-1200}
run=runs/demo
out=demo-out
rm -rf "$run" "$out"
mkdir -p "$out"

echo "== Training: 2-layer LSTM (256 units) on performance events, $steps steps"
$cadenza train lstm --data "$data" --vocab performance --out "$run" \
  --layers 2 --hidden 256 --embed 128 --dropout 0.25 --batch 16 --seq-len 128 \
  --steps "$steps" --warmup 50 --lr 3e-3 --eval-every 200 --log-every 50 \
  --val-tokens 16384 --transpose 3 --seed 1 | tee "$out/train.log"
summary=$(tail -n 1 "$out/train.log")

echo "== Sampling three pieces"
$cadenza sample lstm --checkpoint "$run/best.safetensors" --out "$out/sample.mid" \
  --wav "$out/sample.wav" --png "$out/sample.png" --count 3 --length 1500 \
  --temperature 0.9 --top-p 0.95 --max-note-seconds 3 --seed 7 --rate 16000 | tee "$out/samples.json"

python3 - "$summary" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
print()
print("validation NLL: %.3f nats/token (%.3f bits)" % (s["best_val_nll"], s["best_val_bits"]))
print("unigram baseline: %.3f nats/token" % s["unigram_val_nll"])
verdict = "beats" if s["best_val_nll"] < s["unigram_val_nll"] else "does NOT beat"
print("the model %s the unigram baseline by %.3f nats/token" % (verdict, s["unigram_val_nll"] - s["best_val_nll"]))
PY
echo
echo "wrote:"
ls -1 "$out"/sample-* "$run"/*.safetensors "$run"/metrics.csv "$run"/loss.png | sed 's/^/  /'
echo "TensorBoard: tensorboard --logdir $run"
