#!/usr/bin/env bash
# The kiln command line as a user meets it: every command line it does not
# understand gives one line naming what was wrong, then the usage, exit 2;
# a failed library call names the function once; `kiln bench` prints its
# legend, a summary with the reasons for skips, and (on a terminal) a
# progress line.
#   tests/cli_test.sh PATH/TO/kiln
set -uo pipefail
kiln=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect STATUS FIRST_LINE_REGEX USAGE_REGEX ARGS...: exit status, the first
# line of stderr, and a usage line right after it.
expect_usage_error() {
  local want=$1 first=$2 usage=$3
  shift 3
  "$kiln" "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "kiln $*: exit $rc, wanted $want"
  grep -Eq "$first" <(sed -n 1p "$work/err") || fail "kiln $*: first line '$(sed -n 1p "$work/err")' does not match '$first'"
  grep -Eq "$usage" <(sed -n 2p "$work/err") || fail "kiln $*: second line '$(sed -n 2p "$work/err")' is not the usage"
  [ ! -s "$work/out" ] || fail "kiln $*: wrote to stdout on a usage error"
}

top='^usage: kiln <command>'
bench='^usage: kiln bench '
expect_usage_error 2 "^kiln: no command given$" "$top"
expect_usage_error 2 "^kiln: unknown command 'frobnicate'$" "$top" frobnicate
expect_usage_error 2 "^kiln: unknown option '--frobnicate'$" "$top" --frobnicate
expect_usage_error 2 "^kiln info: unexpected argument 'now'$" '^usage: kiln info' info now
expect_usage_error 2 "^kiln bench: unknown option '--fast'$" "$bench" bench --fast
expect_usage_error 2 "^kiln bench: unexpected argument 'softmax'$" "$bench" bench softmax
expect_usage_error 2 "^kiln bench: unknown device 'gpu' \(cpu, cuda or auto\)$" "$bench" bench --device gpu
expect_usage_error 2 "^kiln bench: option --json needs a value$" "$bench" bench --json
expect_usage_error 2 "^kiln bench: option --device needs a value$" "$bench" bench --quick --device
expect_usage_error 2 "^kiln bench: option --filter needs a value$" "$bench" bench --filter --quick
expect_usage_error 2 "^kiln tokenize: unknown option '--fast'$" '^usage: kiln tokenize' tokenize --fast
expect_usage_error 2 "^kiln tokenize: .*'--model'$" '^usage: kiln tokenize' tokenize --model

"$kiln" bench --help >"$work/out" 2>&1 || fail "kiln bench --help: exit $?"
grep -q '^usage: kiln bench' "$work/out" || fail "kiln bench --help: no usage"

# Without a GPU, asking for one fails at kiln_context_create: exit 1, and
# the function is named once, not twice.
if "$kiln" info | grep -q '^cuda: 0 devices'; then
  "$kiln" bench --device cuda >"$work/out" 2>"$work/err"
  rc=$?
  [ "$rc" -eq 1 ] || fail "kiln bench --device cuda without a GPU: exit $rc, wanted 1"
  grep -q '^kiln: KILN_ERR_DEVICE: kiln_context_create: ' "$work/err" ||
    fail "kiln bench --device cuda: '$(cat "$work/err")'"
  [ "$(grep -o kiln_context_create "$work/err" | wc -l)" -eq 1 ] ||
    fail "kiln bench --device cuda names kiln_context_create more than once: '$(cat "$work/err")'"
fi

# A two-case list on the CPU: one small case runs, the gpu-class one is
# skipped, and the summary says so with the reason.
printf 'cli_softmax_small\tsoftmax\tf32\t3,17\t-\tsmall\ncli_softmax_gpu\tsoftmax\tf32\t5,7\t-\tgpu\n' >"$work/cases.tsv"
"$kiln" bench --device cpu --quick --cases "$work/cases.tsv" >"$work/out" 2>"$work/err" ||
  fail "kiln bench on two cases: exit $?: $(cat "$work/err")"
grep -q '^columns: µs per op' "$work/out" || fail "kiln bench: no legend line"
grep -Eq '^cli_softmax_small +small +[0-9.]+ \(' "$work/out" || fail "kiln bench: no row for the small case"
grep -q '^2 cases: 1 run, 1 skipped, 0 failed$' "$work/out" || fail "kiln bench: summary missing or wrong"
grep -q '^  skipped 1: gpu class: run on CUDA only$' "$work/out" || fail "kiln bench: no reason for the skip"
[ ! -s "$work/err" ] || fail "kiln bench: progress written to stderr that is not a terminal: $(cat -v "$work/err")"

# On a terminal (script gives the command one), a progress line names the case.
# A root without /dev/pts (some chroots) has no terminal to give: said, skipped.
if ! command -v script >/dev/null || ! script -qec true /dev/null >/dev/null 2>&1; then
  echo "note: no pseudo-terminal here (script(1) cannot open one): progress line not checked"
else
  script -qec "'$kiln' bench --device cpu --quick --cases '$work/cases.tsv' >/dev/null" "$work/typescript" >/dev/null 2>&1 ||
    fail "kiln bench under script: exit $?"
  grep -aq '\[1/2\] cli_softmax_small' "$work/typescript" || fail "kiln bench: no progress line on a terminal"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all command line checks passed"
