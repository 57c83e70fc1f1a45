#!/usr/bin/env bash
# Nsight Compute profiles of the large memory-bound cases, for what
# BENCHMARKS.md says about a missed bandwidth goal: one launch of each
# case's kernel (after warm-up), with DRAM throughput, duration,
# occupancy, registers and L2 traffic.
#   scripts/gpu_profile.sh [CASE_SUBSTR...]   (default: the list below)
# Writes the full reports to ${OUT:-gpu-profile-out}/<case>.txt and prints
# one summary line per case.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
out=${OUT:-$PWD/gpu-profile-out}
mkdir -p "$out"
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
if [ -z "$ncu" ]; then
  echo "gpu_profile: ncu not found"
  exit 1
fi
cases=("$@")
((${#cases[@]})) || cases=(
  softmax_f32_16384x4096 rms_norm_f32_16384x4096 rms_norm_bf16_16384x4096
  softmax_bf16_4096x32768 rms_norm_f32_4096x32768 rms_norm_bf16_65536x1024
  layer_norm_f32_16384x4096 gelu_f32_16384x4096 gelu_bf16_16384x4096 silu_f32_16384x4096
)
for c in "${cases[@]}"; do
  # --quick still runs each case several times; skip the first launches
  # (warm-up, first touch of the pool) and profile one.
  timeout 120 "$ncu" --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
    --section LaunchStats build/kiln bench --device cuda --quick --filter "$c" \
    >"$out/$c.txt" 2>&1
  pick() { grep -m1 -E "^ +$1 " "$out/$c.txt" | awk '{print $NF}'; }
  echo "$c: $(grep -m1 -oE '[a-z_]+_kernel<[^(]*' "$out/$c.txt" | head -c 60) |" \
    "dram $(pick 'DRAM Throughput')% mem $(pick 'Memory Throughput')% dur $(pick 'Duration')" \
    "occ $(pick 'Achieved Occupancy')% theo $(pick 'Theoretical Occupancy')%" \
    "regs $(pick 'Registers Per Thread') grid $(pick 'Grid Size') block $(pick 'Block Size')" \
    "L2hit $(pick 'L2 Hit Rate')%"
done
