#!/usr/bin/env bash
# Builds kiln and runs its test suite. GPU cases run when a GPU is present
# and are reported as skipped when not.
#   scripts/test.sh              the suite (CUDA backend compiled when nvcc is found)
#   scripts/test.sh --valgrind   the suite under valgrind: no leaks, no errors
#   scripts/test.sh --sanitize   the suite built with AddressSanitizer + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-plain}
case "$mode" in
plain)
  # The same configuration as scripts/bench.sh (scripts/build.sh sets it), so
  # the README's two commands share one build.
  scripts/build.sh
  ctest --test-dir build --output-on-failure -j2
  ;;
--valgrind)
  # Every test runs under valgrind (CMake prefixes add_test commands with
  # the emulator); any error or leak fails the test.
  vg="valgrind;--error-exitcode=99;--leak-check=full;--errors-for-leak-kinds=definite,indirect,possible;--show-leak-kinds=definite,indirect,possible;--suppressions=$PWD/tests/valgrind.supp"
  KILN_BUILD_DIR=build-valgrind KILN_BUILD_TYPE=RelWithDebInfo scripts/build.sh -DKILN_CUDA=OFF \
    "-DCMAKE_CROSSCOMPILING_EMULATOR=$vg"
  # One thread each for OpenMP and OpenBLAS keeps valgrind's serialised
  # threads from multiplying the run time; the code paths are the same.
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 KILN_TEST_QUICK=1 \
    ctest --test-dir build-valgrind --output-on-failure -j2
  ;;
--sanitize)
  # With clang where it is installed, so that CI builds with both compilers
  # (the plain build uses the default, gcc on Debian), warnings as errors.
  if command -v clang >/dev/null; then export CC=clang; fi
  KILN_BUILD_DIR=build-asan KILN_BUILD_TYPE=Debug scripts/build.sh -DKILN_CUDA=OFF -DKILN_SANITIZE=ON \
    -DKILN_WERROR=ON
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2
  ;;
*)
  echo "usage: scripts/test.sh [--valgrind|--sanitize]" >&2
  exit 2
  ;;
esac
