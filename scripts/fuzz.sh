#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang (ASan + UBSan) and runs
# each for a while on a copy of its seed corpus (fuzz/corpus/<name>/).
#   scripts/fuzz.sh                  every harness, 60 s each
#   scripts/fuzz.sh 300 tokenizer    one harness, 300 s
# A crash, a sanitizer report or a timeout (an input taking over 10 s: the
# harnesses must stay linear) fails the run; libFuzzer leaves the input in
# build-fuzz/fuzz-artifacts/ to replay with build-fuzz/fuzz/fuzz_<name> FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
command -v clang >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang)" >&2; exit 1; }
CC=clang cmake -S . -B build-fuzz -DKILN_FUZZ=ON -DKILN_TESTS=OFF -DKILN_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=${f#fuzz/fuzz_}; names+=("${n%.c}"); done
fi
cmake --build build-fuzz -j2 --target $(printf 'fuzz_%s ' "${names[@]}") >/dev/null
mkdir -p build-fuzz/fuzz-artifacts
status=0
for n in "${names[@]}"; do
  work=build-fuzz/fuzz-corpus/$n
  mkdir -p "$work"
  [ -d "fuzz/corpus/$n" ] && cp -n fuzz/corpus/"$n"/* "$work"/ 2>/dev/null || true
  echo "fuzz.sh: fuzz_$n for ${seconds}s"
  if ! OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build-fuzz/fuzz/fuzz_"$n" -max_total_time="$seconds" -timeout=10 -max_len=65536 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build-fuzz/fuzz-artifacts/ "$work" \
    2>build-fuzz/fuzz-"$n".log; then
    echo "fuzz.sh: fuzz_$n FAILED; log: build-fuzz/fuzz-$n.log" >&2
    tail -30 build-fuzz/fuzz-"$n".log >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" build-fuzz/fuzz-"$n".log | tail -2
  fi
done
exit $status
