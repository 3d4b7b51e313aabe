#!/usr/bin/env bash
# Copy the header-only dependencies (Eigen, doctest, stb) from this machine's Debian packages into
# .deps/ (ignored by git), for building on a machine that cannot install packages; the build finds
# them through -DSGSF_THIRD_PARTY_HINTS=$PWD/.deps (tests/gpu_check.sh does this by itself).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_deps.sh
rm -rf .deps && mkdir -p .deps/stb
cp -r /usr/include/eigen3 .deps/eigen3
rm -rf .deps/eigen3/unsupported/test .deps/eigen3/unsupported/doc 2>/dev/null || true
cp -r /usr/include/doctest .deps/doctest
cp /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h .deps/stb/
du -sh .deps
