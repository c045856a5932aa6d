#!/usr/bin/env bash
# The one prepared command for a lent GPU machine (H100/H200), about 5
# minutes. Here first: scripts/gpu_debs.sh. Then, through the device tool:
#   run(command="bash scripts/gpu_check.sh", carry=[".gpudeps"], timeout_s=540)
# It unpacks the carried headers into a prefix, builds kernels/ and engine/
# with CUDA for sm_90 (CADENZA_ENGINE_ONLY: the machine has none of the
# audio/MIDI -dev packages), and runs, each step logged under $OUT:
#   1. the cuda-labelled tests (device probe; the CUDA backend's memory,
#      copies, elementwise ops and GEMM; streams, events and record_stream);
#   2. the backend table test: every op case on the CPU and on CUDA, compared
#      (the CUDA kernels' first real check);
#   3. compute-sanitizer memcheck on both, racecheck on the CUDA check,
#      synccheck on the streams check (without its gated parts, which a
#      sanitizer that serialises streams would hold up);
#   4. the engine's whole test suite with the CUDA build;
#   5. K1, K2 and W1 on the GPU against PyTorch's cuDNN in the same run
#      (benchmarks/compare_device.sh), then W3 and W3x8 (the persistent
#      generation kernel, f32 and bf16; no PyTorch peer): bench.jsonl and
#      the table bench.md.
# $OUT/results.json says which steps passed, log.txt has each step's tail,
# logs.tgz every step's whole log (the device tool returns at most 8 files).
# Keeps going after a failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-/tmp/gpu_check}
logs=/tmp/gpu_check_logs
mkdir -p "$out" && rm -rf "$logs" && mkdir -p "$logs"
results=()
step() {  # step NAME TIMEOUT COMMAND...: runs it, logs it, records pass/fail
  local name=$1 limit=$2
  shift 2
  local t0=$(date +%s)
  echo "== $name ($(date +%T))" | tee -a "$out/log.txt"
  timeout "$limit" "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$logs/$name.log" | tee -a "$out/log.txt"
  results+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - t0 ))}")
  echo "   -> rc $rc" | tee -a "$out/log.txt"
  return 0
}

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$out/gpu.csv" 2>&1
cat "$out/gpu.csv" | tee -a "$out/log.txt"

prefix=/tmp/gpudeps
rm -rf "$prefix" && mkdir -p "$prefix"
for f in .gpudeps/*.deb; do dpkg -x "$f" "$prefix"; done
export CMAKE_PREFIX_PATH="$prefix/usr" CPATH="$prefix/usr/include" LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu"
jobs=$(nproc)
step configure 120 cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCADENZA_ENGINE_ONLY=ON -DCADENZA_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCADENZA_MPI=OFF -DZLIB_ROOT="$prefix/usr" -DEigen3_DIR="$prefix/usr/share/eigen3/cmake"
step build 300 cmake --build build-gpu -j"$jobs"
step cuda_tests 120 ctest --test-dir build-gpu -L cuda --output-on-failure
export CADENZA_GUARD_BYTES=64
step backend_table 120 build-gpu/tests/engine/test_engine "[backend]"
if command -v compute-sanitizer >/dev/null; then
  step memcheck_cuda_check 120 compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/tests/engine_tools/cuda_backend_check
  step racecheck_cuda_check 120 compute-sanitizer --tool racecheck --error-exitcode 9 build-gpu/tests/engine_tools/cuda_backend_check
  step memcheck_decoder 120 compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/tests/engine_tools/cuda_decoder_check --quick
  step synccheck_streams 90 compute-sanitizer --tool synccheck --error-exitcode 9 \
    build-gpu/tests/engine_tools/cuda_stream_check --no-gates
  step memcheck_wavenet_generate 150 compute-sanitizer --tool memcheck --error-exitcode 9 \
    build-gpu/tests/engine_tools/cuda_wavenet_generate_check --quick
  step memcheck_backend_table 180 compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/tests/engine/test_engine "[backend]"
fi
step engine_tests 240 ctest --test-dir build-gpu -j"$jobs" --timeout 300
step bench 240 bash benchmarks/compare_device.sh build-gpu cuda python3
grep '^{' "$logs/bench.log" > "$out/bench.jsonl" || true
python3 benchmarks/ratio_table.py "$out/bench.jsonl" > "$out/bench.md" 2>&1 || true
cat "$out/bench.md" | tee -a "$out/log.txt"
tar czf "$out/logs.tgz" -C "$logs" .
(IFS=,; echo "[${results[*]}]") > "$out/results.json"
cat "$out/results.json"
