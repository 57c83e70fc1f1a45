#!/usr/bin/env bash
# End-to-end sentence-embedding benchmark (issue #12): kiln_embedder against
# sentence-transformers on PyTorch, same machine, same run, same model and
# texts, text -> vector with tokenization included. Cases: one short text's
# latency, 128 texts x 128 tokens, and a corpus of real mixed-length texts
# (tests/data/embed_texts.txt repeated). Writes bench/results/embed-DEVICE-DATE/
# (raw JSON lines, report.md) and the table into BENCHMARKS.md.
#   bench/embed_bench.sh [--device cpu|cuda|auto] [--model DIR] [--quick]
# On the CPU every side gets 2 cores (taskset, 2 threads), and ONNX Runtime
# runs the same model beside them where it is installed. Without PyTorch
# the CPU table compares against the recorded 2-core anchors.
set -euo pipefail
cd "$(dirname "$0")/.."
device=auto model= quick=()
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    *) echo "embed_bench.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
build=${KILN_BUILD_DIR:-build}
if [ -z "${KILN_NO_BUILD:-}" ]; then scripts/build.sh >"$build.embed-bench.log" 2>&1 || { tail -30 "$build.embed-bench.log"; exit 1; }; fi
[ -n "$model" ] || model=$(scripts/fetch_model.sh)
corpus=tests/data/embed_texts.txt
if [ "$device" = auto ]; then
  device=cpu
  "$build"/kiln info 2>/dev/null | grep -q '^cuda: [1-9]' && device=cuda
fi
out=bench/results/embed-$device-$(date -u +%Y-%m-%d)
mkdir -p "$out"
: >"$out/kiln.jsonl"
: >"$out/torch.jsonl"
: >"$out/onnx.jsonl"

run=()
if [ "$device" = cpu ]; then
  export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
  command -v taskset >/dev/null && run=(taskset -c 0,1)
  # OpenBLAS picks its kernels from the CPU's model number; on VMs that
  # report a generic "Intel Xeon Processor" it falls back to Prescott (SSE3)
  # kernels, several times slower. Name the core the flags say it is.
  blas_core=$(OPENBLAS_VERBOSE=2 "$build"/kiln info 2>&1 | sed -n 's/^Core: //p' | head -1)
  if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ "$blas_core" = Prescott ] && grep -q avx2 /proc/cpuinfo; then
    if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
    echo "embed_bench.sh: OpenBLAS detected Prescott on an AVX2 machine; OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" | tee "$out/note.txt" >&2
  fi
fi
{
  uname -a
  grep -m1 'model name' /proc/cpuinfo || true
  uptime
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
} >"$out/environment.txt" 2>&1

dtypes=(f32)
[ "$device" = cuda ] && dtypes=(f16 f32)
for dt in "${dtypes[@]}"; do
  echo "embed_bench.sh: kiln $device $dt" >&2
  "${run[@]}" "$build"/kiln_embed_bench --model "$model" --corpus "$corpus" --device "$device" \
    --dtype "$dt" "${quick[@]}" | sed 's/^{/{"side": "kiln", /' >>"$out/kiln.jsonl"
done

# KILN_BENCH_PYTHON: a Python with torch and sentence-transformers (and, for
# the CPU, onnxruntime, onnx and transformers), e.g. a venv of its own.
py=${KILN_BENCH_PYTHON:-$(command -v python3 || true)}
if [ -n "$py" ] && "$py" -c 'import torch, sentence_transformers' 2>/dev/null; then
  threads=()
  [ "$device" = cpu ] && threads=(--threads 2)
  for dt in "${dtypes[@]}"; do
    echo "embed_bench.sh: sentence-transformers $device $dt" >&2
    "${run[@]}" "$py" bench/embed_torch.py --model "$model" --corpus "$corpus" --device "$device" \
      --dtype "$dt" "${threads[@]}" ${quick:+--repeat 2} >>"$out/torch.jsonl"
  done
  if [ "$device" = cpu ] && "$py" -c 'import onnxruntime, onnx' 2>/dev/null; then
    echo "embed_bench.sh: ONNX Runtime cpu f32" >&2
    "${run[@]}" "$py" bench/embed_onnx.py --model "$model" --corpus "$corpus" --threads 2 \
      ${quick:+--repeat 2} >>"$out/onnx.jsonl"
  fi
else
  echo "embed_bench.sh: no PyTorch + sentence-transformers here; comparing with recorded anchors" | tee -a "$out/note.txt" >&2
fi
# The report with the Python that has matplotlib, for the plot, where it has.
report_py=python3
[ -n "$py" ] && "$py" -c 'import matplotlib' 2>/dev/null && report_py=$py
"$report_py" bench/embed_report.py "$out" BENCHMARKS.md
cat "$out/report.md"
