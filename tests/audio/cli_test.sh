#!/usr/bin/env bash
# `cadenza audio` end to end on a small stereo WAV: info, convert (rate, mono,
# container), features (.npy header and shape), spectrogram (.png), and the
# exit codes and messages of a missing file and a bad flag value.
set -euo pipefail
cli=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

info=$("$cli" audio info "$src")
grep -q '"sample_rate": 8000' <<<"$info" || fail "info rate: $info"
grep -q '"channels": 2' <<<"$info" || fail "info channels: $info"
grep -q '"format": "WAV"' <<<"$info" || fail "info format: $info"

out=$("$cli" audio convert "$src" "$tmp/m.flac" --rate 16000 --mono)
info=$("$cli" audio info "$tmp/m.flac")
grep -q '"channels": 1' <<<"$info" || fail "convert mono: $info"
grep -q '"sample_rate": 16000' <<<"$info" || fail "convert rate: $info"
grep -q '"format": "FLAC"' <<<"$info" || fail "convert container: $info"
frames_in=$(grep -o '"frames": [0-9]*' <<<"$("$cli" audio info "$src")" | grep -o '[0-9]*$')
frames_out=$(grep -o '"frames": [0-9]*' <<<"$info" | grep -o '[0-9]*$')
[ "$frames_out" -eq $((frames_in * 2)) ] || fail "convert frames $frames_in -> $frames_out"

out=$("$cli" audio features "$tmp/m.flac" --kind mel --n-fft 256 --hop 64 --n-mels 20 --db \
  --out "$tmp/mel.npy")
grep -q '"shape": \[' <<<"$out" || fail "features json: $out"
head -c 6 "$tmp/mel.npy" | grep -q 'NUMPY' || fail "features: not a .npy"
head -c 128 "$tmp/mel.npy" | grep -q "'shape': (20, $((frames_out / 64 + 1)))" ||
  fail "features shape: $(head -c 128 "$tmp/mel.npy")"
"$cli" audio features "$tmp/m.flac" --kind mfcc --n-fft 256 --n-mels 20 --n-mfcc 13 \
  --out "$tmp/mfcc.npy" >/dev/null
head -c 128 "$tmp/mfcc.npy" | grep -q "'shape': (13, " || fail "mfcc shape"

"$cli" audio spectrogram "$src" --n-fft 256 --n-mels 32 --out "$tmp/spec.png" >/dev/null
head -c 4 "$tmp/spec.png" | grep -q 'PNG' || fail "spectrogram: not a .png"

set +e
msg=$("$cli" audio info "$tmp/missing.wav" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "missing file exit code $rc"
grep -q "missing.wav" <<<"$msg" || fail "missing file message: $msg"
grep -q "libsndfile" <<<"$msg" || fail "missing file message: $msg"
set +e
"$cli" audio features "$src" --kind nope --out "$tmp/x.npy" 2>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "bad --kind exit code $rc"
echo "cadenza audio CLI: ok"
