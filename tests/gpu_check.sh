#!/usr/bin/env bash
# GPU check: on a machine with a CUDA GPU, build for its native architecture, run the `gpu`-labelled
# tests (every CUDA kernel against its CPU twin), then the kernel benchmarks, and print a short
# summary last. Finishes in a few minutes. Headers may come from .deps/ (tests/prepare_gpu_deps.sh);
# cuDNN from the CUDA toolkit or from a Python wheel (nvidia-cudnn-cu13) when the toolkit lacks it.
# Usage: bash tests/gpu_check.sh [build-dir]       (default: build-gpu)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build-gpu}"
LOG="${OUT:-$BUILD}"
mkdir -p "$BUILD" "$LOG"
args=(-DCMAKE_BUILD_TYPE=Release -DSGSF_CUDA_ARCHITECTURES=native)
[ -d .deps ] && args+=(-DSGSF_THIRD_PARTY_HINTS="$PWD/.deps")
if ! ls /usr/local/cuda/include/cudnn.h >/dev/null 2>&1; then
  cudnn_root=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null || true)
  if [ -n "$cudnn_root" ]; then
    args+=(-DSGSF_CUDNN_ROOT="$cudnn_root")
    export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
  fi
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1
t0=$(date +%s)
if ! cmake -S . -B "$BUILD" -G Ninja "${args[@]}" >"$LOG/configure.log" 2>&1; then
  tail -30 "$LOG/configure.log"; echo "SUMMARY: configure FAILED"; exit 1
fi
if ! cmake --build "$BUILD" -j "$(nproc)" >"$LOG/build.log" 2>&1; then
  grep -E "error|Error" "$LOG/build.log" | head -40; echo "SUMMARY: build FAILED"; exit 1
fi
t1=$(date +%s)
ctest --test-dir "$BUILD" -L gpu --output-on-failure -j 4 >"$LOG/gpu_tests.log" 2>&1
tests_rc=$?
# Each gpu test must really have run on the device: no "SKIPPED (no GPU)" allowed here.
skipped=$(grep -c "SKIPPED (no GPU)" "$LOG/gpu_tests.log" || true)
t2=$(date +%s)
"$BUILD/bench_kernels" >"$LOG/bench_kernels.txt" 2>&1
bench_rc=$?
"$BUILD/bench_kernels" --json >"$LOG/bench_kernels.json" 2>/dev/null
"$BUILD/bench_conv" --runs 5 >"$LOG/bench_conv.txt" 2>&1
conv_rc=$?
t3=$(date +%s)
echo "===================== gpu tests (failures) ====================="
grep -E "Failed|FAILED|ERROR" "$LOG/gpu_tests.log" | head -40
echo "===================== bench_kernels ====================="
cat "$LOG/bench_kernels.txt"
echo "===================== bench_conv ====================="
cat "$LOG/bench_conv.txt"
echo "===================== SUMMARY ====================="
grep -E "tests passed|tests failed" "$LOG/gpu_tests.log"
echo "gpu tests rc=$tests_rc, skipped-without-device=$skipped | bench_kernels rc=$bench_rc | bench_conv rc=$conv_rc"
echo "build $((t1 - t0))s, tests $((t2 - t1))s, benchmarks $((t3 - t2))s"
[ "$tests_rc" -eq 0 ] && [ "$skipped" -eq 0 ] && [ "$bench_rc" -eq 0 ]
