#!/bin/sh
# `kiln tokenize`: its output format, input from a file or stdin, the empty
# cache message and exit statuses. Usage: tokenize_cli.sh path/to/kiln
set -u
kiln=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln_cli_XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir "$tmp/model"
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n,\nworld\n##s\n' > "$tmp/model/vocab.txt"
printf '{"max_seq_length": 5}' > "$tmp/model/sentence_bert_config.json"
# three lines: a normal one, an empty one, one truncated to 5 ids, then a
# last line without its newline ("\r" is whitespace to the tokenizer)
printf 'Hello, worlds\n\nhello hello hello hello\r\nxyz' > "$tmp/in.txt"
want=$(printf '2 4 5 6 7 3\n2 3\n2 4 4 4 4 3\n2 1 3')
want5=$(printf '2 4 5 6 3\n2 3\n2 4 4 4 3\n2 1 3')

got=$("$kiln" tokenize --model "$tmp/model" --input "$tmp/in.txt") || fail "exit status $?"
[ "$got" = "$want5" ] || fail "with --input: got [$got], want [$want5]"
got=$("$kiln" tokenize --model "$tmp/model" < "$tmp/in.txt") || fail "stdin: exit status $?"
[ "$got" = "$want5" ] || fail "from stdin: got [$got]"
got=$("$kiln" tokenize --input - --model "$tmp/model" < "$tmp/in.txt") || fail "-: exit status $?"
[ "$got" = "$want5" ] || fail "from -: got [$got]"
rm "$tmp/model/sentence_bert_config.json"
got=$("$kiln" tokenize --model "$tmp/model" --input "$tmp/in.txt") || fail "exit status $?"
[ "$got" = "$want" ] || fail "untruncated: got [$got], want [$want]"
[ "$(printf '' | "$kiln" tokenize --model "$tmp/model")" = "" ] || fail "empty input gave output"

# bad options: status 2 and the usage
"$kiln" tokenize --frobnicate >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 2 ] || fail "unknown option: status $st, want 2"
grep -q "usage: kiln tokenize" "$tmp/err" || fail "unknown option: no usage"
"$kiln" tokenize --model >/dev/null 2>&1; st=$?
[ $st -eq 2 ] || fail "--model without a value: status $st, want 2"
"$kiln" tokenize --help | grep -q "usage: kiln tokenize" || fail "--help"

# no model: status 1 and how to fetch it
KILN_CACHE_DIR="$tmp/empty" "$kiln" tokenize </dev/null >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] || fail "empty cache: status $st, want 1"
grep -q "scripts/fetch_model.sh" "$tmp/err" || fail "empty cache: no fetch hint: $(cat "$tmp/err")"
grep -q "$tmp/empty/models/all-MiniLM-L6-v2" "$tmp/err" || fail "empty cache: no path"
"$kiln" tokenize --model "$tmp/nothing" </dev/null >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] || fail "missing --model folder: status $st, want 1"
grep -q "kiln_tokenizer_load" "$tmp/err" || fail "missing folder: $(cat "$tmp/err")"
"$kiln" tokenize --model "$tmp/model" --input "$tmp/none.txt" >/dev/null 2>"$tmp/err"; st=$?
[ $st -eq 1 ] || fail "missing input: status $st, want 1"
echo "kiln tokenize: all checks passed"
