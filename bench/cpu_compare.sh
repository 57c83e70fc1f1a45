#!/usr/bin/env bash
# kiln against PyTorch on this machine's CPU, in one run: builds kiln
# (Release, CPU only), times every case of bench/cases.tsv on both sides the
# same way (tools/measure.c), checks both sides' outputs against float64, and
# writes the report with plots.
#   bench/cpu_compare.sh                      the full run (minutes on 2 cores)
#   bench/cpu_compare.sh --quick --filter small   extra arguments go to both benches
# Output: $KILN_BENCH_OUT (default build-bench-cpu)/report.md, report.json, *.png.
# Threads: every core on both sides; KILN_BENCH_THREADS=N gives both N (kiln
# through OMP_NUM_THREADS and OPENBLAS_NUM_THREADS, PyTorch through --threads).
# Rounds: KILN_BENCH_ROUNDS=N runs the two sides N times, alternating, and the
# report keeps each case's best round: on a shared virtual machine, whose
# cores the host takes away for milliseconds at a time, one round can be
# far off the machine's own speed.
# PyTorch comes from $KILN_TORCH_PYTHON (default python3), which must import
# torch and numpy; matplotlib is optional (plots).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${KILN_BENCH_OUT:-build-bench-cpu}
py=${KILN_TORCH_PYTHON:-python3}
build=build-cpu
torch_threads=()
if [ -n "${KILN_BENCH_THREADS:-}" ]; then
  export OMP_NUM_THREADS=$KILN_BENCH_THREADS OPENBLAS_NUM_THREADS=$KILN_BENCH_THREADS
  torch_threads=(--threads "$KILN_BENCH_THREADS")
fi

KILN_BUILD_DIR=$build KILN_BUILD_TYPE=Release scripts/build.sh -DKILN_CUDA=OFF -DKILN_TESTS=OFF
mkdir -p "$out"
rm -rf "$out/dump"
# Recorded with the results; OPENBLAS_CORETYPE is left as the machine has it.
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS-<unset>}" \
  "OMP_NUM_THREADS=${OMP_NUM_THREADS-<unset>} nproc=$(nproc)" | tee "$out/environment.txt"
"$build/kiln" info | tee -a "$out/environment.txt"
rounds=()
for r in $(seq "${KILN_BENCH_ROUNDS:-1}"); do
  dump=()
  [ "$r" = 1 ] && dump=(--dump "$out/dump")
  "$build/kiln" bench --device cpu --json "$out/kiln.$r.json" "${dump[@]}" "$@"
  "$py" bench/torch_side.py --device cpu --json "$out/torch.$r.json" "${torch_threads[@]}" "$@"
  rounds+=(--kiln "$out/kiln.$r.json" --torch "$out/torch.$r.json")
done
"$py" bench/agree.py --dump "$out/dump" --device cpu --out "$out/agree.json"
"$py" bench/report.py "${rounds[@]}" --agree "$out/agree.json" --out "$out"
