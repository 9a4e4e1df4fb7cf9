#!/usr/bin/env bash
# The test command: install what is missing, build (clang, Debug, ASan+UBSan,
# libFuzzer targets) and run every test with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=build/test
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
  -DWATERSHED_SANITIZE=ON -DWATERSHED_FUZZ=ON -DWATERSHED_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 600
