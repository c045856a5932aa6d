#!/usr/bin/env bash
# K1, K2, W1 and W4 on one device, cadenza's device_bench and PyTorch's
# (cuDNN on a GPU) in the same run, back to back per workload; then W3 and
# W3x8 (fast generation, f32 and bf16), which PyTorch has no peer for;
# prints one line per (framework, workload) for ratio_table.py.
#   compare_device.sh BUILD_DIR DEVICE [PYTHON]   e.g. build-gpu cuda python3
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1 device=$2 py=${3:-python3}
seconds=${SECONDS_PER_WORKLOAD:-1}
bench="$build/benchmarks/device_bench"
[ -x "$bench" ] || { echo "compare_device.sh: no $bench (build it first)" >&2; exit 2; }
# K2_b1/K2_b8 take the persistent recurrence on a GPU (B <= 8); the _cublas
# runs time the per-step cuBLAS path beside them, against the same PyTorch run.
for w in K1_d1 K1_d8 K1_d64 K1_d512 K2_b1 K2_b1_cublas K2_b8 K2_b8_cublas K2_b64 W1 W4; do
  echo "{\"framework\": \"cadenza\", \"result\": $("$bench" --device "$device" --seconds "$seconds" "$w")}"
  case $w in *_cublas) continue ;; esac
  case $w in
    K1_*) script=pytorch_conv1d.py ;;
    *) script=pytorch_lstm.py ;;
  esac
  echo "{\"framework\": \"pytorch\", \"result\": $("$py" "$root/benchmarks/$script" --device "$device" --seconds "$seconds" "$w")}"
done
[ "$device" = cpu ] || extra=W4_fused
for w in ${extra:-} W3 W3x8 W3_bf16 W3x8_bf16; do
  echo "{\"framework\": \"cadenza\", \"result\": $("$bench" --device "$device" --seconds "$seconds" "$w")}"
done
