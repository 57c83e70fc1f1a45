#!/usr/bin/env bash
# kiln_attention's speed before and after a change, on the GPU machine, in
# one run: builds the library at REV (git archive into a temporary folder,
# configured as attention_gpu_check.sh configures build/), builds this
# tree's into build/ if it is not there, and times both with
# scripts/attention_gpu_bench.c, alternating (before, after, before, after)
# so that the machine's drift shows as the spread between the two rounds.
# Each group of cases runs on one forced kernel (KILN_CUDA_ATTENTION), so a
# routing change or cuDNN cannot hide a kernel's change:
#   mma      the f16/bf16 prefill and MiniLM cases
#   mma_f32  the f32 cases, on each split (KILN_CUDA_F32_MMA_SPLIT f16 pieces,
#            block, warp)
#   decode   the decode cases
#
#   scripts/attention_ab_bench.sh REV        (needs the repository's .git)
#
# Output: per group, each round's bench lines (us per call, TFLOP/s, GB/s),
# before then after; a change that keeps the kernels' code shows the same
# numbers within the rounds' spread.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
rev=${1:?usage: scripts/attention_ab_bench.sh REV}
export PATH="/usr/local/cuda/bin:$PATH"
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
git archive "$rev" | tar -x -C "$before" || { echo "no $rev to archive (is .git here?)"; exit 2; }

cmake_args=(-DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON)
# shellcheck source=scripts/gpu_deps_env.sh
. scripts/gpu_deps_env.sh # .gpu-deps into cmake_args; run_vars
# build DIR SRC NAME: the library of SRC in DIR, and the bench against it
# (logs in the temporary folder, as NAME.*.log).
build() {
  local log=$before/$3
  if ! { cmake -S "$2" -B "$1" "${cmake_args[@]}" >"$log.configure.log" 2>&1 &&
    cmake --build "$1" -j"$(nproc)" --target kiln >"$log.build.log" 2>&1 &&
    cc -std=c11 -O2 -I"$2/include" scripts/attention_gpu_bench.c -L"$1" -Wl,-rpath,"$1" -lkiln \
      -lm -o "$1/attention_gpu_bench" >"$log.bench.log" 2>&1; }; then
    echo "build of $2 failed:"
    tail -20 "$log".*.log
    exit 1
  fi
}
build "$before/build" "$before" before
build "$root/build" "$root" after
kiln_add_cudnn_path build

# group ROUTE FILTER [VAR=VALUE]: the cases FILTER names on ROUTE, two rounds.
group() {
  local route=$1 filter=$2 round which dir
  shift 2
  echo "== $route $filter $*"
  for round in 1 2; do
    for which in before after; do
      dir=$root/build
      [ $which = before ] && dir=$before/build
      echo "-- $which, round $round"
      env "${run_vars[@]}" "$@" KILN_CUDA_ATTENTION="$route" "$dir/attention_gpu_bench" "$filter" |
        grep -v '^#'
    done
  done
}
for filter in minilm_varlen_f16 minilm_varlen_bf16 minilm_padded_f16 f16_d; do # f16_d: bf16 too
  group mma $filter
done
for split in f16 block warp; do
  group mma_f32 minilm_varlen_f32 KILN_CUDA_F32_MMA_SPLIT=$split
  group mma_f32 f32_b KILN_CUDA_F32_MMA_SPLIT=$split
done
group decode decode_
