#!/usr/bin/env bash
# kiln against PyTorch on this machine's CPU, in one run: builds kiln
# (Release, CPU only), times every case of bench/cases.tsv on both sides the
# same way (tools/measure.c), checks both sides' outputs against float64, and
# writes the report with plots.
#   bench/cpu_compare.sh                      the full run (minutes on 2 cores)
#   bench/cpu_compare.sh --quick --filter small   extra arguments go to both benches
# Output: $KILN_BENCH_OUT (default build-bench-cpu)/report.md, report.json, *.png.
# PyTorch comes from $KILN_TORCH_PYTHON (default python3), which must import
# torch and numpy; matplotlib is optional (plots).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${KILN_BENCH_OUT:-build-bench-cpu}
py=${KILN_TORCH_PYTHON:-python3}
build=build-cpu

KILN_BUILD_DIR=$build KILN_BUILD_TYPE=Release scripts/build.sh -DKILN_CUDA=OFF -DKILN_TESTS=OFF
mkdir -p "$out"
rm -rf "$out/dump"
# OpenBLAS reads these at load time; they are reported, never changed here.
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS-<unset>}" \
  "OMP_NUM_THREADS=${OMP_NUM_THREADS-<unset>} nproc=$(nproc)" | tee "$out/environment.txt"
"$build/kiln" info | tee -a "$out/environment.txt"
"$build/kiln" bench --device cpu --json "$out/kiln.json" --dump "$out/dump" "$@"
"$py" bench/torch_side.py --device cpu --json "$out/torch.json" "$@"
"$py" bench/agree.py --dump "$out/dump" --device cpu --out "$out/agree.json"
"$py" bench/report.py --kiln "$out/kiln.json" --torch "$out/torch.json" \
  --agree "$out/agree.json" --out "$out"
