#!/usr/bin/env bash
# Builds every tests/fuzz/fuzz_*.cpp with clang's libFuzzer + ASan + UBSan and
# runs each for N seconds (default 60). A fuzz target names the library
# sources it needs on a line "// fuzz-sources: a.cpp b.cpp".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out"
for src in tests/fuzz/fuzz_*.cpp; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .cpp)
  deps=$(sed -n 's#^// fuzz-sources:##p' "$src")
  echo "-- $name: building"
  clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I. -I/usr/include/eigen3 "$src" $deps -o "$out/$name"
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  seeds=()
  [ -d "tests/fuzz/seeds/$name" ] && seeds+=("tests/fuzz/seeds/$name")
  echo "-- $name: running ${seconds}s"
  "$out/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 "$corpus" "${seeds[@]}" 2>"$out/$name.log" || {
    tail -50 "$out/$name.log"; echo "fuzz target $name failed"; exit 1; }
  grep -E "stat::number_of_executed_units|Done" "$out/$name.log" | head -2
done
echo "fuzz: all targets ran clean"
