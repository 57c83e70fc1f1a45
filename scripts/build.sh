#!/usr/bin/env bash
# Configures and builds kiln into a build folder (default: build), installing
# missing dependencies first. Extra arguments go to CMake's configure step.
# scripts/bench.sh and scripts/test.sh both build through here with the same
# configuration (warnings as errors included), so running one after the other
# rebuilds nothing.
#   scripts/build.sh                    Release build, CUDA backend when nvcc is found
#   KILN_BUILD_DIR=build-asan scripts/build.sh -DKILN_SANITIZE=ON -DKILN_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# nvcc is often installed but not on PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
dir=${KILN_BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="${KILN_BUILD_TYPE:-Release}" -DKILN_WERROR="${KILN_WERROR:-ON}" "$@" >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log"; exit 1; }
grep -E '^-- kiln:' "$dir.configure.log" || true
cmake --build "$dir" -j"$(nproc)"
