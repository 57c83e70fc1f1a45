#!/usr/bin/env bash
# kiln_attention on a GPU machine, in one command: build, the attention
# tests on CUDA under every kernel route, compute-sanitizer on a few cases,
# then timings of the issue #11 shapes, with a check of each big shape
# against the composite path. Summary printed last; full logs in
# $OUT/attention_logs.tar.gz (or ./attention-check-out).
#
#   scripts/attention_gpu_check.sh [test|bench|all|cudnn|decode|f32|f32perf]     (default all)
#
# f32: the f32 tensor-core kernel (mma_f32: 3xTF32,
# src/backend/cuda/cuda_attention_mma_f32.cu) against the f32 route it
# replaces, in one command of under 10 minutes (ATTN_CHECK_SECONDS=570):
# the CUDA tests with mma_f32 forced (f16 pieces), and its f32 cases on
# the TF32 splits (KILN_CUDA_F32_MMA_SPLIT=block|warp); the f32 bench
# cases with --check, on (every split) and off; memcheck and racecheck on
# mma_f32;
# the f32 cases in auto mode with it on (KILN_CUDA_F32_MMA=1) and off
# (=0: the old route, general and decode_simt).
# f32perf: the same timings, Nsight Compute's view of each variant on the
# D 64 prefill shape, and kiln bench beside PyTorch's SDPA
# (bench/torch_side.py, where torch is installed) on bench/cases.tsv's f32
# attention cases, mma_f32 on.
#
# cudnn: the cudnn route alone (cuDNN's fused attention,
# src/backend/cuda/cuda_attention_cudnn.cu): its tests, memcheck of them,
# and the bf16 prefill sweep timed with --check under cudnn, then under
# mma for comparison. KILN_CUDNN_DEBUG=1 makes each process print, per
# shape, whether cuDNN built a plan ("plan") or refused it ("refused": that
# shape then ran on kiln's own kernel).
#
# decode: the decode kernels alone, in one command of under 5 minutes
# (ATTN_CHECK_SECONDS=300): the tests under the decode route, auto and
# decode_simt, memcheck and racecheck on the decode route, then the decode
# bench with --check, each line's GB/s as a share of the H200's copy
# ceiling (ATTN_COPY_GBS, default 4260). With ATTN_DECODE_EXTRA=1, then
# the CUDA-core split kernel (decode_simt) on the same shapes, the splits
# sized for 2 and 4 blocks per SM (KILN_CUDA_DECODE_WAVE), and Nsight
# Compute's view of the tensor-core kernel on two shapes.
#
# Every step is time-boxed so the whole run ends inside ATTN_CHECK_SECONDS
# (default 540); a step that no longer fits is skipped and says so. On a
# 10-minute command limit, run `test` and `bench` as two commands.
#
# What proves it: "tests <route>: ok" for auto, general, mma, mma_f32, decode and cudnn;
# "memcheck: 0 errors" and "racecheck: 0 hazards"; every bench line of
# --check ending in "ok". The routes are forced with KILN_CUDA_ATTENTION
# (src/backend/cuda/cuda_attention.cu), which runs every test case through
# that kernel wherever it takes the shape (the general kernel elsewhere).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
mode=${1:-all}
out=${OUT:-$root/attention-check-out}
mkdir -p "$out"
logs=$(mktemp -d)
summary=()
note() { [ -n "$*" ] && summary+=("$*"); }
deadline=$(($(date +%s) + ${ATTN_CHECK_SECONDS:-540}))
# box MAX: seconds a step may take, cut to the time left (1 when under 20 s
# are left: the step is cut at once).
box() {
  local left=$((deadline - $(date +%s)))
  ((left < 20)) && echo 1 && return # (timeout 0 would mean no limit)
  ((left < $1)) && echo "$left" || echo "$1"
}
export PATH="/usr/local/cuda/bin:$PATH"
finish() {
  tar -czf "$out/attention_logs.tar.gz" -C "$logs" . 2>/dev/null
  rm -rf "$logs"
  printf '%s\n' "== attention_gpu_check $mode" "${summary[@]}" | tee "$out/attention_summary.txt"
}
trap finish EXIT

