#!/usr/bin/env bash
# `kiln embed` as scripts use it, on a tiny model folder the test makes with
# test_embed's writer (--write-model DIR): rows in input order, stdin and
# files, empty lines, CRLF, the .npy header, usage errors, a missing model.
#   tests/embed_cli.sh PATH/TO/kiln PATH/TO/test_embed
set -uo pipefail
kiln=$1
writer=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

"$writer" --write-model "$work/model" || { echo "FAIL: cannot write the tiny model"; exit 1; }
printf 'the cat sat\n\nhello world!\r\ndogs run' >"$work/in.txt"
"$kiln" embed --model "$work/model" --device cpu --input "$work/in.txt" --output "$work/a.npy" 2>"$work/err" ||
  fail "embed --input: exit $? ($(cat "$work/err"))"
grep -Eq '^kiln embed: 4 texts, [0-9]+ tokens in .* texts/s' "$work/err" || fail "no summary line: $(cat "$work/err")"
head -c 10 "$work/a.npy" | od -An -c | grep -q 'N   U   M   P   Y' || fail "not a .npy file"
grep -aq "'shape': (4, 24)" "$work/a.npy" || fail "the header does not say (4, 24)"
[ "$(wc -c <"$work/a.npy")" -eq $((128 + 4 * 24 * 4)) ] || fail "a.npy has $(wc -c <"$work/a.npy") bytes"

# The same lines from stdin, in another order: the rows follow the input.
printf 'dogs run\nthe cat sat\n\nhello world!\n' | "$kiln" embed --model "$work/model" --device cpu >"$work/b.npy" 2>/dev/null ||
  fail "embed from stdin: exit $?"
row() { tail -c +129 "$1" | dd bs=96 skip="$2" count=1 status=none | od -An -tx1; }
[ "$(row "$work/a.npy" 0)" = "$(row "$work/b.npy" 1)" ] || fail "row 'the cat sat' differs between orders"
[ "$(row "$work/a.npy" 1)" = "$(row "$work/b.npy" 2)" ] || fail "the empty line's row differs between orders"
[ "$(row "$work/a.npy" 2)" = "$(row "$work/b.npy" 3)" ] || fail "CRLF line differs from the LF one"
[ "$(row "$work/a.npy" 3)" = "$(row "$work/b.npy" 0)" ] || fail "the last line without a newline differs"
[ "$(row "$work/a.npy" 0)" != "$(row "$work/a.npy" 1)" ] || fail "different texts gave the same row"

usage='^usage: kiln embed'
check_usage() {
  local first=$1
  shift
  "$kiln" embed "$@" </dev/null >"$work/out" 2>"$work/err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "kiln embed $*: exit $rc, wanted 2"
  grep -Eq "$first" <(sed -n 1p "$work/err") || fail "kiln embed $*: '$(sed -n 1p "$work/err")' does not match '$first'"
  grep -Eq "$usage" <(sed -n 2p "$work/err") || fail "kiln embed $*: no usage after the complaint"
}
check_usage "^kiln embed: unknown option '--fast'$" --fast
check_usage "^kiln embed: option --model needs a value$" --model
check_usage "^kiln embed: unknown device 'gpu' \(cpu, cuda or auto\)$" --device gpu
check_usage "^kiln embed: unknown dtype 'f64' \(f32, f16 or bf16\)$" --dtype f64

KILN_CACHE_DIR="$work/empty" "$kiln" embed </dev/null >"$work/out" 2>"$work/err"
[ $? -eq 1 ] || fail "an empty cache: exit status not 1"
grep -q 'fetch_model.sh' "$work/err" || fail "an empty cache: no word of scripts/fetch_model.sh"
"$kiln" embed --model "$work/nothing" --device cpu </dev/null >"$work/out" 2>"$work/err"
[ $? -eq 1 ] || fail "a missing model folder: exit status not 1"
grep -q 'kiln_embedder_load' "$work/err" || fail "a missing model folder: $(cat "$work/err")"

[ $failures -eq 0 ] && echo "embed_cli: all checks passed"
exit $((failures > 0))
