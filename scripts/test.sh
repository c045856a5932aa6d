#!/usr/bin/env bash
# The test suite: installs what is missing, builds Release, runs ctest, then
# runs the tests again under AddressSanitizer + UBSan and the fuzz targets.
#   CADENZA_QUICK=1  only the Release build and its tests
#   CADENZA_FUZZ_SECONDS=N  seconds per fuzz target (default 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/deps.sh
cadenza_install_deps

jobs=$(nproc)
echo "== Release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "== Tests (Release)"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${CADENZA_QUICK:-0}" = 1 ]; then exit 0; fi

echo "== Tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCADENZA_SANITIZE=address,undefined \
  -DCADENZA_BUILD_BENCHMARKS=OFF -DCADENZA_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -LE "consumer|slow" --timeout 900)

echo "== Fuzz targets"
bash scripts/fuzz.sh "${CADENZA_FUZZ_SECONDS:-60}"