# Build as scripts/gpu_check.sh does (its .gpu-deps handling included).
cmake_args=(-S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON)
. scripts/gpu_deps_env.sh # .gpu-deps into cmake_args; run_vars
if ! { cmake "${cmake_args[@]}" >"$logs/configure.log" 2>&1 &&
  cmake --build build -j"$(nproc)" --target kiln test_attention $([ "$mode" = decode ] || echo kiln_cli) \
    >"$logs/build.log" 2>&1; }; then
  note "build: FAILED"
  note "$(grep -h -m10 -E 'error|Error' "$logs/configure.log" "$logs/build.log")"
  exit 1
fi
cc -std=c11 -O2 -Iinclude scripts/attention_gpu_bench.c -Lbuild -Wl,-rpath,"$root/build" -lkiln \
  -lm -o build/attention_gpu_bench >"$logs/bench_build.log" 2>&1 ||
  note "bench build: FAILED: $(head -3 "$logs/bench_build.log")"
note "build: ok; $(grep -c -i warning "$logs/build.log") warning lines"
note "$(grep -h 'kiln: cuDNN' "$logs/configure.log")"
# cuDNN loads its engine libraries from beside itself: put its folder on
# the library path (a pip wheel's cuDNN is on no default path).
cudnn_lib=$(sed -n 's/^KILN_CUDNN_LIBRARY:FILEPATH=//p' build/CMakeCache.txt)
if [ -n "$cudnn_lib" ] && [ -e "$cudnn_lib" ]; then
  cudnn_path=$(dirname "$(readlink -f "$cudnn_lib")")
  lp=${LD_LIBRARY_PATH:-}
  kept=()
  for v in "${run_vars[@]}"; do
    case $v in LD_LIBRARY_PATH=*) lp=${v#LD_LIBRARY_PATH=} ;; *) kept+=("$v") ;; esac
  done
  run_vars=("${kept[@]}" "LD_LIBRARY_PATH=$cudnn_path${lp:+:$lp}")
fi

if [ "$mode" = cudnn ]; then
  # The timings first (the plan/refused lines and the checks are the main
  # evidence), then the tests, memcheck, and mma's timings to compare.
  bench() {
    local log=$logs/bench_$1.log
    env "${run_vars[@]}" KILN_CUDNN_DEBUG=1 KILN_CUDA_ATTENTION=$1 timeout $(box 60) \
      build/attention_gpu_bench --check bf16_d >"$log" 2>&1
    note "bench $1 (exit $?):"
    note "$(cat "$log")"
  }
  bench cudnn
  log=$logs/tests_cudnn.log
  { env "${run_vars[@]}" KILN_CUDNN_DEBUG=1 KILN_CUDA_ATTENTION=cudnn KILN_TEST_FILTER='cuda/*' \
      timeout $(box 120) build/tests/test_attention
    echo "exit $?"; } >"$log" 2>&1
  grep -q '^exit 0$' "$log" && note "tests cudnn: ok: $(grep -h -E '^\[  PASSED  \]' "$log" | tr '\n' ' ')" ||
    { note "tests cudnn: FAILED"; note "$(grep -E 'FAIL|rror' "$log" | head -12)"; }
  note "cudnn plans in the tests: $(grep -c ': plan (' "$log") built, $(grep -c ': refused' "$log") refused"
  note "$(grep -h 'kiln cudnn:' "$log" | sort | uniq | head -30)"
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  log=$logs/sanitizer_memcheck_cudnn.log
  env "${run_vars[@]}" KILN_TEST_QUICK=1 KILN_CUDA_ATTENTION=cudnn KILN_TEST_FILTER='cuda/*' \
    timeout $(box 70) "$sanitizer" --tool memcheck --error-exitcode 99 build/tests/test_attention \
    >"$log" 2>&1
  note "memcheck cudnn: exit $? $(grep -h 'ERROR SUMMARY' "$log")"
  bench mma
  exit 0
fi

# GB/s of a bench line as a share of the copy ceiling, appended to it.
ceiling() {
  awk -v c="${ATTN_COPY_GBS:-4260}" '{ for (i = 2; i <= NF; i++) if ($i == "GB/s")
    { printf "%s  [%.0f%% of %.2f TB/s]\n", $0, 100 * $(i - 1) / c, c / 1000; next }
    print }'
}

