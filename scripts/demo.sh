#!/usr/bin/env bash
# cadenza's main job: a short training and sampling run of every model
# family, writing .mid, .wav and .png files to demo-out/<family>/.
#   ./scripts/demo.sh            every family
#   ./scripts/demo.sh FAMILY     one: lstm, poly, wavenet or musicgan
#
# lstm: an LSTM over performance events on real MIDI (Debian's
#   openttd-openmsx and planetblupi-music-midi), then three sampled pieces.
#   Training takes about 75 s on 2 cores of a Zen 5 (measured 2026-12-01);
#   validation NLL stops improving after ~600 of the 1200 steps, so longer
#   runs or a larger model (hidden 512 was tried) only overfit this
#   540k-token corpus.
#     CADENZA_DEMO_STEPS=N   training steps (default 1200)
#     CADENZA_DEMO_DATA=...  comma-separated MIDI files or directories
# poly: the piano-roll LSTM of the polyphonic benchmark on JSB Chorales
#   (../shared/data/polyphonic/jsb_chorales.json when it is there; else the
#   same Debian MIDI corpora cut into eighth-note frames), with its default
#   recipe for 30 epochs, then a sampled chorale and the test NLL.
#     CADENZA_DEMO_EPOCHS=N  epochs (default 30)
#     CADENZA_DEMO_POLY=FILE the benchmark JSON to train on
# wavenet: a small mel-conditioned WaveNet vocoder on Debian's openttd-openmsx
#   MIDI rendered through FluidSynth at 16 kHz (rendered once, about a minute,
#   into ~/.cache/cadenza), then the resynthesis of 3 s of a held-out file
#   from its mel, with the original's and the resynthesis's spectrograms
#   stacked in one PNG; and a small unconditioned WaveNet that generates 2 s.
#   About 5 minutes on 2 cores: short runs, so the held-out NLL is reported
#   against the mu-law unigram baseline rather than for its sound.
#     CADENZA_DEMO_WAVENET_STEPS=N  vocoder steps (default 600; the unconditioned model: half)
# musicgan: a small MusicGAN (WGAN-GP, 5 critic updates per generator
#   update; one voice per track, each 16th held for its 3 steps: the recipe
#   of benchmarks/MUSICGAN.md) on the Bach chorales of music21 as four tracks (soprano, alto,
#   tenor, bass; music21 is installed from PyPI and the chorales converted
#   once into ~/.cache/cadenza, a few minutes the first time; training then
#   takes about 3 minutes on 2 cores of a Zen 3, measured 2026-12-02), then 4 sampled
#   segments as .mid, .wav and .png, and MuseGAN's metrics of the data beside
#   those of 64 generated segments. A few minutes of training is far from
#   MuseGAN's: benchmarks/MUSICGAN.md has a longer run.
#     CADENZA_DEMO_MUSICGAN_STEPS=N  generator updates (default 120)
# Every family trains on a GPU when nvidia-smi finds one (CADENZA_DEMO_DEVICE=
# cpu|cuda chooses). No CUDA kernel had run on a GPU when this was written, so
# a run that fails there is rerun on the CPU, saying so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(lstm poly wavenet musicgan)
for f in "${families[@]}"; do
  case "$f" in
    lstm|poly|wavenet|musicgan) ;;
    *) echo "demo.sh: unknown family '$f' (lstm, poly, wavenet, musicgan)" >&2; exit 2 ;;
  esac
done
source scripts/deps.sh
cadenza_install_deps

echo "== Building cadenza (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target cadenza_cli -j"$(nproc)"
cadenza=build/examples/cadenza

device=${CADENZA_DEMO_DEVICE:-}
if [ -z "$device" ]; then
  device=cpu
  if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; then device=cuda; fi
fi
echo "== Training on: $device"
# train FAMILY ARGS... (with --out RUN): `cadenza train` on $device; on a GPU
# failure, again on the CPU in a fresh RUN.
train() {
  if [ "$device" != cpu ]; then
    if $cadenza train "$@" --device "$device"; then return 0; fi
    echo "demo.sh: training on $device failed (above); training on the cpu instead" >&2
    local prev="" a
    for a in "$@"; do
      [ "$prev" = "--out" ] && rm -rf "$a"
      prev=$a
    done
  fi
  $cadenza train "$@"
}

