#!/usr/bin/env bash
# The row ops (softmax, rms_norm, add_rms_norm, layer_norm,
# add_layer_norm) before and after a change, on the GPU machine, in one
# run: builds the library and `kiln` at REV (git archive into the log
# folder, configured as gpu_check.sh configures build/) and this tree's
# into build/, runs this tree's CUDA row tests, then under
# compute-sanitizer memcheck, then times the row cases of bench/cases.tsv
# with `kiln bench` alternating (before, after, before, after), so that
# the machine's drift shows as the spread between the two rounds.
#
#   scripts/row_ab_bench.sh REV          (needs the repository's .git)
#   FULL=1 scripts/row_ab_bench.sh REV   full-length samples (default --quick)
#
# Output: the tests' verdicts, memcheck's error summaries, then a table of
# each case's GB/s (read + written) in the four runs; a change that keeps
# the kernels' code shows after within the spread of before. Logs in
# ${ROW_AB_DIR:-row-ab-out}, and as row-ab.tgz in $OUT where that is set.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
out=${ROW_AB_DIR:-$root/row-ab-out}
export PATH="/usr/local/cuda/bin:$PATH"
# The before tree stays in $out/before-<commit> (left out of the tarball),
# so that a second run against the same REV rebuilds nothing there.
commit=$(git rev-parse --verify --short "${1:?usage: scripts/row_ab_bench.sh REV}^{commit}") ||
  { echo "no commit $1 (is .git here?)"; exit 2; }
before=$out/before-$commit
mkdir -p "$before"
[ -f "$before/CMakeLists.txt" ] || git archive "$commit" | tar -x -C "$before" || exit 2
trap '[ -n "${OUT:-}" ] && tar czf "$OUT/row-ab.tgz" --exclude="./before-*" -C "$out" .' EXIT

cmake_args=(-DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON)
# shellcheck source=scripts/gpu_deps_env.sh
. scripts/gpu_deps_env.sh # .gpu-deps into cmake_args; run_vars
tests=(test_norms test_softmax test_rms_norm test_edges)
# build DIR SRC NAME TARGETS...: SRC's targets in DIR, logs in $out.
build() {
  local dir=$1 src=$2 name=$3
  shift 3
  if ! { cmake -S "$src" -B "$dir" "${cmake_args[@]}" >"$out/$name.configure.log" 2>&1 &&
    cmake --build "$dir" -j"$(nproc)" --target "$@" >"$out/$name.build.log" 2>&1; }; then
    echo "build of $name failed:"
    tail -20 "$out/$name".*.log
    exit 1
  fi
}
build "$before/build" "$before" before kiln_cli
build "$root/build" "$root" after kiln_cli "${tests[@]}"
kiln_add_cudnn_path build
echo "built: before $commit, after this tree"

failed=0
for t in "${tests[@]}"; do
  env "${run_vars[@]}" KILN_TEST_FILTER='cuda/*' timeout 180 "build/tests/$t" >"$out/$t.log" 2>&1
  rc=$?
  echo "test $t (cuda/*): exit $rc, $(grep -h -E '^\[  (PASSED|FAILED)  \]' "$out/$t.log" | tr '\n' ' ')"
  ((rc == 0)) || failed=1
done
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
for t in "${tests[@]}"; do
  env "${run_vars[@]}" KILN_TEST_QUICK=1 KILN_TEST_FILTER='cuda/*' timeout 240 "$sanitizer" \
    --tool memcheck --error-exitcode 99 "build/tests/$t" >"$out/memcheck_$t.log" 2>&1
  rc=$?
  echo "memcheck $t: exit $rc, $(grep -h 'ERROR SUMMARY' "$out/memcheck_$t.log" | tr '\n' ' ')"
  ((rc == 0)) || failed=1
done

quick=--quick
[ "${FULL:-0}" = 1 ] && quick=
: >"$out/bench.txt"
for round in 1 2; do
  for which in before after; do
    exe=build/kiln
    [ $which = before ] && exe=$before/build/kiln
    for filter in norm softmax; do # norm: rms_norm, add_rms_norm, layer_norm, add_layer_norm
      env "${run_vars[@]}" timeout 240 "$exe" bench --device cuda --cases bench/cases.tsv \
        --filter "$filter" $quick >"$out/bench_${which}_${round}_$filter.txt" 2>&1
      awk -v col="$which$round" '$NF == "GB/s" {print $1, col, $(NF-1)}' \
        "$out/bench_${which}_${round}_$filter.txt" >>"$out/bench.txt"
    done
  done
done
python3 - "$out/bench.txt" <<'EOF' | tee "$out/table.txt"
import sys
rows, val = [], {}
for line in open(sys.argv[1]):
    case, col, gbs = line.split()
    if case not in rows:
        rows.append(case)
    val[case, col] = float(gbs)
cols = ["before1", "after1", "before2", "after2"]
w = max([len(r) for r in rows] + [4])
print(f"{'case':<{w}} " + " ".join(f"{c:>8}" for c in cols) + "  after/before")
for r in rows:
    b = [val[r, c] for c in ("before1", "before2") if (r, c) in val]
    a = [val[r, c] for c in ("after1", "after2") if (r, c) in val]
    ratio = f"{(sum(a) / len(a)) / (sum(b) / len(b)):.3f}" if a and b else "-"
    print(f"{r:<{w}} " + " ".join(f"{val.get((r, c), float('nan')):>8.0f}" for c in cols)
          + f"  {ratio}")
print("(GB/s read + written; after/before: the mean of the two rounds)")
EOF
exit $failed
