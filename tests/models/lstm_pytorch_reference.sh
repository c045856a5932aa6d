#!/usr/bin/env bash
# A cadenza checkpoint loaded into the equivalent PyTorch module gives the
# same NLL as `cadenza eval lstm` (within 1e-4), on the same tokens.
set -euo pipefail
cadenza=$1
work=$2
python=${CADENZA_TORCH_PYTHON:-/usr/bin/python3}
rm -rf "$work"; mkdir -p "$work"
data=/usr/share/planetblupi/music
for cell in lstm gru; do
  $cadenza train lstm --data "$data" --vocab performance --out "$work/$cell" --cell $cell --layers 2 \
    --hidden 24 --embed 12 --batch 4 --seq-len 32 --steps 6 --warmup 1 --eval-every 6 --val-tokens 1024 \
    > /dev/null
  files=("$data/music001.mid" "$data/music004.mid")
  $cadenza eval lstm --checkpoint "$work/$cell/latest.safetensors" --data "${files[0]},${files[1]}" > "$work/$cell.json"
  npys=()
  for f in "${files[@]}"; do
    n="$work/$(basename "$f" .mid).npy"
    $cadenza midi tokens "$f" --vocab performance --out "$n" > /dev/null
    npys+=("$n")
  done
  "$python" "$(dirname "$0")/../reference/check_lstm_eval.py" "$work/$cell/latest.safetensors" "$work/$cell.json" "${npys[@]}"
done
