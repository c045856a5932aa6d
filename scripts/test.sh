#!/usr/bin/env bash
# The test suite: installs what is missing, builds Release, runs ctest, runs
# the CUDA kernels and the engine's tests on the CUDA emulator
# (tests/cuda_emu), then the tests again under AddressSanitizer + UBSan, and
# the fuzz targets.
#   CADENZA_QUICK=1  only the Release build and its tests
#   CADENZA_FUZZ_SECONDS=N  seconds per fuzz target (default 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/deps.sh
cadenza_install_deps

jobs=$(nproc)
echo "== Release build ($(date +%T))"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "== Tests (Release) ($(date +%T))"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${CADENZA_QUICK:-0}" = 1 ]; then exit 0; fi

if [ -x /usr/local/cuda/bin/nvcc ] || [ -f /usr/local/cuda/include/cuda_runtime.h ]; then
  echo "== The CUDA kernels on the CPU emulator, tests/cuda_emu ($(date +%T))"
  # Without a GPU the cuda-labelled tests above skip; here every .cu runs on
  # the CPU (each CUDA thread a fiber), with the engine's unit tests, whose
  # backend table then covers the CUDA backend too. Engine-only: kernels/
  # and engine/ and their tests.
  cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DCADENZA_ENGINE_ONLY=ON -DCADENZA_CUDA=EMU \
    -DCADENZA_MPI=OFF >/dev/null
  cmake --build build-emu -j"$jobs"
  (cd build-emu && ctest --output-on-failure -j"$jobs" --timeout 900)
else
  echo "== No CUDA toolkit headers: the CUDA emulator's tests are not built"
fi

echo "== Tests under AddressSanitizer + UndefinedBehaviorSanitizer ($(date +%T))"
# -O1: the sanitizers find the same faults, and on 2 cores build and tests
# took 12 minutes in a clean CI run (2026-12-03), where -O3 took 32.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DCADENZA_SANITIZE=address,undefined -DCADENZA_BUILD_BENCHMARKS=OFF -DCADENZA_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
# mpirun's ranks run Open MPI's own allocations, which LeakSanitizer reports
# as leaks; the distributed code runs sanitized as one process (label unit).
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -LE "consumer|slow|mpi" --timeout 900)

echo "== Fuzz targets ($(date +%T))"
bash scripts/fuzz.sh "${CADENZA_FUZZ_SECONDS:-60}"
echo "== Done ($(date +%T))"
