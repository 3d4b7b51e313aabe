#!/usr/bin/env bash
# Build everything (CUDA code too, when nvcc is present) and run every test with ctest. Then run
# every `gpu`-labelled test on the emulated CUDA device (engine/cuda_emu, no GPU needed) in a
# second build folder, so every CUDA kernel runs in every run; there, a test that printed SKIPPED
# is a failure. A machine with a GPU runs the gpu tests on the device too (first step). Last, the
# sanitizer job (SGSF_SANITIZERS=0 leaves it out).
# Usage: bash tests/run_tests.sh [build-dir]     (default: build; the emulated build: <build-dir>-emu)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
EMU="${BUILD}-emu"
bash tests/install_deps.sh --emulation --browser --python
# Both builds compile through ccache when it is there: most files preprocess identically in the
# emulated build, which then takes their objects from the cache instead of compiling them again.
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"
cmake --build "$BUILD" -j "$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)"

echo "---- the gpu tests on the emulated CUDA device ($EMU) ----"
start=$(date +%s)
cmake -S . -B "$EMU" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSGSF_CUDA_EMULATION=ON "${launcher[@]}" >/dev/null
cmake --build "$EMU" -j "$(nproc)" --target sgsf_gpu_tests
built=$(date +%s)
ctest --test-dir "$EMU" -L gpu --output-on-failure -j "$(nproc)"
# Every gpu test must have run: the full per-test output may not say SKIPPED anywhere.
if grep -q "SKIPPED" "$EMU/Testing/Temporary/LastTest.log"; then
  grep "SKIPPED" "$EMU/Testing/Temporary/LastTest.log" | head
  echo "FAILED: a gpu test was skipped on the emulated device"
  exit 1
fi
echo "emulated device: every gpu test ran and passed (build $((built - start)) s, tests $(($(date +%s) - built)) s)"

# ---- sanitizer job ------------------------------------------------------------------------------
# The CPU test suite (but the two end-to-end suites, see tests/sanitizers.sh) under
# AddressSanitizer + UndefinedBehaviorSanitizer in its own folder, build-asan/, then each libFuzzer
# target for 30 s. It needs clang, installed here when missing. SGSF_SANITIZERS=0 leaves it out.
if [ "${SGSF_SANITIZERS:-1}" != 0 ]; then
  bash tests/install_deps.sh --sanitizers
  bash tests/sanitizers.sh 30
fi