# route_tests SECONDS ROUTE...: test_attention's CUDA cases (the error
# cases included, test_attention_errors.c) with each route forced, one
# summary line a route; tag (a variable) names a variant of the same route
# (another environment) in the log's name and the line, and tests (a
# variable) narrows the cases to a KILN_TEST_FILTER pattern.
route_tests() {
  local limit=$1 route log
  shift
  for route in "$@"; do
    log=$logs/tests_$route${tag:-}.log
    {
      env "${run_vars[@]}" KILN_CUDA_ATTENTION=$route KILN_TEST_FILTER="${tests:-cuda/*}" \
        timeout $(box "$limit") build/tests/test_attention
      echo "exit $?"
    } >"$log" 2>&1
    if grep -q 'cuda: absent\|cuda: present but' "$log"; then
      note "tests $route${tag:-}: NO GPU: $(grep -m1 'BACKEND  \] cuda' "$log")"
    elif grep -q '^exit 0$' "$log"; then
      note "tests $route${tag:-}: ok: $(grep -h -E '^\[  PASSED  \]' "$log" | tr '\n' ' ')"
    else
      note "tests $route${tag:-}: FAILED"
      note "$(grep -E 'FAIL|rror' "$log" | head -12)"
    fi
  done
}

if [ "$mode" = decode ]; then
  route_tests 90 decode auto decode_simt
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in memcheck racecheck; do
    log=$logs/sanitizer_${tool}_decode.log
    # racecheck (slow) on the decode cases; memcheck on every case
    filter='cuda/*'
    [ $tool = racecheck ] && filter='cuda/*decode*'
    env "${run_vars[@]}" KILN_TEST_QUICK=1 KILN_CUDA_ATTENTION=decode KILN_TEST_FILTER="$filter" \
      timeout $(box 75) "$sanitizer" --tool $tool --error-exitcode 99 build/tests/test_attention \
      >"$log" 2>&1
    note "$tool decode: exit $? $(grep -h -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tr '\n' ' ')"
    note "$(grep -h -m6 -E 'Invalid|Race|Hazard|FAILED' "$log")"
  done
  if [ -x build/attention_gpu_bench ]; then
    log=$logs/bench_decode.log
    env "${run_vars[@]}" timeout $(box 60) build/attention_gpu_bench --check decode >"$log" 2>&1
    note "bench decode, auto route, --check (exit $?):"
    note "$(ceiling <"$log")"
    # The comparisons and the profile: only with ATTN_DECODE_EXTRA=1.
    [ "${ATTN_DECODE_EXTRA:-0}" = 1 ] || exit 0
    log=$logs/bench_decode_simt.log
    env "${run_vars[@]}" KILN_CUDA_ATTENTION=decode_simt timeout $(box 40) \
      build/attention_gpu_bench decode >"$log" 2>&1
    note "bench decode, the CUDA-core split kernel (decode_simt) (exit $?):"
    note "$(ceiling <"$log")"
    # The split count: the grid sized for N blocks per SM (default 1, one wave).
    for wave in 2 4; do
      log=$logs/bench_decode_wave$wave.log
      env "${run_vars[@]}" KILN_CUDA_DECODE_WAVE=$wave timeout $(box 30) \
        build/attention_gpu_bench --quick decode >"$log" 2>&1
      note "bench decode, splits sized for $wave blocks per SM (KILN_CUDA_DECODE_WAVE) (exit $?):"
      note "$(grep -v '^#' "$log" | ceiling)"
    done
    ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
    for shape in decode_b1_sk4096 decode_b16_sk32768; do
      log=$logs/ncu_$shape.log
      env "${run_vars[@]}" timeout $(box 60) "$ncu" --kernel-name regex:attn_decode --launch-skip 1 \
        --launch-count 1 --section LaunchStats --section Occupancy --section SpeedOfLight \
        build/attention_gpu_bench --quick "$shape" >"$log" 2>&1
      note "ncu $shape (exit $?):"
      note "$(grep -E 'attn_decode|Grid Size|Registers Per|Achieved Occ|Theoretical Occ|DRAM Through|Memory Through|^ +Duration|Dynamic Shared' "$log" | sed 's/  */ /g')"
    done
  fi
  exit 0
fi

