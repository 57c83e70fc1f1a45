#!/usr/bin/env bash
# Builds kiln and runs `kiln bench` on the default device (the GPU when there
# is one, else the CPU). Extra arguments go to `kiln bench`, e.g. --json FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build/kiln info
build/kiln bench --device auto "$@"
