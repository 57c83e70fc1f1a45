#!/usr/bin/env bash
# The one script to run on the GPU machine: build, test, sanitize and
# benchmark kiln's CUDA backend, every step time-boxed so that the whole run
# ends inside 8 minutes (GPU_CHECK_SECONDS, default 480), full logs into
# $OUT, and a short summary printed last.
#
#   scripts/gpu_check.sh [all|test|bench|embed]     (default all)
#     test:  build, ctest, route check, compute-sanitizer (memcheck with
#            leak check, racecheck, initcheck) over the CUDA tests
#     bench: build, launch floor, kiln bench, PyTorch side, report
#     embed: build, the tiny-BERT tests on CUDA, bench/embed_bench.sh against
#            sentence-transformers and the cosine of `kiln embed`'s vectors
#            to theirs (bench/embed_agree.py), on the model folder
#            KILN_GPU_MODEL (default .minilm16: an fp16 copy of
#            all-MiniLM-L6-v2, since the f32 file is over the carry limit)
#     all:   test and bench; a step that no longer fits the time left is skipped
#            (a benchmark is never started without room to finish)
#
# Needs .gpu-deps/ (scripts/prepare_gpu_deps.sh) where the machine lacks
# cblas.h or cmocka. Files left in $OUT (at most 8): summary.txt,
# logs.tar.gz, floor.json, kiln_cuda.json, torch_cuda.json, report.md and
# the report's two plots.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
mode=${1:-all}
case "$mode" in all | test | bench | embed) ;; *)
  echo "usage: scripts/gpu_check.sh [all|test|bench|embed]" >&2
  exit 2
  ;;
esac

start=$(date +%s)
deadline=$((start + ${GPU_CHECK_SECONDS:-480}))
out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"
logs=$(mktemp -d)
summary=()
note() { [ -n "$*" ] && summary+=("$*"); }
left() { echo $((deadline - $(date +%s))); }
export PATH="/usr/local/cuda/bin:$PATH"

# step MIN MAX LOG CMD...: runs CMD for at most MAX seconds (cut to the
# time left), output into LOG; skipped (status 125) when less than MIN
# seconds are left. 124 or 137: timed out.
step() {
  local min=$1 limit=$2 log=$3 remaining
  shift 3
  remaining=$(left)
  if ((remaining < min)); then
    echo "skipped: ${remaining}s left, ${min}s needed" >"$logs/$log"
    return 125
  fi
  ((remaining < limit)) && limit=$remaining
  timeout --kill-after=5 "$limit" "$@" >"$logs/$log" 2>&1
}

verdict() {
  case "$1" in
  0) echo ok ;;
  124 | 137) echo TIMEOUT ;;
  125) echo skipped ;;
  *) echo "FAILED ($1)" ;;
  esac
}

finish() {
  tar -czf "$out/logs.tar.gz" -C "$logs" . 2>/dev/null
  rm -rf "$logs"
  {
    echo "== gpu_check $mode: $(($(date +%s) - start)) s; logs in logs.tar.gz"
    printf '%s\n' "${summary[@]}"
  } | tee "$out/summary.txt"
}
trap finish EXIT

# ---------------------------------------------------------------- build
cmake_args=(-S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_FUZZ_REPLAY=ON)
. scripts/gpu_deps_env.sh # .gpu-deps into cmake_args; run_vars

step 30 60 configure.log cmake "${cmake_args[@]}"
rc=$?
if ((rc == 0)); then
  step 30 300 build.log cmake --build build -j16
  rc=$?
fi
warnings=$(grep -ci 'warning' "$logs/build.log" 2>/dev/null)
note "build: $(verdict $rc), ${warnings:-0} warning lines; $(grep -m1 'kiln: CUDA backend' "$logs/configure.log" | sed 's/^-- //')"
if ((rc != 0)); then
  note "$(grep -h -m8 -E 'error|Error' "$logs/configure.log" "$logs/build.log" 2>/dev/null)"
  exit 1
fi
note "$(grep -i 'warning' "$logs/build.log" | sort -u | head -5)"
kiln_add_cudnn_path build # gpu_deps_env.sh: a wheel's cuDNN onto run_vars' library path
note "device: $(env "${run_vars[@]}" build/kiln info 2>&1 | grep -m1 '^ *cuda:[0-9]' | sed 's/^ *//')"
tests=$(find build/tests -maxdepth 1 -type f -perm -u+x -name 'test_*' | sort)

