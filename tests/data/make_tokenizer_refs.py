#!/usr/bin/env python3
"""Remakes tests/data/tokenizer_refs.tsv: texts and the ids Hugging Face's fast
tokenizer gives them for all-MiniLM-L6-v2, for test_tokenizer to compare with.

    pip install tokenizers            # the Rust tokenizer; no torch needed
    scripts/fetch_model.sh            # the model's tokenizer.json and vocab
    python3 tests/data/make_tokenizer_refs.py [MODEL_DIR]

The reference is what sentence-transformers runs: the model's tokenizer.json,
no padding, truncation to max_seq_length (256) or to a case's own
max_length. Texts are bytes: Python decodes them with errors="replace", as a
caller reading a file would, and kiln must match on the raw bytes.

The texts, most of which nobody here wrote: the license texts Debian ships
(/usr/share/common-licenses), Python's docstrings, CJK sample texts from
Python's test suite (test/cjkencodings/*-utf8.txt), month and day names of
every glibc locale (/usr/share/i18n/locales: Arabic, Hebrew, Thai, Devanagari,
Greek, Cyrillic, accented Latin...), then edge cases: control characters,
invalid UTF-8, very long words, 400-word lines, emoji, combining marks in
random order, special tokens written in the text, characters where
Hugging Face's Unicode tables differ from utf8proc's, and random bytes and
random code points from a fixed seed.

Format, one case a line: max_length (0: the tokenizer's), TAB, the text's
bytes in hex, TAB, the ids separated by spaces. Lines starting with # are
comments.
"""
import glob, os, random, re, sys, pydoc, importlib, inspect

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "tokenizer_refs.tsv")
rng = random.Random(12)


def cache_dir():
    base = os.environ.get("KILN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln")
    return os.path.join(base, "models", "all-MiniLM-L6-v2")


def license_lines():
    out = []
    for name in ["GPL-3", "Apache-2.0", "MPL-2.0", "Artistic", "BSD", "LGPL-2.1", "CC0-1.0"]:
        path = os.path.join("/usr/share/common-licenses", name)
        if not os.path.exists(path):
            continue
        data = open(path, "rb").read()
        lines = [l for l in data.split(b"\n") if l.strip()]
        out += lines[:: 3 if len(lines) > 400 else 1][:250]
        # 400-word lines (truncated at 256 pieces) from the same text
        words = data.split()
        for k in range(3):
            out.append(b" ".join(words[k * 400:(k + 1) * 400]))
    return out


def docstring_lines():
    out = []
    for mod in ["os", "json", "re", "collections", "itertools", "functools", "textwrap", "string",
                "pathlib", "subprocess", "unicodedata", "datetime", "decimal", "statistics"]:
        try:
            m = importlib.import_module(mod)
        except ImportError:
            continue
        doc = inspect.getdoc(m) or ""
        if doc:
            out.append(doc.replace("\n", " ").encode())
        for name, obj in sorted(vars(m).items()):
            if name.startswith("_"):
                continue
            d = inspect.getdoc(obj) if callable(obj) else None
            if d and len(out) < 600:
                out += [p.replace("\n", " ").encode() for p in d.split("\n\n")[:2]]
    return out[:500]


def cjk_lines():
    out = []
    test = os.path.join(os.path.dirname(os.__file__), "test", "cjkencodings")
    for path in sorted(glob.glob(os.path.join(test, "*-utf8.txt"))):
        lines = [l for l in open(path, "rb").read().split(b"\n") if l.strip()]
        out += lines[:12]
    return out


def locale_lines():
    """Month and day names of every glibc locale, decoded from <Uxxxx>."""
    out = []
    for path in sorted(glob.glob("/usr/share/i18n/locales/*")):
        try:
            text = open(path, encoding="latin-1").read()
        except OSError:
            continue
        names = []
        for key in ("mon", "day", "abmon"):
            m = re.search(r"^%s\s+(.*?)(?:\n(?!\s*\")|\Z)" % key, text, re.M | re.S)
            if m:
                names += re.findall(r'"([^"]*)"', m.group(1))
        words = ["".join(chr(int(h, 16)) for h in re.findall(r"<U([0-9A-Fa-f]+)>", n)) for n in names]
        words = [w for w in words if w]
        if words:
            out.append(" ".join(words).encode("utf-8"))
    return out