demo_lstm() {
  local data=${CADENZA_DEMO_DATA:-/usr/share/games/openttd/baseset/openmsx,/usr/share/planetblupi/music}
  local steps=${CADENZA_DEMO_STEPS:-1200}
  local run=runs/demo out=demo-out/lstm
  rm -rf "$run" "$out"
  mkdir -p "$out"
  echo "== lstm: training a 2-layer LSTM (256 units) on performance events, $steps steps"
  train lstm --data "$data" --vocab performance --out "$run" \
    --layers 2 --hidden 256 --embed 128 --dropout 0.25 --batch 16 --seq-len 128 \
    --steps "$steps" --warmup 50 --lr 3e-3 --eval-every 200 --log-every 50 \
    --val-tokens 16384 --transpose 3 --seed 1 | tee "$out/train.log"
  local summary
  summary=$(tail -n 1 "$out/train.log")
  echo "== lstm: sampling three pieces"
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
  echo "wrote:"
  ls -1 "$out"/sample-* "$run"/*.safetensors "$run"/metrics.csv "$run"/loss.png | sed 's/^/  /'
  echo "TensorBoard: tensorboard --logdir $run"
}

# The benchmark's JSON from MIDI files: each file a piece of eighth-note
# frames of the MIDI notes (21..108) sounding, split by a hash of the name.
midi_to_poly_json() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, os, sys, zlib
import mido
out, dirs = sys.argv[1], sys.argv[2].split(",")
splits = {"train": [], "valid": [], "test": []}
for d in dirs:
    for name in sorted(os.listdir(d)):
        if not name.lower().endswith((".mid", ".midi")):
            continue
        try:
            mf = mido.MidiFile(os.path.join(d, name))
        except Exception as e:
            print("skipped", name, e)
            continue
        step = mf.ticks_per_beat / 2  # eighth notes
        notes, sounding = [], {}
        for track in mf.tracks:
            t = 0
            for m in track:
                t += m.time
                if m.type == "note_on" and m.velocity > 0 and getattr(m, "channel", 0) != 9:
                    sounding[(m.channel, m.note)] = t
                elif m.type in ("note_off", "note_on") and (m.channel, m.note) in sounding:
                    notes.append((sounding.pop((m.channel, m.note)), t, m.note))
        if not notes:
            continue
        frames = [set() for _ in range(int(max(n[1] for n in notes) // step) + 1)]
        for a, b, p in notes:
            if 21 <= p <= 108:
                for f in range(int(a // step), max(int(a // step) + 1, int(b // step))):
                    frames[f].add(p)
        h = zlib.crc32(name.encode()) % 10
        splits["valid" if h == 0 else "test" if h == 1 else "train"].append([sorted(f) for f in frames])
json.dump(splits, open(out, "w"))
print({k: len(v) for k, v in splits.items()}, "pieces")
PY
}

demo_poly() {
  local data=${CADENZA_DEMO_POLY:-$root/../shared/data/polyphonic/jsb_chorales.json}
  local epochs=${CADENZA_DEMO_EPOCHS:-30}
  local run=runs/demo-poly out=demo-out/poly
  rm -rf "$run" "$out"
  mkdir -p "$out"
  if [ ! -s "$data" ]; then
    echo "== poly: $data is not here; making piano-roll frames of the Debian MIDI corpora instead"
    data=$out/debian_midi.json
    midi_to_poly_json "$data" /usr/share/games/openttd/baseset/openmsx,/usr/share/planetblupi/music
  fi
  echo "== poly: training the piano-roll LSTM on $(basename "$data") with its default recipe, $epochs epochs"
  train poly --data "$data" --out "$run" --epochs "$epochs" --log-every 100 | tee "$out/train.log"
  echo "== poly: sampling a piece and scoring the test split"
  $cadenza sample poly --checkpoint "$run/best.safetensors" --out "$out/sample.mid" --wav "$out/sample.wav" \
    --png "$out/sample.png" --frames 64 --seed 7 | tee "$out/sample.json"
  $cadenza eval poly --checkpoint "$run/best.safetensors" --data "$data" --split test | tee "$out/eval.json"
  echo "wrote:"
  ls -1 "$out"/sample.* "$run"/*.safetensors "$run"/metrics.csv "$run"/loss.png | sed 's/^/  /'
}

demo_wavenet() {
  local steps=${CADENZA_DEMO_WAVENET_STEPS:-600}
  local run=runs/demo-wavenet out=demo-out/wavenet
  rm -rf "$run" "$run-uncond" "$out"
  mkdir -p "$out"
  local small="--layers 12 --stacks 2 --residual-channels 32 --gate-channels 64 --skip-channels 64 --batch 4 --crop 4096"
  echo "== wavenet: training a small mel vocoder on rendered openmsx music, $steps steps"
  # shellcheck disable=SC2086
  train wavenet --out "$run" --condition mel $small --lr 2e-3 --steps "$steps" --eval-every 200 \
    --log-every 50 | tee "$out/train.log"
  local summary held
  summary=$(tail -n 1 "$out/train.log")
  held=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["held_out"][0])' "$summary")
  echo "== wavenet: resynthesising 3 s of the held-out $(basename "$held") from its mel"
  sox "$held" "$out/original.wav" trim 20 3
  $cadenza sample wavenet --checkpoint "$run/best.safetensors" --mel "$out/original.wav" \
    --out "$out/resynthesis.wav" --png "$out/original-vs-resynthesis.png" --seed 7 | tee "$out/resynthesis.json"
  echo "== wavenet: an unconditioned model, $((steps / 2)) steps, then 2 s generated from silence"
  # shellcheck disable=SC2086
  train wavenet --out "$run-uncond" $small --lr 2e-3 --steps $((steps / 2)) --eval-every 100 \
    --log-every 50 | tee "$out/train-uncond.log"
  $cadenza sample wavenet --checkpoint "$run-uncond/best.safetensors" --seconds 2 --out "$out/generated.wav" \
    --seed 7 | tee "$out/generated.json"
  python3 - "$summary" "$(tail -n 1 "$out/train-uncond.log")" <<'PY'
import json, sys
for name, line in (("vocoder", sys.argv[1]), ("unconditioned", sys.argv[2])):
    s = json.loads(line)
    print("%-13s held-out NLL %.3f bits/sample; mu-law unigram baseline %.3f bits/sample" %
          (name, s["best_val_bits"], s["unigram_val_bits"]))
PY
  echo "wrote:"
  ls -1 "$out"/*.wav "$out"/*.png "$run"/best.safetensors "$run"/loss.png | sed 's/^/  /'
  echo "TensorBoard (with audio clips): tensorboard --logdir runs"
}

demo_musicgan() {
  local steps=${CADENZA_DEMO_MUSICGAN_STEPS:-120}
  local run=runs/demo-musicgan out=demo-out/musicgan
  rm -rf "$run" "$out"
  mkdir -p "$out"
  echo "== musicgan: the Bach chorales of music21 as MIDI (converted once)"
  bash scripts/prepare_bach_chorales.sh
  echo "== musicgan: training a small MusicGAN on them, $steps generator updates"
  train musicgan --out "$run" --steps "$steps" --output voice --time-upsample nearest --gen-channels 16 \
    --critic-channels 4 --temporal-channels 128 --batch 8 --eval-every 40 --log-every 10 --eval-samples 32 --seed 1 | tee "$out/train.log"
  echo "== musicgan: sampling 4 segments"
  $cadenza sample musicgan --checkpoint "$run/best.safetensors" --out "$out/sample.mid" --wav "$out/sample.wav" \
    --png "$out/sample.png" --count 4 --seed 7 | tee "$out/samples.json"
  echo "== musicgan: MuseGAN's metrics, the data against 64 samples"
  $cadenza eval musicgan --checkpoint "$run/best.safetensors" --samples 64 > "$out/metrics.json"
  echo "wrote:"
  ls -1 "$out"/sample-* "$out"/metrics.json "$run"/best.safetensors "$run"/loss.png | sed 's/^/  /'
  echo "TensorBoard (with piano-roll pictures): tensorboard --logdir $run"
}

for f in "${families[@]}"; do
  "demo_$f"
done