# ----------------------------------------------------------------- test
# compute-sanitizer TOOL [ARGS...] over the CUDA half of every test
# executable, one line per executable: tool, name, status, summary lines.
sanitize() {
  local tool=$1 exe name log status
  shift
  for exe in $tests; do
    name=$(basename "$exe")
    log=$logs/sanitizer_${tool}_$name.log
    if (($(left) < 15)); then
      echo "$tool $name 125 skipped: no time left"
      continue
    fi
    timeout --kill-after=5 "$(left)" env "${run_vars[@]}" KILN_TEST_QUICK=1 \
      "KILN_TEST_FILTER=cuda/*" "$sanitizer" --tool "$tool" --error-exitcode 99 "$@" "$exe" \
      >"$log" 2>&1
    status=$?
    # A test program that never calls CUDA (test_deferred) has nothing to
    # check: clean when its own tests passed (the sanitizer's exit status
    # says nothing of them then).
    if grep -q 'terminated before first instrumented API call' "$log" &&
      grep -q '^\[  PASSED  \]' "$log" && ! grep -q '^\[  FAILED  \]' "$log"; then
      status=0
    fi
    echo "$tool $name $status $(grep -h -E 'ERROR SUMMARY|LEAK SUMMARY|before first instrumented' "$log" | tr '\n' ' ')"
  done
}

# ---------------------------------------------------------------- embed
if [ "$mode" = embed ]; then
  model=${KILN_GPU_MODEL:-$root/.minilm16}
  step 20 120 test_embed.log env "${run_vars[@]}" KILN_TEST_FILTER='cuda/*' build/tests/test_embed
  note "tiny BERT on CUDA: $(verdict $?): $(grep -h -E '^\[  (PASSED|FAILED)  \]' "$logs/test_embed.log" | tr '\n' ' ')"
  corpus=tests/data/embed_texts.txt
  for dt in f32 f16 bf16; do
    step 20 60 "embed_$dt.log" env "${run_vars[@]}" build/kiln embed --model "$model" --device cuda \
      --dtype "$dt" --input "$corpus" --output "$logs/kiln_$dt.npy"
    note "kiln embed $dt: $(verdict $?): $(tail -1 "$logs/embed_$dt.log")"
  done
  step 30 120 embed_agree.log python3 bench/embed_agree.py --model "$model" --corpus "$corpus" \
    "$logs"/kiln_*.npy
  note "agreement with sentence-transformers (f32, GPU): $(verdict $?)"
  note "$(grep -h 'cosine' "$logs/embed_agree.log")"
  step 60 300 embed_bench.log env "${run_vars[@]}" KILN_NO_BUILD=1 bench/embed_bench.sh --device cuda \
    --model "$model"
  note "embed bench: $(verdict $?)"
  note "$(grep -h -E '^\|' "$logs/embed_bench.log" | head -20)"
  cp bench/results/embed-cuda-*/*.jsonl bench/results/embed-cuda-*/report.md "$out/" 2>/dev/null
  exit 0
fi

if [ "$mode" != bench ]; then
  step 30 180 ctest.log env "${run_vars[@]}" ctest --test-dir build --output-on-failure -j4
  rc=$?
  note "ctest: $(verdict $rc): $(grep -m1 -E 'tests passed|tests failed' "$logs/ctest.log")"
  note "$(grep -E '^ +[0-9]+ - .*\(' "$logs/ctest.log" | grep -v Skipped | head -8)"
  note "$(grep -h -E '^\[  FAILED  \] (cuda|cpu|host)/' "$logs/ctest.log" | sort -u | head -15)"

  cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Iinclude scripts/cuda_route_check.c -Lbuild \
    -Wl,-rpath,"$root/build" -lkiln -lm -o build/cuda_route_check >"$logs/route_build.log" 2>&1
  step 20 120 route_check.log env "${run_vars[@]}" build/cuda_route_check
  rc=$?
  note "route check: $(verdict $rc): $(tail -1 "$logs/route_check.log")"
  note "$(grep -m12 '^FAIL' "$logs/route_check.log")"

  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  # The API fuzz corpus (fuzz/corpus/api, issue #9) replayed with its first
  # context on the GPU, under memcheck: every program's calls checked
  # against the failing-call contract, every kernel against the sanitizer.
  step 20 120 fuzz_replay.log env "${run_vars[@]}" KILN_FUZZ_DEVICE=cuda "$sanitizer" \
    --tool memcheck --error-exitcode 99 build/fuzz/fuzz_api_replay fuzz/corpus/api
  rc=$?
  note "fuzz corpus on the GPU (memcheck): $(verdict $rc): $(grep -h -E 'programs run|ERROR SUMMARY|contract broken' "$logs/fuzz_replay.log" | tr '\n' ' ')"

  # The three tools side by side (correctness only, so they may share the
  # GPU), within a common budget.
  budget=$(left)
  [ "$mode" = all ] && ((budget > 150)) && budget=150
  saved_deadline=$deadline
  deadline=$(($(date +%s) + budget))
  if ((budget >= 30)); then
    sanitize memcheck --leak-check full >"$logs/sanitizer_memcheck.txt" 2>&1 &
    p1=$!
    sanitize racecheck >"$logs/sanitizer_racecheck.txt" 2>&1 &
    p2=$!
    # --nvtx: initcheck reads the marks of what cuBLASLt wrote (cuda_marks.cu).
    sanitize initcheck --nvtx true >"$logs/sanitizer_initcheck.txt" 2>&1 &
    p3=$!
    wait "$p1" "$p2" "$p3"
    for tool in memcheck racecheck initcheck; do
      list=$logs/sanitizer_$tool.txt
      note "sanitizer $tool: $(awk '$3 == 0' "$list" | wc -l) of $(echo "$tests" | wc -w) clean; $(awk '$3 != 0 && $3 != 125' "$list" | wc -l) with errors or failures, $(awk '$3 == 125' "$list" | wc -l) skipped"
      note "$(awk '$3 != 0 && $3 != 125' "$list" | head -5)"
    done
  else
    note "sanitizers: skipped, no time left"
  fi
  deadline=$saved_deadline
