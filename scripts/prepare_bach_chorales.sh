#!/usr/bin/env bash
# MusicGAN's default corpus: the Bach chorales of music21's corpus as MIDI,
# written once into OUT_DIR (default: what models::default_chorale_dir()
# returns: $CADENZA_DATA/bach-chorales, else $XDG_CACHE_HOME/cadenza/bach-chorales,
# else ~/.cache/cadenza/bach-chorales). Installs music21 from PyPI when it is
# missing (about a minute, so scripts/deps.sh leaves it out). Safe to rerun.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${CADENZA_DATA:-}" ]; then
  root=$CADENZA_DATA
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
  root=$XDG_CACHE_HOME/cadenza
else
  root=${HOME:-.}/.cache/cadenza
fi
out=${1:-$root/bach-chorales}
shift || true
if [ -f "$out/.complete" ]; then
  echo "$out: already complete ($(cat "$out/.complete"))"
  exit 0
fi
py=$(command -v python3)
if ! "$py" -c "import music21" 2>/dev/null; then
  echo "prepare_bach_chorales: installing music21 from PyPI"
  "$py" -m pip install -q music21 || "$py" -m pip install -q --break-system-packages music21
fi
exec "$py" "$here/prepare_bach_chorales.py" "$out" "$@"
