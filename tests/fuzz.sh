#!/usr/bin/env bash
# Fuzz the parsers of everything a user hands the programs: the JSON reader, config.json, checkpoints
# and image files (fuzz/fuzz_*.cpp), with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer. Builds the targets with clang into BUILD (default build-fuzz/), then
# runs each for SECONDS seconds (default 60), starting from its seed corpus in fuzz/corpus/<target>/.
# Inputs that reach new code are kept in BUILD/fuzz-corpus/<target>/ (so a later run continues
# where this one stopped; the repository is never written); an input that crashes, leaks, hangs or
# runs out of memory is saved as BUILD/fuzz-artifacts/<target>-* and makes the script fail.
# FUZZ_SEED fixes libFuzzer's random seed (the sanitizer job sets it, so that a CI run repeats the
# same mutations as far as its time allows); unset, every run draws its own and explores further.
# Usage: [FUZZ_SEED=N] bash tests/fuzz.sh [SECONDS] [BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-60}"
BUILD="${2:-build-fuzz}"
TARGETS=(json config checkpoint image)
if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ is missing (Debian: apt-get install clang; tests/install_deps.sh installs it)" >&2
  exit 2
fi
if ! grep -qs "SGSF_FUZZ:BOOL=ON" "$BUILD/CMakeCache.txt"; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DSGSF_WITH_CUDA=OFF -DSGSF_FUZZ=ON \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)" --target "${TARGETS[@]/#/fuzz_}"
mkdir -p "$BUILD/fuzz-artifacts"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
summary=""
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD/fuzz-corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  seed=()
  [ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
  log="$BUILD/fuzz-$t.log"
  echo "fuzz_$t: ${SECS}s (log: $log)"
  if "$BUILD/fuzz_$t" -max_total_time="$SECS" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
      "${dict[@]}" "${seed[@]}" -artifact_prefix="$BUILD/fuzz-artifacts/$t-" \
      "$BUILD/fuzz-corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    result="ok"
  else
    result="FAILED (see $log and $BUILD/fuzz-artifacts/)"
    status=1
    tail -n 60 "$log"
  fi
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1 || true)
  summary+=$(printf '%-16s %10s executions in %5ss   %s' "fuzz_$t" "${execs:-?}" "$SECS" "$result")$'\n'
done
printf '\n%s' "$summary"
exit $status
