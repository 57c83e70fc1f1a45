#!/usr/bin/env bash
# The row ops' tuning sweep, on a GPU machine: builds, takes the device
# copy ceiling, runs the row tests under each kernel variant
# (KILN_CUDA_ROWS, src/backend/cuda/cuda_env.cu), then times the 12 large
# row cases (softmax, rms_norm; f32, bf16; 16384x4096, 4096x32768,
# 65536x1024) under each variant, and add_rms_norm / layer_norm 16384x4096
# under the table. Prints one table: case x variant, GB/s (bytes read +
# written) and % of the copy ceiling. About 2 minutes on an H200 with
# NO_TESTS=1 (each variant's `kiln bench --quick` ~10 s), 5 with the tests.
#   scripts/row_sweep.sh            the front-runners, `kiln bench --quick`
#   NO_TESTS=1 scripts/row_sweep.sh without the row tests
#   FULL=1 scripts/row_sweep.sh     full-length samples (about 3x longer)
#   VARIANTS="table;kept;pf" scripts/row_sweep.sh   chosen variants (ALL: every one)
# Work files in ${ROW_SWEEP_DIR:-row-sweep-out}; where $OUT is set (the
# device tool's folder), one tarball of them there, row-sweep.tgz.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
out=${ROW_SWEEP_DIR:-$root/row-sweep-out}
mkdir -p "$out"
pack() { [ -n "${OUT:-}" ] && tar czf "$OUT/row-sweep.tgz" -C "$out" . 2>/dev/null; }
trap pack EXIT
export PATH="/usr/local/cuda/bin:$PATH"
cmake_args=(-S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON)
. scripts/gpu_deps_env.sh
# The tests every variant runs (their ops take the variants), and the one
# run once, under the table (layer_norm, add_rms_norm: no variants).
tests=(test_softmax test_rms_norm test_edges)
once=(test_norms)
cmake "${cmake_args[@]}" >"$out/configure.log" 2>&1 &&
  cmake --build build -j"$(nproc)" --target kiln_cli "${tests[@]}" "${once[@]}" >"$out/build.log" 2>&1 ||
  { tail -30 "$out/build.log"; exit 1; }

# Each column: a name and its KILN_CUDA_ROWS. One string sets all three
# widths at once (each case reads only its own width's part), so the
# global flags (kept, pf, cs) are shared by the widths of a column.
all_variants="table=
w1=c1024=32x32,c4096=128x32,wide
w2=c1024=64x16,c4096=512x8,chunks=4
kept=kept
w1kept=c1024=32x32,c4096=128x32,wide,kept
w2kept=c1024=64x16,c4096=512x8,c32768=512x64,kept
pf=pf
pfkept=pf,kept
w2pf=c1024=64x16,c4096=512x8,pf,wide,chunks=4
cs=cs
widekept2=c32768=1024x32,wide,kept,chunks=2
w512kept=c1024=32x32,c4096=512x8,c32768=512x64,wide,kept
w512kept4=c1024=64x16,c4096=128x32,c32768=512x64,wide,kept,chunks=4,cs
widekept4=c32768=1024x32,wide,kept,chunks=4
nokept=nokept
nocs=nocs
chunks2=chunks=2"
# The front-runners of the first run (2026-12-01, H200) and the columns it
# lost: kept was worse for softmax, better for rms_norm bf16; pf better for
# softmax at 4096 and 32768 and rms_norm bf16 at 1024; cs better for
# rms_norm f32 at 32768.
default_variants="table;w1;w2;pf;w2pf;w512kept;widekept2;w512kept4"
want=${VARIANTS:-$default_variants}
if [ "$want" = ALL ]; then
  variants=$all_variants
else
  variants=$(printf '%s\n' "$all_variants" | awk -F= -v want=";$want;" 'index(want, ";" $1 ";")')
fi