# f32_timings: the f32 bench cases with --check on mma_f32's variants and
# on the old route, for the f32 and f32perf modes.
f32_timings() {
  if [ -x build/attention_gpu_bench ]; then
    for variant in "1 f16" "1 block" "1 warp" "0 block"; do
      set -- $variant
      log=$logs/bench_f32_$1_$2.log
      env "${run_vars[@]}" KILN_CUDA_F32_MMA=$1 KILN_CUDA_F32_MMA_SPLIT=$2 timeout $(box 50) \
        build/attention_gpu_bench --check f32 >"$log" 2>&1
      note "bench f32, KILN_CUDA_F32_MMA=$1 KILN_CUDA_F32_MMA_SPLIT=$2, --check (exit $?):"
      note "$(cat "$log")"
    done
  fi
}

if [ "$mode" = f32 ]; then
  # The tests on the new kernel first, then its timings, sanitizers and
  # auto mode, each boxed so the command ends in time.
  route_tests 100 mma_f32
  # The TF32 splits on the f32 cases (the default, f16 pieces, ran above).
  for split in block warp; do
    KILN_CUDA_F32_MMA_SPLIT=$split tag=" (KILN_CUDA_F32_MMA_SPLIT=$split, f32 cases)" \
      tests='cuda/attention_f32_*' route_tests 60 mma_f32
  done
  f32_timings
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for run in "memcheck f16 cuda/*" "racecheck f16 cuda/attention_f32_*" \
    "memcheck block cuda/attention_f32_*" "memcheck warp cuda/attention_f32_*"; do
    set -- $run
    log=$logs/sanitizer_$1_mma_f32_$2.log
    env "${run_vars[@]}" KILN_TEST_QUICK=1 KILN_CUDA_ATTENTION=mma_f32 KILN_CUDA_F32_MMA_SPLIT=$2 \
      KILN_TEST_FILTER="$3" timeout $(box 75) "$sanitizer" --tool $1 --error-exitcode 99 \
      build/tests/test_attention >"$log" 2>&1
    note "$1 mma_f32 (split $2, $3): exit $? $(grep -h -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tr '\n' ' ')"
    note "$(grep -h -m6 -E 'Invalid|Race|Hazard|FAILED' "$log")"
  done
  KILN_CUDA_F32_MMA=1 tag=" (KILN_CUDA_F32_MMA=1, f32 cases)" tests='cuda/attention_f32_*' \
    route_tests 60 auto
  KILN_CUDA_F32_MMA=0 tag=" (KILN_CUDA_F32_MMA=0, the old f32 route, f32 cases)" \
    tests='cuda/attention_f32_*' route_tests 60 auto
  exit 0
fi

if [ "$mode" = f32perf ]; then
  f32_timings
  # Nsight Compute's view of each variant on the D 64 prefill shape: is it
  # the tensor pipe, shared memory, issue, or waiting at barriers?
  ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
  metrics=sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active
  metrics+=,sm__inst_issued.avg.pct_of_peak_sustained_active
  metrics+=,l1tex__data_pipe_lsu_wavefronts_mem_shared.avg.pct_of_peak_sustained_elapsed
  metrics+=,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum
  metrics+=,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread
  metrics+=,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio
  metrics+=,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio
  metrics+=,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio
  metrics+=,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,gpu__time_duration.sum
  for split in f16 block warp; do
    # The sections first (stable names), then the metrics above (a name
    # this ncu lacks fails only that run).
    for what in "--section SpeedOfLight --section ComputeWorkloadAnalysis --section Occupancy
      --section WarpStateStats --section LaunchStats" "--metrics $metrics"; do
      log=$logs/ncu_f32_$split.log
      # shellcheck disable=SC2086 # $what is a list of options
      env "${run_vars[@]}" KILN_CUDA_F32_MMA=1 KILN_CUDA_F32_MMA_SPLIT=$split timeout $(box 45) \
        "$ncu" --kernel-name regex:attn_mma_f32 --launch-skip 1 --launch-count 1 $what \
        build/attention_gpu_bench --quick f32_b8_h32_s2048_d64 >"$log" 2>&1
      note "ncu f32_b8_h32_s2048_d64, split $split, ${what%% *} (exit $?):"
      note "$(grep -E '^ +[a-z_]+__|Duration|Throughput|Issue Slots|Ipc|Occupancy|Registers Per|Shared Memory Config|Warp Cycles Per|Block Limit|==ERR' "$log" | sed 's/  */ /g')"
    done
  done
  # kiln bench beside PyTorch's SDPA on bench/cases.tsv's f32 attention
  # cases, same run, mma_f32 on: medians in us, each SDPA mode PyTorch ran.
  cases=$logs/cases_f32.tsv
  awk -F'\t' '/^#/ || ($1 ~ /^attn_/ && $3 == "f32")' bench/cases.tsv >"$cases"
  env "${run_vars[@]}" KILN_CUDA_F32_MMA=1 timeout $(box 90) build/kiln bench --device cuda \
    --cases "$cases" --json "$logs/kiln_f32.json" >"$logs/kiln_f32.log" 2>&1
  note "kiln bench f32 attention (exit $?)"
  if python3 -c 'import torch' 2>/dev/null; then
    timeout $(box 150) python3 bench/torch_side.py --device cuda --no-ceilings --cases "$cases" \
      --json "$logs/torch_f32.json" >"$logs/torch_f32.log" 2>&1
    note "torch side f32 attention (exit $?)"
  fi
  note "$(python3 - "$logs/kiln_f32.json" "$logs/torch_f32.json" 2>&1 <<'EOF'