def edge_lines():
    e = []
    S = lambda s: s.encode("utf-8")
    e += [b"", b" ", b"\t\r \x0b\x0c", b"a", b"A", b"Hello, World!", b"[CLS]", b"[SEP] [PAD] [MASK] [UNK]",
          b"x[CLS]y", b"[[SEP]]", b"[cls] [Cls] [CLS", b"CLS]", b"[CL\xffS]", b"[C\x00LS]",
          b"$+<=>^`|~ !\"#%&'()*,-./:;?@[\\]_{}", b"un-believ-able's", b"3.14159 1,000,000 2026-11-30"]
    e += [S("naïve café résumé Größe Ærøskøbing façade coöperate"), S("ÀÉÎÕÜ àéîõü ǅ ǈ ǋ ǲ İstanbul ΣΊΣΥΦΟΣ ς"),
          S("東京タワー 北京大学 서울특별시 ภาษาไทย हिन्दी العربية עברית Ελληνικά Русский"),
          S("𠀀𠀁 𪜀 𫝀 𫠝𫠞𫠟 𫠠𫠡 𬺰 丽 丸 﨎 﨏"),
          S("😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✊🏿 🧑‍🚀 #️⃣ ©®™"),
          S("e\u0301 e\u0300\u0301 a\u0328\u0301 \u1e9b\u0323 o\u0308\u0304 \u0f73 \u0344 Z\u0335\u0337\u0318"),
          S("\u0915\u094d\u0937 \u0e01\u0e34\u0e4a \u05e9\u05c1\u05b8 \u0627\u064e\u0644\u0652"),
          S("\u1d165\u1d16d \U0001D16D\U0001D165 x\U0001D165\U0001D16D\u0301y \u302e\u302f"),
          S("\u00ad soft\u00adhyphen zero\u200bwidth zw\u200dj bidi\u202eedoc\u202c \ufeffbom"),
          S("\ue000private\U000f0000 \ufffd replace\ufffdment \ufffe\uffff"),
          S("line\u2028sep para\u2029sep nel\u0085x nbsp\u00a0x ideo\u3000space"),
          S("ﬁ ﬂ ﬃ ｆｕｌｌｗｉｄｔｈ ① ℃ Ⅻ ㍻ ½"),
          S("\u0130 \u0131 \u1e9e \u212a \u2126 \u212b \u0345 \u1f80 \u1fb3"),
          S("\u061d\u09fd\u0a76 \u0ece\u1c89\ua7cb \U00010d50 \U00011938 \u166d\u1734 \u2e5d \U00013439x"),
          S("\u0890\u0891\u08e2 \u0898\u08ca \U0002b81f\U0002b820\U0002b91f\U0002b920")]
    # controls and invalid UTF-8
    e += [bytes(range(0, 32)) + b"ab" + bytes(range(127, 160)),
          b"\xff\xfe\xfd abc \x80\x81 de\xc0\xaff \xe2\x82 \xf0\x9f\x98 ok",
          b"overlong \xc0\x80 \xe0\x80\x80 \xf0\x80\x80\x80 surrogate \xed\xa0\x80\xed\xbf\xbf max \xf4\x8f\xbf\xbf \xf4\x90\x80\x80",
          b"trunc\xe2", b"\xf0", b"x\xe2A\xe2\x82B\xf0\x9fC", b"\xc3\xa9\xcc\x81\xff\xcc\x81"]
    # words around the 100-character limit, long subword chains
    for n in (99, 100, 101, 250):
        e.append(b"a" * n)
        e.append(("é" * n).encode())
        e.append(b"x " + b"ab" * (n // 2) + b" y")
    e.append(b"e" + "\u0301".encode() * 150)
    e.append(b"z" * 5000 + b" tail")
    e.append(b"supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis")
    e.append(b"!" * 300)
    e.append(b"word " * 300)
    e.append("東" .encode() * 300)
    return e


def random_lines(n):
    out = []
    marks = [0x300, 0x301, 0x316, 0x327, 0x334, 0x345, 0x5b0, 0x94d, 0xe34, 0x1d165, 0x1d16d, 0x302e,
             0x1734, 0x1715, 0x0ece, 0x0f71, 0x0f72, 0x0f80, 0x1ab0, 0x20d2]
    bases = list("aAeEiIoOuUzZ") + ["\u00e9", "\u0130", "\u4e00", "\u0915", "-", " ", "[", "]", "\u1100"]
    for i in range(n):
        kind = i % 4
        if kind == 0:  # random bytes
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120))))
        elif kind == 1:  # random code points from every plane
            cps = []
            for _ in range(rng.randrange(1, 60)):
                c = rng.choice([rng.randrange(0x80), rng.randrange(0x800), rng.randrange(0x10000),
                                rng.randrange(0x110000)])
                if 0xD800 <= c < 0xE000:
                    c = 0x41
                cps.append(c)
            out.append("".join(map(chr, cps)).encode("utf-8"))
        elif kind == 2:  # marks in random order on random bases: NFD reordering
            s = ""
            for _ in range(rng.randrange(1, 12)):
                s += rng.choice(bases) + "".join(chr(rng.choice(marks)) for _ in range(rng.randrange(0, 5)))
            out.append(s.encode("utf-8"))
        else:  # ASCII soup with special tokens
            parts = [rng.choice(["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[", "]", "CLS", " ", "ing",
                                 "token", "##", "#", "Hello", "-", "'s", "\t", "\x00", "\x7f"])
                     for _ in range(rng.randrange(1, 20))]
            out.append("".join(parts).encode())
    return out


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else cache_dir()
    tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    tok.no_padding()
    cases = []
    for line in license_lines() + docstring_lines() + cjk_lines() + locale_lines() + edge_lines() + random_lines(400):
        cases.append((0, line))
    # explicit max_length values, on a long line and a short one
    long_line = license_lines()[-1]
    for m in (2, 3, 4, 17, 128, 300, 512):
        cases.append((m, long_line))
        cases.append((m, b"Hello, World! [SEP] caf\xc3\xa9"))
    lines = ["# Made by tests/data/make_tokenizer_refs.py with tokenizers %s from %s: do not edit."
             % (tokenizers.__version__, os.path.basename(model)),
             "# max_length<TAB>text as hex<TAB>ids (see the script's docstring)"]
    for m, text in cases:
        assert b"\n" not in text or True
        tok.enable_truncation(m if m else 256)
        ids = tok.encode(text.decode("utf-8", errors="replace")).ids
        lines.append("%d\t%s\t%s" % (m, text.hex(), " ".join(map(str, ids))))
    open(OUT, "w").write("\n".join(lines) + "\n")
    print("wrote %s: %d cases" % (OUT, len(cases)))


if __name__ == "__main__":
    main()
