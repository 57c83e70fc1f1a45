#!/usr/bin/env python3
"""kiln's WordPiece tokenizer against Hugging Face's fast tokenizer, on the
same texts, in the same run: tokens and MB of UTF-8 per second.

    pip install tokenizers
    python3 bench/tokenizer.py [--build build-cpu] [--texts tests/data/tokenizer_refs.tsv]
                               [--seconds 3] [--markdown]

kiln: bench/tokenizer_bench.c (one thread, one text per call). Hugging Face:
tokenizers' Tokenizer from the model's tokenizer.json, truncation at 256 as
sentence-transformers asks, no padding; one text per call
(Tokenizer.encode, the way the anchor's 0.86 MB/s was measured) and
encode_batch of the whole set, on one thread (RAYON_NUM_THREADS=1) and on
all cores. Both also without truncation. Rates are per second of the process's CPU time for one thread (the work
itself, on a shared machine) and per wall second for encode_batch on all
cores; wall rates are shown too. Texts: the 2292 cases of
tests/data/tokenizer_refs.tsv (license prose, docstrings, CJK, locale names,
edge cases, random bytes), decoded for Hugging Face with errors="replace".
"""
import argparse, json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_dir():
    base = os.environ.get("KILN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln")
    return os.path.join(base, "models", "all-MiniLM-L6-v2")


def load_texts(path):
    out = []
    for line in open(path):
        if line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 3:
            out.append(bytes.fromhex(parts[1]))
    return out


def hf_side(model, texts_path, seconds, threads):
    """Runs in a child so RAYON_NUM_THREADS takes effect before the pool starts."""
    code = r'''
import sys, time, json
from tokenizers import Tokenizer
model, path, seconds, trunc = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
threads = int(sys.argv[6])
sys.path.insert(0, sys.argv[5])
from tokenizer import load_texts
raw = load_texts(path)
texts = [t.decode("utf-8", errors="replace") for t in raw]
nbytes = sum(len(t) for t in raw)
tok = Tokenizer.from_file(model + "/tokenizer.json")
tok.no_padding()
if trunc: tok.enable_truncation(256)
else: tok.no_truncation()
res = {}
def run(name, fn):
    n_tok = fn()
    passes, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn(); passes += 1
        t = time.process_time() - c0
        if t >= seconds: break
    wall = time.perf_counter() - t0
    # one thread: rates per CPU second, as kiln's; several: per wall second
    per = t if name != "batch" or threads == 1 else wall
    res[name] = {"mb_per_s": nbytes * passes / per / 1e6, "tokens_per_s": n_tok * passes / per,
                 "wall_mb_per_s": nbytes * passes / wall / 1e6, "tokens": n_tok, "passes": passes,
                 "cpu_seconds": t, "wall_seconds": wall}
run("one", lambda: sum(len(tok.encode(x).ids) for x in texts))
run("batch", lambda: sum(len(e.ids) for e in tok.encode_batch(texts)))
print(json.dumps(res))
'''
    out = {}
    for trunc in (1, 0):
        env = dict(os.environ)
        if threads:
            env["RAYON_NUM_THREADS"] = str(threads)
        r = subprocess.run([sys.executable, "-c", code, model, texts_path, str(seconds), str(trunc),
                            os.path.dirname(os.path.abspath(__file__)), str(threads)],
                           env=env, capture_output=True, text=True, check=True)
        out[trunc] = json.loads(r.stdout)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-cpu"))
    ap.add_argument("--texts", default=os.path.join(ROOT, "tests", "data", "tokenizer_refs.tsv"))
    ap.add_argument("--model", default=model_dir())
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    import tokenizers
    exe = os.path.join(a.build, "kiln_tokenizer_bench")
    kiln = {}
    for trunc, ml in ((1, "0"), (0, "1000000000")):
        r = subprocess.run([exe, a.model, a.texts, str(a.seconds), ml], capture_output=True, text=True,
                           check=True)
        kiln[trunc] = json.loads(r.stdout)
    hf1 = hf_side(a.model, a.texts, a.seconds, 1)
    hfn = hf_side(a.model, a.texts, a.seconds, 0)
    texts = load_texts(a.texts)
    rows = []
    for trunc, label in ((1, "truncated at 256 (as embedded)"), (0, "whole texts")):
        rows.append((label, "kiln, one text per call, 1 thread", kiln[trunc]))
        rows.append((label, "HF, one text per call (encode)", hf1[trunc]["one"]))
        rows.append((label, "HF, encode_batch, 1 thread", hf1[trunc]["batch"]))
        rows.append((label, "HF, encode_batch, %d threads" % os.cpu_count(), hfn[trunc]["batch"]))
    lines = ["%d texts, %.0f kB of UTF-8; tokenizers %s; %d CPUs" %
             (len(texts), sum(map(len, texts)) / 1e3, tokenizers.__version__, os.cpu_count()), "",
             "| texts | tokenizer | MB/s | tokens/s | MB/s, wall | kiln's speedup |",
             "|---|---|---:|---:|---:|---:|"]
    for label, who, r in rows:
        kr = kiln[1 if label.startswith("trunc") else 0]
        # like with like: CPU-second rates, but wall rates for the multi-threaded batch
        k = kr["wall_mb_per_s"] if "threads" in who else kr["mb_per_s"]
        lines.append("| %s | %s | %.2f | %.0fk | %.2f | %s |" % (
            label, who, r["mb_per_s"], r["tokens_per_s"] / 1e3, r["wall_mb_per_s"],
            "" if who.startswith("kiln") else "%.1f×" % (k / r["mb_per_s"])))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
