#!/usr/bin/env bash
# The sanitizer job: build the CPU code and tests with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer (BUILD, default build-asan/; no CUDA), run the CPU test suite there,
# then run every fuzz target for FUZZ_SECONDS seconds (default 30) from the same build, with a fixed
# random seed (FUZZ_SEED, default 1) so that a failure here can be repeated.
# By default the two end-to-end suites, test_apps and test_train_e2e, are left out: they train
# models, which under the sanitizers takes about 15 minutes of the 2-core CI machine, more than
# all the other suites together, and would take CI past 20 minutes. Pass "all" to run them too.
# The PyTorch parity check (parity_torch), the ONNX Runtime check (onnx_export) and the Python
# package's check (python_package, which pip-builds the package apart, unsanitized) are numerical
# comparisons of the optimised build, which the normal build runs; they are left out here as well.
# Usage: bash tests/sanitizers.sh [FUZZ_SECONDS] [BUILD] [all]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${1:-30}"
BUILD="${2:-build-asan}"
exclude=(-E '^(test_apps|test_train_e2e|parity_torch|onnx_export|python_package)$')
[ "${3:-}" = "all" ] && exclude=(-E '^(parity_torch|onnx_export|python_package)$')
start=$SECONDS
# oneDNN stays out: Debian's build brings GCC's OpenMP runtime, which must not meet clang's in one
# process; the sanitized CPU convolution is the im2col reference (oneDNN is checked against it in
# the regular build).
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DSGSF_WITH_CUDA=OFF -DSGSF_WITH_DNNL=OFF -DSGSF_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
built=$SECONDS
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$BUILD" -L cpu "${exclude[@]}" --output-on-failure -j "$(nproc)"
tested=$SECONDS
FUZZ_SEED="${FUZZ_SEED:-1}" bash tests/fuzz.sh "$FUZZ_SECONDS" "$BUILD"
echo "sanitizer job: build $((built - start))s, tests $((tested - built))s, fuzzing $((SECONDS - tested))s"
