#!/usr/bin/env bash
# GPU check, for a machine with a CUDA GPU: build for its native architecture, run every
# `gpu`-labelled test (each CUDA kernel against its CPU twin, with CUDA_LAUNCH_BLOCKING=1 so a fault
# is reported at its launch) on the device, run each GPU benchmark once, and print a summary last.
# It cannot pass by accident: it fails when there is no GPU, when the configure step did not enable
# the real CUDA backend, when any gpu test fails or printed SKIPPED (read from the full per-test
# log), when no test case ran (cases are counted, not programs), or when a benchmark fails
# (bench_kernels also on a kernel that disagrees with its reference).
# Designed to finish in about 7 minutes on a 16-core machine, with a timing line per phase. The
# estimate per phase, from the 2-core CI machine (whose full build of these targets takes about
# 150 s): configure 10 s; build 40-60 s (a quarter of the files are nvcc's, for one architecture);
# gpu tests 60 s; benchmarks: bench_kernels 30 s, the traffic model 15 s, bench_conv 30 s, the
# paper-scale step 40 s and again in tf32 and bf16 (each up to 120 s), the step beside PyTorch at
# most 120 s, and the paper-scale step beside PyTorch in fp32, tf32 and bf16 (each up to 100 s).
# About 7 minutes; at most 13.
# Headers may come from .deps/ (tests/prepare_gpu_deps.sh); cuDNN from the CUDA toolkit or from
# the Python wheel nvidia-cudnn-cu13, always headers and library from the same copy.
# Usage: bash tests/gpu_check.sh [build-dir]       (default: build-gpu; logs in $OUT or the build dir)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build-gpu}"
LOG="${OUT:-$BUILD}"
start=$(date +%s)
phase_start=$start
phase() {  # prints how long the phase that just ended took
  local now
  now=$(date +%s)
  echo "[time] $1: $((now - phase_start)) s"
  phase_start=$now
}
die() {
  echo "SUMMARY: FAILED — $*"
  exit 1
}

# ---- 0. a GPU, or stop at once
if ! gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null) || [ -z "$gpu" ]; then
  echo "gpu_check: no CUDA GPU on this machine (nvidia-smi is missing or lists no device); nothing was built or run."
  echo "           Without a GPU, the gpu tests run on the emulated device instead: bash tests/run_tests.sh"
  echo "SUMMARY: FAILED — no GPU"
  exit 2
fi
echo "GPU: $(echo "$gpu" | head -1)"
mkdir -p "$BUILD" "$LOG"

# ---- 1. configure: native architecture; cuDNN from the toolkit, else from the pip wheel
args=(-DCMAKE_BUILD_TYPE=Release -DSGSF_CUDA_ARCHITECTURES=native -DSGSF_WITH_CUDA=ON -DSGSF_CUDA_EMULATION=OFF)
[ -d .deps ] && args+=(-DSGSF_THIRD_PARTY_HINTS="$PWD/.deps")
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
toolkit=$(cd "$(dirname "$nvcc_bin")/.." 2>/dev/null && pwd)
if [ -n "$toolkit" ] && [ -f "$toolkit/include/cudnn.h" ]; then
  echo "cuDNN: the CUDA toolkit's ($toolkit)"
else
  # nvidia.cudnn is a namespace package in the wheel: __file__ may be None, its __path__ is the folder.
  cudnn_root=$(python3 -c "import nvidia.cudnn as c; print(list(c.__path__)[0])" 2>/dev/null || true)
  if [ -n "$cudnn_root" ] && [ -f "$cudnn_root/include/cudnn.h" ]; then
    echo "cuDNN: the pip wheel's ($cudnn_root)"
    args+=(-DSGSF_CUDNN_ROOT="$cudnn_root")
    export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
  else
    echo "cuDNN: not in the toolkit nor in a nvidia-cudnn-cu13 wheel; the configure step will say what is missing"
  fi
fi
if ! cmake -S . -B "$BUILD" -G Ninja "${args[@]}" >"$LOG/configure.log" 2>&1; then
  tail -30 "$LOG/configure.log"
  die "configure"
fi
grep -q "SGSF: CUDA backend ON (architectures" "$LOG/configure.log" ||
  { grep "SGSF:" "$LOG/configure.log"; die "the configure step did not enable the CUDA backend"; }
grep "SGSF:" "$LOG/configure.log"
phase configure

# ---- 2. build only what runs here
if ! cmake --build "$BUILD" -j "$(nproc)" --target sgsf_gpu_tests bench_kernels bench_conv bench_train >"$LOG/build.log" 2>&1; then
  grep -E "error|Error" "$LOG/build.log" | head -40
  die "build"
fi
phase build

# ---- 3. every gpu test, on the device; any SKIPPED in the full per-test output is a failure
ctest --test-dir "$BUILD" -L gpu -j 4 --timeout 300 >"$LOG/gpu_tests.log" 2>&1
tests_rc=$?
full="$BUILD/Testing/Temporary/LastTest.log"
cp "$full" "$LOG/gpu_tests_full.log" 2>/dev/null
if [ -f "$full" ]; then skipped=$(grep -c "SKIPPED" "$full"); else skipped="no per-test log"; fi
ran=$(grep -Eo "[0-9]+ tests? failed out of [0-9]+" "$LOG/gpu_tests.log" | grep -Eo "[0-9]+$")
# Test cases, not programs: every doctest summary line "[doctest] test cases: N | P passed | ...",
# added up (a program with no gpu case on this build passes with 0 and must not count as a check).
cases=0
passed_cases=0
if [ -f "$full" ]; then
  cases=$(grep -Eo "\[doctest\] test cases: +[0-9]+" "$full" | grep -Eo "[0-9]+$" | awk '{s += $1} END {print s + 0}')
  passed_cases=$(grep -E "\[doctest\] test cases:" "$full" | grep -Eo "[0-9]+ passed" | grep -Eo "^[0-9]+" |
    awk '{s += $1} END {print s + 0}')
