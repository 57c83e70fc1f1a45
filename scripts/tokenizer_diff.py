#!/usr/bin/env python3
"""Differential check of `kiln tokenize` against Hugging Face's fast tokenizer
on many random texts (not part of the test suite: it needs tokenizers).

    pip install tokenizers && scripts/fetch_model.sh
    python3 scripts/tokenizer_diff.py [--kiln build-cpu/kiln] [--n 100000] [--seed 1]

Texts mix random bytes, random code points of every plane, runs of combining
marks, words near the 100-character limit, special tokens and long lines;
newlines are replaced (a line is a text). Prints the first differences, exits
1 when there is any.
"""
import argparse, os, random, subprocess, sys, tempfile
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cache_dir():
    base = os.environ.get("KILN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln")
    return os.path.join(base, "models", "all-MiniLM-L6-v2")


def make(rng):
    k = rng.randrange(7)
    if k == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    if k == 1:
        cps = [rng.choice([rng.randrange(0x80), rng.randrange(0x3000), rng.randrange(0x10000),
                           rng.randrange(0x110000)]) for _ in range(rng.randrange(100))]
        return "".join(chr(c) for c in cps if not 0xD800 <= c < 0xE000).encode()
    if k == 2:  # letters with marks, mixed case, accented
        s = []
        for _ in range(rng.randrange(40)):
            s.append(rng.choice("aAeEoOuUiIçÇñÑßẞİıΣσςΩДжЖ一二三中文ｱｲ가각ą"))
            for _ in range(rng.randrange(3)):
                s.append(chr(rng.choice([0x300, 0x301, 0x302, 0x308, 0x30A, 0x323, 0x327, 0x328, 0x334,
                                         0x345, 0x5B0, 0x93C, 0x94D, 0xE31, 0x302E, 0x1D165, 0x1D16D])))
            if rng.random() < 0.2:
                s.append(rng.choice(" \t-.,'[]#$\u00a0\u3000\u200b\u00ad"))
        return "".join(s).encode()
    if k == 3:  # near the word limit
        w = rng.choice(["a", "é", "ab", "中", "x\u0301"]) * rng.randrange(90, 110)
        return (w + " " + w[: rng.randrange(len(w))]).encode()
    if k == 4:
        parts = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[cls]", "[", "]", "CLS", "SEP", " ", "x"]
        return "".join(rng.choice(parts) for _ in range(rng.randrange(30))).encode()
    if k == 5:  # long lines of words, truncated at 256
        words = ["the", "license", "Software", "unaffable", "naïve", "don't", "e-mail", "3.14", "東京",
                 "Привет", "مرحبا", "🙂", "x" * 30]
        return " ".join(rng.choice(words) for _ in range(rng.randrange(100, 500))).encode()
    cps = [rng.randrange(0x110000) for _ in range(rng.randrange(30))]
    return "".join(chr(c) for c in cps if not 0xD800 <= c < 0xE000).encode("utf-8") + \
        bytes(rng.randrange(0x80, 0x100) for _ in range(rng.randrange(5)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build-cpu", "kiln"))
    ap.add_argument("--model", default=cache_dir())
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    texts = [make(rng).replace(b"\n", b" ") for _ in range(a.n)]
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    want = [e.ids for e in tok.encode_batch([t.decode("utf-8", errors="replace") for t in texts])]
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"\n".join(texts) + b"\n")
        f.flush()
        out = subprocess.run([a.kiln, "tokenize", "--model", a.model, "--input", f.name],
                             capture_output=True, check=True).stdout.decode().split("\n")
    bad = 0
    for i, (t, w) in enumerate(zip(texts, want)):
        got = [int(x) for x in out[i].split()]
        if got != w:
            bad += 1
            if bad <= 5:
                print("text %d %r:\n  kiln %s\n  hf   %s" % (i, t[:200], got[:40], w[:40]))
    print("%d texts, %d differ" % (len(texts), bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
