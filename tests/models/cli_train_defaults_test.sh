#!/usr/bin/env bash
# The command line's train commands: defaults that do not fit a short run are
# scaled to it, typed values that do not fit are refused by flag, errors from
# the library name the flag, and help comes from the flag definitions.
#   cli_train_defaults_test.sh CADENZA WORKDIR
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
[ $# -eq 2 ] || fail "usage: $0 CADENZA WORKDIR"
cadenza=$1 work=$2 data=/usr/share/planetblupi/music
rm -rf "$work" && mkdir -p "$work"

# The default warmup (100 steps) is longer than this run: it is scaled, not refused.
$cadenza train lstm --data "$data" --vocab performance --out "$work/short" --steps 30 --layers 1 \
  --hidden 16 --embed 8 --seq-len 32 --val-tokens 1024 > "$work/short.log" || fail "a 30-step run with default warmup failed"
grep -q '"steps":30' "$work/short.log" || fail "the 30-step run did not run 30 steps"

# One MIDI file alone trains: its last tenth validates, and the default batch
# shrinks to the streams it can fill.
$cadenza train lstm --data "$data/music000.mid" --out "$work/one" --steps 4 --layers 1 --hidden 16 --embed 8 \
  --seq-len 4096 --val-tokens 4096 > "$work/one.log" || fail "one MIDI file did not train"
grep -q "its last tenth is the validation split" "$work/one.log" || fail "one file: no note of the split"
# 51330 training tokens fill 12 streams of 4097 (the saved options say so).
# (Through a file: `head | grep -q` under pipefail fails when grep quits
# early and head gets SIGPIPE.)
head -c 20000 "$work/one/latest.safetensors" > "$work/one/header.bin"
grep -q '\\"batch\\":12[,}]' "$work/one/header.bin" || fail "one file: batch not scaled to 12"

set +e
# A typed warmup that does not fit is refused, naming the flag (exit 2).
out=$($cadenza train lstm --data "$data" --out "$work/x" --steps 30 --warmup 30 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--warmup: warmup (30 steps) must be below the run's 30 steps" ||
  fail "typed --warmup: $rc $out"
# Flag checks name the flag and the value.
out=$($cadenza train lstm --data "$data" --out "$work/x" --lr -1 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--lr: must be positive, got -1" || fail "bad --lr: $rc $out"
out=$($cadenza train poly --data x.json --out "$work/x" --schedule linear 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--schedule" || fail "bad --schedule: $rc $out"
out=$($cadenza train lstm --data "$data" --out "$work/x" --hidden 0 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--hidden: model config: hidden must be positive, got 0" || fail "bad --hidden: $rc $out"
# Too little data for the typed streams names the flag; by default fewer streams are used.
out=$($cadenza train lstm --data "$data" --out "$work/x" --batch 100000 --steps 2 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--batch: training data too small" || fail "too little data: $rc $out"
# No family, or an unknown one: the families are listed.
out=$($cadenza train 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "lstm" && echo "$out" | grep -q "poly" || fail "train alone: $rc $out"
out=$($cadenza train transformer --out x 2>&1); rc=$?
[ $rc -eq 2 ] || fail "unknown family: $rc $out"
# --device: a bad name names the flag; a trainer not ported yet says so; an
# absent GPU is named before any work (on a machine without one).
out=$($cadenza train lstm --data "$data" --out "$work/x" --device tpu 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q -- "--device: device must be cpu, cuda or cuda:N, got 'tpu'" ||
  fail "bad --device: $rc $out"
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
  out=$($cadenza train lstm --data "$data" --out "$work/x" --steps 2 --device cuda 2>&1); rc=$?
  [ $rc -ne 0 ] && echo "$out" | grep -q "cuda:0 is not available" || fail "--device cuda without a GPU: $rc $out"
fi
set -e
# The emulated device (CPU kernels under cuda:0's name) trains and writes a checkpoint that resumes on the CPU.
CADENZA_EMULATE_CUDA=1 $cadenza train lstm --data "$data" --vocab performance --out "$work/dev" --steps 6 --layers 1 \
  --hidden 16 --embed 8 --seq-len 32 --val-tokens 1024 --stop-at 3 --device cuda > "$work/dev.log" ||
  fail "emulated --device cuda failed"
$cadenza train lstm --data "$data" --out "$work/dev" --resume > "$work/dev2.log" || fail "resume of the device run on the cpu"
grep -q '"steps":6' "$work/dev2.log" || fail "the resumed device run did not reach 6 steps"

# Help is built from the definitions: every family's train has the loop's flags,
# and poly's lists its per-dataset recipes. (Here-strings, not pipes: under
# pipefail, `cmd | grep -q` fails when grep stops reading before cmd's last
# write, which a help text over one 4 KiB write makes a race.)
for fam in lstm poly; do
  help=$($cadenza train $fam --help)
  for flag in --out --lr --clip --warmup --schedule --seed --eval-every --patience --log-every --resume --threads; do
    grep -q -- "$flag" <<< "$help" || fail "train $fam --help lacks $flag"
  done
done
grep -q "jsb_chorales .* 150 .* 40 .* +-6" <<< "$help" || fail "poly --help lacks the JSB recipe"
grep -q "Usage: cadenza train poly" <<< "$help" || fail "poly --help usage line"
echo "cli train defaults ok"
