#!/bin/sh
# Every global symbol libkiln defines starts with kiln_ (C names, and C++
# ones once demangled: kiln_cuda_..., kiln_dev::...), so the library can be
# linked beside anything. Run by CTest (test "symbols") on libkiln.a.
#   scripts/check_symbols.sh path/to/libkiln.a
# Allowed besides: what C++ and nvcc emit on their own, which no one can
# collide with: "(anonymous namespace)::..." (file-unique names), the
# exception personality reference, nvcc's registration stubs, and NVTX's
# link-once definitions (hidden, weak and versioned by the header itself, to
# be shared with every other user of NVTX; cuda_marks.cu tells compute-sanitizer
# through it what vendor libraries wrote unseen).
set -eu
lib=${1:?usage: check_symbols.sh libkiln.a}
command -v nm >/dev/null || { echo "check_symbols: nm not found" >&2; exit 77; }
# nm -C: "<address> <type> <demangled name>"; archive member headers and
# blank lines have fewer fields. A demangled template function starts with
# its return type ("cudaError kiln_dev::launch<...>(...)"), skipped here.
bad=$(nm -g -C --defined-only "$lib" | awk 'NF >= 3 { $1 = ""; $2 = ""; sub(/^  /, ""); print }' |
  grep -v -E -e '^([^(]* )?(kiln_|\(anonymous namespace\)::)' \
    -e '^DW\.ref\.__gxx_personality_v0$' -e '^__cuda' -e '^__fatbinwrap' -e '^__nv_' \
    -e '^nvtx[A-Za-z0-9_]*_v3' -e '^InitializeInjectionNvtx' |
  sort -u || true)
if [ -n "$bad" ]; then
  echo "check_symbols: $lib defines global symbols without the kiln_ prefix:" >&2
  echo "$bad" >&2
  echo "(make them static, or name them kiln_...)" >&2
  exit 1
fi
echo "check_symbols: every global symbol of $lib starts with kiln_"