fi

# ---------------------------------------------------------------- bench
if [ "$mode" != test ]; then
  # The floor of this machine, in this run: kiln's small-op numbers read
  # against it.
  nvcc -O3 -arch=sm_90 -o build/launch_floor scripts/launch_floor.cu >"$logs/launch_floor.log" 2>&1 &&
    step 10 60 launch_floor.log build/launch_floor "$out/floor.json"
  note "$(tail -1 "$logs/launch_floor.log")"

  step 150 240 kiln_bench.log env "${run_vars[@]}" build/kiln bench --device cuda \
    --json "$out/kiln_cuda.json"
  rc=$?
  note "kiln bench: $(verdict $rc)"
  # The fused ops against their composite paths, same run: LoRA here.
  step 20 60 lora_composite.log env "${run_vars[@]}" build/kiln bench --device cuda \
    --filter lora --composite
  note "LoRA composite (--composite), µs: $(awk '/^lora_/ {printf "%s %s/%s; ", $1, $3, $6}' \
    "$logs/lora_composite.log")"
  if [ -f bench/torch_side.py ] && ((rc == 0)); then
    step 120 200 torch_side.log python3 bench/torch_side.py --device cuda --json "$out/torch_cuda.json"
    note "torch side: $(verdict $?)"
  fi
  # Agreement: every case's kiln output (and PyTorch's, from the same
  # inputs) against float64. The dump is large, so it stays out of $OUT.
  # On the H100 (2026-11-25) the float64 references of all 51 cases took
  # more than 150 s; agree.py writes its JSON after every case.
  dump=$(mktemp -d /tmp/kiln-dump.XXXXXX)
  step 90 150 dump.log env "${run_vars[@]}" build/kiln bench --device cuda --quick \
    --dump "$dump" --json "$logs/kiln_dump_run.json" &&
    step 30 240 agree.log python3 bench/agree.py --dump "$dump" --out "$logs/agree.json" \
      --device cuda
  note "agreement: $(verdict $?)"
  rm -rf "$dump"
  if [ -f bench/report.py ] && [ -f "$out/kiln_cuda.json" ]; then
    extra=()
    [ -f "$out/torch_cuda.json" ] && extra+=(--torch "$out/torch_cuda.json")
    [ -f "$logs/agree.json" ] && extra+=(--agree "$logs/agree.json")
    step 10 60 report.log python3 bench/report.py --kiln "$out/kiln_cuda.json" "${extra[@]}" \
      --out "$logs/report" && cp "$logs/report/report.md" "$logs/report/"*.png "$out/"
  fi
  # Key lines: kiln beside PyTorch, medians in µs, per mode the goals name.
  if [ -f "$out/kiln_cuda.json" ]; then
    note "$(python3 - "$out/kiln_cuda.json" "$out/torch_cuda.json" "$out/floor.json" 2>&1 <<'EOF'
import json, os, sys
def load(p):
    return json.load(open(p)) if os.path.exists(p) else {}
kiln, torch, floor = (load(p) for p in sys.argv[1:4])
trows = {r["case"]: r for r in torch.get("results", [])}
if floor:
    print(f"floor: empty kernel {floor['empty_back_to_back_us']:.2f} us back to back, "
          f"{floor['empty_graph_node_us']:.2f} us per graph node")
def cell(row, mode):
    m = (row.get("modes") or {}).get(mode)
    return f"{m['median_us']:8.2f}" if m else "       -"
for r in kiln.get("results", []):
    if r.get("state") != "done":
        print(f"{r['case']:26s} {r.get('state')} {r.get('note', '')}")
        continue
    t = trows.get(r["case"], {})
    modes = ("back_to_back", "graph") if r.get("class") == "small" else (r.get("primary"),)
    print(f"{r['case']:26s} " + "  ".join(
        f"{m}: kiln {cell(r, m)} torch {cell(t, m)}" for m in modes))
EOF
)"
  fi
fi
exit 0
