#!/usr/bin/env bash
# A short profiling run on the GPU machine, before tuning: the copy
# ceiling, the large row cases of `kiln bench`, Nsight Compute on the row
# cases under 90% of copy and on the decode attention kernel. Output in
# ${OUT:-gpu-baseline-out}; summary printed last.
#   scripts/gpu_baseline.sh [rows|decode|all]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
mode=${1:-all}
out=${OUT:-$root/gpu-baseline-out}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
cmake_args=(-S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON)
. scripts/gpu_deps_env.sh
cmake "${cmake_args[@]}" >"$out/configure.log" 2>&1 &&
  cmake --build build -j"$(nproc)" --target kiln kiln_cli >"$out/build.log" 2>&1 ||
  { tail -20 "$out/build.log"; exit 1; }
cc -std=c11 -O2 -Iinclude scripts/attention_gpu_bench.c -Lbuild -Wl,-rpath,"$root/build" -lkiln \
  -lm -o build/attention_gpu_bench
nvcc -O3 -arch=sm_90 -o build/launch_floor scripts/launch_floor.cu && build/launch_floor "$out/floor.json" | tail -1
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ "$mode" != decode ]; then
  for f in 4096x32768 65536x1024 16384x4096; do
    env "${run_vars[@]}" timeout 120 build/kiln bench --device cuda --filter "$f" 2>&1 |
      grep -E '^(softmax|rms_norm)_'
  done | tee "$out/rows.txt"
  OUT=$out/profile env "${run_vars[@]}" timeout 200 scripts/gpu_profile.sh \
    softmax_bf16_4096x32768 softmax_bf16_65536x1024 rms_norm_bf16_65536x1024 \
    softmax_f32_4096x32768 softmax_bf16_16384x4096 rms_norm_f32_65536x1024
fi
if [ "$mode" != rows ]; then
  env "${run_vars[@]}" timeout 60 build/attention_gpu_bench decode | tee "$out/decode.txt"
  for c in decode_b16_sk32768 decode_b1_sk4096; do
    env "${run_vars[@]}" timeout 120 "$ncu" --launch-skip 5 --launch-count 2 --set full \
      build/attention_gpu_bench --quick "$c" >"$out/ncu_$c.txt" 2>&1
    grep -E '^  [a-z_]+.*\(|DRAM Throughput|Duration|Achieved Occupancy|Theoretical Occupancy|Registers Per|Grid Size|Block Size|L2 Hit|Memory Throughput|Eligible|Issued Warp|No Eligible|Stall' \
      "$out/ncu_$c.txt" | head -40
  done
fi
