#!/usr/bin/env bash
# CPU time per call of the CPU attention cases of bench/cases.tsv, from
# perf stat's task-clock (n calls minus one call, over n - 1): on a machine
# whose two cores other jobs share, wall time says more about the neighbours
# than about kiln. Prints ms of CPU per call and the rate per CPU second.
#   bench/attention_cpu_time.sh [threads]    (default 1; needs perf and a build in build-cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-1}
bin=build-cpu/attention_cpu_time
cc -O2 -Iinclude bench/attention_cpu_time.c -Lbuild-cpu -lkiln -Wl,-rpath,"$PWD/build-cpu" -o "$bin"
cpu_ms() { # args: dtype B S Sk H Hkv D causal varlen n
  OMP_NUM_THREADS=$threads perf stat -x, -e task-clock "$bin" "$@" 2>&1 >/dev/null |
    awk -F, '/task-clock/ {print $1}'
}
# name dtype B S Sk H Hkv D causal varlen; work: GFLOP (4 x pairs x H x D) or MB of K and V
while read -r name dt b s sk h hkv d causal varlen work unit; do
  one=$(cpu_ms "$dt" "$b" "$s" "$sk" "$h" "$hkv" "$d" "$causal" "$varlen" 1)
  six=$(cpu_ms "$dt" "$b" "$s" "$sk" "$h" "$hkv" "$d" "$causal" "$varlen" 6)
  python3 -c "ms=($six-$one)/5; print(f'$name $threads thread(s): {ms:.1f} ms CPU per call, {$work/ms:.1f} $unit per CPU second')"
done <<'CASES'
attn_cpu_f32_d64_s512 f32 4 512 512 8 8 64 0 0 2147.48 GFLOP/s
attn_cpu_f32_d64_s512_causal f32 4 512 512 8 8 64 1 0 1075.84 GFLOP/s
attn_cpu_f32_d128_s2048_gqa_causal f32 1 2048 2048 16 4 128 1 0 17188.26 GFLOP/s
attn_cpu_decode_f32_sk4096 f32 1 1 4096 32 8 128 0 0 33.554 GB/s
attn_minilm_f32_varlen_128x16-128 f32 128 128 128 12 12 32 0 1 1221.09 GFLOP/s
attn_cpu_bf16_d64_s512 bf16 4 512 512 8 8 64 0 0 2147.48 GFLOP/s
attn_cpu_bf16_d64_s512_causal bf16 4 512 512 8 8 64 1 0 1075.84 GFLOP/s
attn_cpu_bf16_d128_s2048_gqa_causal bf16 1 2048 2048 16 4 128 1 0 17188.26 GFLOP/s
attn_cpu_decode_bf16_sk4096 bf16 1 1 4096 32 8 128 0 0 16.777 GB/s
attn_minilm_bf16_varlen_128x16-128 bf16 128 128 128 12 12 32 0 1 1221.09 GFLOP/s
CASES
