#!/usr/bin/env bash
# Build everything (CUDA code too, when nvcc is present) and run every test with ctest.
# GPU-labelled tests print "SKIPPED (no GPU)" on machines without a CUDA device.
# Usage: bash tests/run_tests.sh [build-dir]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
bash tests/install_deps.sh
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD" -j "$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)"

# ---- sanitizer job ------------------------------------------------------------------------------
# The CPU test suite (but the two end-to-end suites, see tests/sanitizers.sh) under
# AddressSanitizer + UndefinedBehaviorSanitizer in its own folder, build-asan/, then each libFuzzer
# target for 30 s. It needs clang, installed here when missing. SGSF_SANITIZERS=0 leaves it out.
if [ "${SGSF_SANITIZERS:-1}" != 0 ]; then
  bash tests/install_deps.sh --sanitizers
  bash tests/sanitizers.sh 30
fi