# The copy ceiling: a 1 GiB device-to-device copy, best of 20, bytes read +
# written (as bench/torch_side.py measures it).
copy=$(python3 - <<'EOF' 2>"$out/copy.err"
import torch
n = 1 << 30
src = torch.empty(n, dtype=torch.uint8, device="cuda")
dst = torch.empty_like(src)
for _ in range(3):
    dst.copy_(src)
torch.cuda.synchronize()
best = float("inf")
for _ in range(20):
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record(); dst.copy_(src); b.record(); b.synchronize()
    best = min(best, a.elapsed_time(b) / 1e3)
print(f"{2 * n / best / 1e9:.0f}")
EOF
)
[ -n "$copy" ] || { echo "copy ceiling: torch failed ($(tail -1 "$out/copy.err")); using 4260"; copy=4260; }
echo "copy ceiling: $copy GB/s"

# The cases, from bench/cases.tsv: the 12 row cases, and the two others.
grep -E '^#|^(softmax|rms_norm)_(f32|bf16)_(16384x4096|4096x32768|65536x1024)\b' bench/cases.tsv \
  >"$out/rows.tsv"
grep -E '^#|^(add_rms_norm|layer_norm)_(f32|bf16)_16384x4096\b' bench/cases.tsv >"$out/others.tsv"
quick=--quick
[ "${FULL:-0}" = 1 ] && quick=

bench() { # name KILN_CUDA_ROWS cases-file
  env "${run_vars[@]}" KILN_CUDA_ROWS="$2" timeout 180 build/kiln bench --device cuda \
    --cases "$3" $quick 2>&1 | tee "$out/bench_$1.txt" |
    awk -v v="$1" '($2 == "large" || $2 == "gpu") && $(NF) == "GB/s" {print $1, v, $(NF-1)}'
}
test_variant() { # name KILN_CUDA_ROWS: the test executables side by side
  local failed=0 pids=() t i
  for t in "${tests[@]}"; do
    env "${run_vars[@]}" KILN_CUDA_ROWS="$2" KILN_TEST_FILTER='cuda/*' timeout 120 \
      "build/tests/$t" >"$out/test_$1_$t.txt" 2>&1 &
    pids+=($!)
  done
  for i in "${!tests[@]}"; do
    wait "${pids[$i]}" || { failed=1; echo "FAILED: ${tests[$i]} under $1 ($2)"; }
  done
  return $failed
}

: >"$out/results.txt"
if [ "${NO_TESTS:-0}" != 1 ]; then
  for t in "${once[@]}"; do
    env "${run_vars[@]}" KILN_TEST_FILTER='cuda/*' timeout 120 "build/tests/$t" >"$out/test_$t.txt" 2>&1 &&
      echo "$t: ok" || echo "FAILED: $t"
  done
fi
while IFS= read -r line; do
  [ -n "$line" ] || continue
  name=${line%%=*} spec=${line#*=}
  status=skipped
  if [ "${NO_TESTS:-0}" != 1 ]; then
    if test_variant "$name" "$spec"; then status=ok; else status=FAILED; fi
  fi
  bench "$name" "$spec" "$out/rows.tsv" >>"$out/results.txt"
  echo "variant $name ($spec): tests $status, bench done ($SECONDS s)"
done <<<"$variants"
bench table "" "$out/others.tsv" >>"$out/results.txt"

# The table: a row per case, a column per variant, GB/s and % of copy;
# the best column of each case marked with *.
python3 - "$out/results.txt" "$copy" <<'EOF' | tee "$out/table.txt"
import sys
rows, cols, val = [], [], {}
for line in open(sys.argv[1]):
    case, var, gbs = line.split()
    if case not in rows: rows.append(case)
    if var not in cols: cols.append(var)
    val[case, var] = float(gbs)
copy = float(sys.argv[2])
w = max(len(r) for r in rows)
print(f"{'case':<{w}} " + " ".join(f"{c:>14}" for c in cols))
for r in rows:
    got = {c: val[r, c] for c in cols if (r, c) in val}
    best = max(got.values())
    cells = []
    for c in cols:
        if c not in got:
            cells.append(f"{'':>14}")
        else:
            mark = "*" if got[c] == best else " "
            cells.append(f"{got[c]:>6.0f} {100 * got[c] / copy:>5.1f}%{mark}")
    print(f"{r:<{w}} " + " ".join(cells))
print(f"(GB/s read + written, % of the copy ceiling {copy:.0f} GB/s; * best of the row)")
EOF
