#!/usr/bin/env bash
# Install the Debian packages the build needs, if any is missing: a C++17 compiler, CMake >= 3.25,
# Ninja, Eigen, doctest and stb, and oneDNN (optional for the build: CPU convolutions use it). (The CUDA toolkit, when present, is used; it is never installed.)
# Options (any number):
#   --emulation   Boost.Context, for the emulated CUDA device that CI runs the gpu tests on, and
#                 ccache, so that its second build reuses most of the first's objects;
#   --sanitizers  clang with its libFuzzer and sanitizer runtimes and LLVM's OpenMP, for
#                 tests/sanitizers.sh and tests/fuzz.sh;
#   --browser     chromium, which loads the inspection report headless (tests/report_browser.py);
#   --python      Python's headers and venv module, for the Python package's build and its check
#                 (tests/python_check.py; pip fetches scikit-build-core, nanobind and numpy).
# Usage: bash tests/install_deps.sh [--emulation] [--sanitizers] [--browser] [--python]
set -euo pipefail
pkgs=(g++ cmake ninja-build libeigen3-dev doctest-dev libstb-dev libdnnl-dev)
for opt in "$@"; do
  case "$opt" in
    --emulation) pkgs+=(libboost-context-dev ccache) ;;
    --sanitizers) pkgs+=(clang libclang-rt-dev libomp-dev) ;;
    --browser) pkgs+=(chromium) ;;
    --python) pkgs+=(python3-dev python3-venv) ;;
    *) echo "install_deps.sh: unknown option '$opt'" >&2; exit 2 ;;
  esac
done
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
