#!/usr/bin/env bash
# One command from a fresh clone to a metrics table: install what is missing (Debian packages),
# build, generate the built-in dataset, train the `tiny` preset on it and test it.
# Takes a few minutes on 2 CPU cores. Extra arguments go to sgsf_train (e.g. --device cuda).
# Usage: bash apps/quickstart.sh [sgsf_train options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target sgsf_train sgsf_test
./build/sgsf_train --preset tiny --overwrite --out runs/builtin-tiny "$@"
./build/sgsf_test --run runs/builtin-tiny --overlays 12