fi
echo "gpu test cases: $passed_cases passed of $cases run (in ${ran:-?} test programs)"
phase "gpu tests"

# ---- 4. each benchmark once, on the GPU only
"$BUILD/bench_kernels" --device cuda >"$LOG/bench_kernels.txt" 2>&1
bench_rc=$?  # non-zero too when a kernel disagrees with its reference (MISMATCH)
# The traffic model at the paper scale, every launch timed alone: bytes, FLOPs and the fraction of the
# copy bandwidth each hand-written kernel reaches.
timeout 120 "$BUILD/bench_kernels" --traffic >"$LOG/bench_traffic.txt" 2>&1
traffic_rc=$?
# One paper-scale training step (w = 128, 256x256, batch 16): step time, peak device memory and where
# the time goes by op family.
timeout 180 "$BUILD/bench_train" --width 128 --size 256 --batch 16 --steps 3 --warmup 1 --device cuda --profile \
  >"$LOG/bench_train_paper.txt" 2>&1
paper_rc=$?
# The same step with TF32 tensor cores (--precision tf32), for the speed-up over FMA float32.
timeout 120 "$BUILD/bench_train" --width 128 --size 256 --batch 16 --steps 3 --warmup 1 --device cuda --precision tf32 \
  >"$LOG/bench_train_paper_tf32.txt" 2>&1
tf32_rc=$?
# And in bf16 (the cast kernels feeding cuDNN's bf16 convolutions).
timeout 120 "$BUILD/bench_train" --width 128 --size 256 --batch 16 --steps 3 --warmup 1 --device cuda --precision bf16 \
  >"$LOG/bench_train_paper_bf16.txt" 2>&1
bf16_rc=$?
"$BUILD/bench_conv" --gpu-only --runs 5 >"$LOG/bench_conv.txt" 2>&1
conv_rc=$?
# One training step beside PyTorch's on the same GPU (the machine's python3 has PyTorch with CUDA);
# informational: its failure does not fail the check.
timeout 120 python3 bench/train_side_by_side.py --build "$BUILD" --device cuda --repeats 2 --steps 10 \
  >"$LOG/bench_train.txt" 2>&1
train_rc=$?
# The paper-scale step beside PyTorch in each precision, allow_tf32 set explicitly on both sides
# (off in fp32 and bf16, on in tf32; PyTorch's bf16 is autocast). Informational too.
for mode in fp32 tf32 bf16; do
  timeout 100 python3 bench/train_side_by_side.py --build "$BUILD" --device cuda --configs paper --repeats 1 --steps 3 \
    --precision "$mode" >"$LOG/bench_train_paper_torch_$mode.txt" 2>&1
  echo "side by side, $mode: rc=$?" >>"$LOG/bench_train_paper_torch_rc.txt"
done
phase benchmarks

# ---- 5. the results, the summary last
echo "===================== gpu tests: failures and skips ====================="
grep -E "Failed|FAILED|ERROR|SKIPPED" "$full" "$LOG/gpu_tests.log" | head -40
echo "===================== bench_kernels (GPU) ====================="
cat "$LOG/bench_kernels.txt"
echo "===================== bench_conv (GPU) ====================="
cat "$LOG/bench_conv.txt"
echo "===================== traffic of the paper-scale step (GPU) ====================="
cat "$LOG/bench_traffic.txt"
echo "===================== paper-scale training step (GPU) ====================="
cat "$LOG/bench_train_paper.txt"
echo "===================== paper-scale training step, tf32 (GPU) ====================="
cat "$LOG/bench_train_paper_tf32.txt"
echo "===================== paper-scale training step, bf16 (GPU) ====================="
cat "$LOG/bench_train_paper_bf16.txt"
echo "===================== training step beside PyTorch (GPU) ====================="
tail -8 "$LOG/bench_train.txt"
for mode in fp32 tf32 bf16; do
  echo "===================== paper-scale step beside PyTorch, $mode (GPU) ====================="
  tail -5 "$LOG/bench_train_paper_torch_$mode.txt"
done
cat "$LOG/bench_train_paper_torch_rc.txt"
echo "===================== SUMMARY ====================="
grep -E "tests passed|tests failed" "$LOG/gpu_tests.log"
echo "gpu tests rc=$tests_rc (${ran:-?} programs, $passed_cases of $cases cases passed), SKIPPED lines=$skipped | bench_kernels rc=$bench_rc | bench_conv rc=$conv_rc | traffic rc=$traffic_rc | paper step rc=$paper_rc | tf32 step rc=$tf32_rc | bf16 step rc=$bf16_rc | bench_train rc=$train_rc"
echo "total $(($(date +%s) - start)) s; logs in $LOG"
if [ "$tests_rc" -eq 0 ] && [ "$skipped" = "0" ] && [ -n "${ran:-}" ] && [ "$ran" -gt 0 ] && [ "$cases" -gt 0 ] &&
  [ "$passed_cases" -eq "$cases" ] && [ "$bench_rc" -eq 0 ] && [ "$conv_rc" -eq 0 ] && [ "$paper_rc" -eq 0 ] &&
  [ "$traffic_rc" -eq 0 ] && [ "$tf32_rc" -eq 0 ] && [ "$bf16_rc" -eq 0 ]; then
  echo "SUMMARY: PASSED"
  exit 0
fi
echo "SUMMARY: FAILED"
exit 1
