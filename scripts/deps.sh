#!/usr/bin/env bash
# Installs what building and testing kiln needs on a Debian machine, only
# where it is missing, and says what it installs (apt's output is shown).
# It asks for what the build uses, not for a file that happens to be there:
# reference BLAS (pulled in by liblapack-dev) also ships a cblas.h, but kiln
# links OpenBLAS, so OpenBLAS itself (its library and header) is checked.
#   scripts/deps.sh            install what is missing
#   scripts/deps.sh --check    list what is missing, exit 1 if anything is
# The CUDA toolkit is used when present, never installed here.
set -euo pipefail

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

# installed PKG: true when the Debian package is installed.
installed() {
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v c++ >/dev/null || need+=(g++) # the CUDA backend's objects need the C++ runtime
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
# OpenBLAS: the library and its own header (CMake takes both from
# `pkg-config openblas`, so that is what is checked).
installed libopenblas-dev || pkg-config --exists openblas 2>/dev/null || need+=(libopenblas-dev)
installed libcmocka-dev || need+=(libcmocka-dev)
# The tokenizer and model loader (src/models/) parse JSON and UTF-8.
installed libcjson-dev || need+=(libcjson-dev)
installed libutf8proc-dev || need+=(libutf8proc-dev)
# The Python binding: headers, venv and pip for its build and tests.
installed python3-dev || need+=(python3-dev)
installed python3-venv || need+=(python3-venv)
installed python3-pip || need+=(python3-pip)
# clang (used for the sanitizer build when present) needs LLVM's OpenMP.
if command -v clang >/dev/null && ! installed libomp-dev; then
  need+=(libomp-dev)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "kiln deps: all present"
  exit 0
fi
if [ $check_only -eq 1 ]; then
  echo "kiln deps: missing ${need[*]}"
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "kiln deps: missing ${need[*]}, and there is no apt-get here: install them by hand" >&2
  exit 1
fi
echo "kiln deps: installing ${need[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
