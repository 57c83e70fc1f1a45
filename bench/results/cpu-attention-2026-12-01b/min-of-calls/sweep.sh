#!/usr/bin/env bash
# Each case: PyTorch and kiln alternating R times (default 5), 2 threads, each
# run the fastest of n calls (wall time); the best of the R runs per side.
#   PY=<python with torch> KILN_MIN_WALL=<built min_wall.c> sweep.sh
R=${R:-5}
while read -r name dt b s sk h hkv d causal n; do
  bt=1e9; bk=1e9
  for r in $(seq $R); do
    t=$(WALL=1 THREADS=2 "$PY" "$(dirname "$0")/torch_min.py" $dt $b $s $sk $h $hkv $d $causal $n)
    k=$(WALL=1 OMP_NUM_THREADS=2 "$KILN_MIN_WALL" $dt $b $s $sk $h $hkv $d $causal $n)
    bt=$(python3 -c "print(min($bt,$t))"); bk=$(python3 -c "print(min($bk,$k))")
  done
  echo "$name torch $bt ms kiln $bk ms torch/kiln $(python3 -c "print(f'{$bt/$bk:.2f}')") load $(cut -d' ' -f1 /proc/loadavg)"
done <<'CASES'
attn_cpu_f32_d64_s512 f32 4 512 512 8 8 64 0 8
attn_cpu_f32_d64_s512_causal f32 4 512 512 8 8 64 1 8
attn_cpu_f32_d128_s2048_gqa_causal f32 1 2048 2048 16 4 128 1 4
attn_cpu_decode_f32_sk4096 f32 1 1 4096 32 8 128 0 30
attn_cpu_bf16_d64_s512 bf16 4 512 512 8 8 64 0 8
attn_cpu_bf16_d64_s512_causal bf16 4 512 512 8 8 64 1 8
attn_cpu_bf16_d128_s2048_gqa_causal bf16 1 2048 2048 16 4 128 1 4
attn_cpu_decode_bf16_sk4096 bf16 1 1 4096 32 8 128 0 30
CASES