import json, os, sys
def load(p):
    return json.load(open(p)) if os.path.exists(p) else {}
kiln, torch = (load(p) for p in sys.argv[1:3])
trows = {r["case"]: r for r in torch.get("results", [])}
for r in kiln.get("results", []):
    k = ((r.get("modes") or {}).get(r.get("primary")) or {}).get("median_us")
    if r.get("state") != "done" or not k:
        print(f"{r['case']:36s} {r.get('state')} {r.get('note', '')}")
        continue
    line = f"{r['case']:36s} kiln {k:9.1f} us; torch"
    for m, v in sorted((trows.get(r["case"], {}).get("modes") or {}).items()):
        if v and v.get("median_us"):
            line += f"  {m} {v['median_us']:.1f} ({v['median_us'] / k:.2f}x)"
    print(line)
EOF
)"
  exit 0
fi

if [ "$mode" != bench ]; then
  route_tests 240 auto general mma mma_f32 decode decode_simt cudnn
  # Every CUDA case under the sanitizers, per kernel (quick sizes: lengths
  # above 300 cut to a quarter).
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in memcheck racecheck; do
    for route in general mma mma_f32 decode $([ $tool = memcheck ] && echo cudnn); do
      log=$logs/sanitizer_${tool}_$route.log
      env "${run_vars[@]}" KILN_TEST_QUICK=1 KILN_CUDA_ATTENTION=$route \
        KILN_TEST_FILTER='cuda/*' \
        timeout $(box 120) "$sanitizer" --tool $tool --error-exitcode 99 build/tests/test_attention \
        >"$log" 2>&1
      note "$tool $route: exit $? $(grep -h -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tr '\n' ' ')"
    done
  done
  log=$logs/sanitizer_memcheck_errors.log
  env "${run_vars[@]}" KILN_TEST_FILTER='cuda/*lengths*' timeout $(box 90) "$sanitizer" --tool memcheck \
    --error-exitcode 99 build/tests/test_attention >"$log" 2>&1
  note "memcheck bad lengths: exit $? $(grep -h 'ERROR SUMMARY' "$log")"
fi

if [ "$mode" != test ] && [ -x build/attention_gpu_bench ]; then
  for route in auto general cudnn; do
    log=$logs/bench_$route.log
    env "${run_vars[@]}" KILN_CUDA_ATTENTION=$route timeout $(box 240) build/attention_gpu_bench \
      $([ $route != general ] && echo --check) >"$log" 2>&1
    note "bench $route (exit $?):"
    note "$(cat "$log")"
  done
  log=$logs/bench_decode_mma.log
  { env "${run_vars[@]}" KILN_CUDA_ATTENTION=mma timeout $(box 60) build/attention_gpu_bench decode
    env "${run_vars[@]}" KILN_CUDA_ATTENTION=decode timeout $(box 60) build/attention_gpu_bench minilm; } \
    >"$log" 2>&1
  note "crossovers (decode shapes on mma, minilm on decode):"
  note "$(grep -v '^#' "$log")"
  if build/kiln bench --help 2>&1 | grep -q filter; then
    env "${run_vars[@]}" timeout $(box 120) build/kiln bench --device cuda --filter attention \
      >"$logs/kiln_bench.log" 2>&1
    note "kiln bench --filter attention (exit $?):"
    note "$(tail -40 "$logs/kiln_bench.log")"
  fi
fi
