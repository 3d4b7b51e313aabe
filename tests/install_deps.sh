#!/usr/bin/env bash
# Install the Debian packages the build needs, if any is missing: a C++17 compiler, CMake >= 3.25,
# Ninja, Eigen, doctest and stb. (The CUDA toolkit, when present, is used; it is never installed.)
# With --sanitizers, also clang with its libFuzzer and sanitizer runtimes and LLVM's OpenMP, for
# tests/sanitizers.sh and tests/fuzz.sh.
set -euo pipefail
pkgs=(g++ cmake ninja-build libeigen3-dev doctest-dev libstb-dev)
[ "${1:-}" = "--sanitizers" ] && pkgs+=(clang libclang-rt-dev libomp-dev)
need=()
for pkg in "${pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
