#!/usr/bin/env bash
# Installs what building and testing kiln needs on a Debian machine, only
# where it is missing: a C compiler, CMake, OpenBLAS (CBLAS), cmocka,
# pkg-config and valgrind. The CUDA toolkit is used when present, never
# installed here.
set -euo pipefail

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
[ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ] ||
  [ -e /usr/include/aarch64-linux-gnu/cblas.h ] || need+=(libopenblas-dev)
[ -e /usr/include/cmocka.h ] || need+=(libcmocka-dev)
# clang (used for the sanitizer build when present) needs LLVM's OpenMP.
if command -v clang >/dev/null && ! dpkg -s libomp-dev >/dev/null 2>&1; then
  need+=(libomp-dev)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "kiln: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# nvcc is often installed but not on PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "export PATH=/usr/local/cuda/bin:\$PATH"
fi
