#!/usr/bin/env bash
# Times bench/crossover.tsv on the GPU three ways: kiln's routing as built,
# every shape on our own kernels where one takes it (KILN_CUDA_MATMUL=own),
# and every shape on cuBLASLt (=cublaslt). The limits in
# src/backend/cuda/cuda_matmul.cu are read off this table.
#   scripts/sweep_matmul.sh [KILN_BINARY]     (default build/kiln)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
kiln=${1:-build/kiln}
for route in auto own cublaslt; do
  echo "== KILN_CUDA_MATMUL=$route"
  if [ "$route" = auto ]; then
    "$kiln" bench --device cuda --cases bench/crossover.tsv
  else
    KILN_CUDA_MATMUL=$route "$kiln" bench --device cuda --cases bench/crossover.tsv
  fi | grep -E '^(thin|small|gemv)_'
done
