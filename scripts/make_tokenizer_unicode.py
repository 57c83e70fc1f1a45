#!/usr/bin/env python3
"""Writes src/models/tokenizer_unicode_fixups.h: the code points where Hugging
Face's tokenizers (the Python package's Rust core, whose crates carry older
Unicode tables for categories and NFD, and Rust's newer ones for lowercase)
sees a character differently from utf8proc, which kiln's tokenizer reads.

For every code point it asks tokenizers' own normalizers and pre-tokenizer
what happens to the character (dropped by clean text, whitespace, CJK
spacing, punctuation split, nonspacing mark, NFD, lowercase, canonical
combining class known or not), asks libutf8proc (through ctypes) what kiln's
rules make of it, and writes each difference as a range entry.

    pip install tokenizers   # no torch needed
    python3 scripts/make_tokenizer_unicode.py [--check]

--check only compares and exits 1 when the header would change.
"""
import ctypes, ctypes.util, sys, os
import tokenizers
from tokenizers import normalizers, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "models", "tokenizer_unicode_fixups.h")

DROP, SPACE, PUNCT, MN, CJK = 1, 2, 4, 8, 16
FIX_CLASS, FIX_LOWER, FIX_NODECOMP, FIX_ZERO_CCC = 1, 2, 4, 8

lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so.2")
lib.utf8proc_category.restype = ctypes.c_int
lib.utf8proc_tolower.restype = ctypes.c_int32
lib.utf8proc_get_property.restype = ctypes.POINTER(ctypes.c_int16)
lib.utf8proc_version.restype = ctypes.c_char_p
lib.utf8proc_unicode_version.restype = ctypes.c_char_p
lib.utf8proc_decompose_char.restype = ctypes.c_ssize_t
UTF8PROC_DECOMPOSE = 1 << 4
# utf8proc_category_t values
CN, LU, LL, LT, LM, LO, MN_, MC, ME, ND, NL, NO, PC, PD, PS, PE, PI, PF, PO, SM, SC, SK, SO, ZS, ZL, ZP, CC, CF, CS, CO = range(30)


def is_cjk(c):  # must match is_cjk() in tokenizer_unicode.c
    return (0x4E00 <= c <= 0x9FFF or 0x3400 <= c <= 0x4DBF or 0x20000 <= c <= 0x2A6DF or
            0x2A700 <= c <= 0x2B73F or 0x2B740 <= c <= 0x2B81F or 0x2B920 <= c <= 0x2CEAF or
            0xF900 <= c <= 0xFAFF or 0x2F800 <= c <= 0x2FA1F)


def kiln_class(c):  # must match kiln_wp_class() without the fixups
    if c < 0x80:
        ch = chr(c)
        if ch in "\t\n\r ": return SPACE
        if c < 0x20 or c == 0x7F: return DROP
        if ch.isalnum(): return 0
        return PUNCT
    if c == 0xFFFD: return DROP
    cat = lib.utf8proc_category(c)
    cls = 0
    if cat == CC: cls = DROP
    elif cat in (CF, CO, CS): cls = DROP
    elif cat in (ZS, ZL, ZP): cls = SPACE
    elif cat in (PC, PD, PS, PE, PI, PF, PO): cls = PUNCT
    elif cat == MN_: cls = MN
    if is_cjk(c): cls |= CJK
    return cls


def kiln_lower(c):
    return c + 32 if 0x41 <= c <= 0x5A else (c if c < 0x80 else lib.utf8proc_tolower(c))


def kiln_nfd(c):
    if c < 0xC0: return [c]
    buf = (ctypes.c_int32 * 8)()
    b = ctypes.c_int(0)
    n = lib.utf8proc_decompose_char(c, buf, 8, UTF8PROC_DECOMPOSE, ctypes.byref(b))
    return list(buf[:n]) if 1 <= n <= 8 else [c]


def kiln_ccc(c):
    return 0 if c < 0x300 else lib.utf8proc_get_property(c)[1]


def main():
    check = "--check" in sys.argv[1:]
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False,
                                       strip_accents=False, lowercase=False)
    cjk = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True,
                                     strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                       strip_accents=True, lowercase=False)
    lower = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                       strip_accents=False, lowercase=True)
    nfd = normalizers.NFD()
    pre = pre_tokenizers.BertPreTokenizer()

    fix = {}
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000 or c in (0x0A,):
            continue
        ch = chr(c)
        hf = 0
        cl = clean.normalize_str("a" + ch + "b")
        if cl == "ab": hf |= DROP
        elif cl == "a b": hf |= SPACE
        parts = [w for w, _ in pre.pre_tokenize_str("a" + ch + "b")]
        if not hf & (DROP | SPACE):
            if len(parts) == 3: hf |= PUNCT
            elif len(parts) == 2: hf |= SPACE
        if cjk.normalize_str(ch) == " " + ch + " ": hf |= CJK
        d_hf = [ord(x) for x in nfd.normalize_str(ch)]
        if d_hf == [c] and strip.normalize_str(ch) == "": hf |= MN
        flags, delta = 0, 0
        k = kiln_class(c)
        d_k = kiln_nfd(c)
        decomposes = d_hf != [c] and d_hf == d_k
        if decomposes:
            # Only the pieces of a decomposed character are asked whether
            # they are marks, and what their combining class is.
            hf = (hf & ~MN) | (k & MN)
        if hf != k: flags |= FIX_CLASS
        lo = lower.normalize_str(ch)
        if len(lo) == 1 and ord(lo) != kiln_lower(c):
            flags |= FIX_LOWER
            delta = ord(lo) - c
        if d_hf != d_k:
            if d_hf == [c]: flags |= FIX_NODECOMP
            else: sys.exit(f"U+{c:04X}: tokenizers decomposes to {d_hf}, utf8proc to {d_k}: not handled")
        if kiln_ccc(c) != 0 and not decomposes:
            # Stability policy: a known combining class never changes, so the
            # only question is whether tokenizers knows the character at all.
            probe = "\u0334" if kiln_ccc(c) > 1 else None
            if probe:
                known = nfd.normalize_str("a" + ch + probe) == "a" + probe + ch
            else:
                known = nfd.normalize_str("a\u0301" + ch) == "a" + ch + "\u0301"
            if not known: flags |= FIX_ZERO_CCC
        if flags:
            fix[c] = (flags, hf if flags & FIX_CLASS else 0, delta)

    ranges = []
    for c in sorted(fix):
        f = fix[c]
        if ranges and ranges[-1][1] == c - 1 and ranges[-1][2] == f:
            ranges[-1][1] = c
        else:
            ranges.append([c, c, f])

    lines = [
        "/* Generated by scripts/make_tokenizer_unicode.py: do not edit.",
        f" * tokenizers {tokenizers.__version__} against utf8proc {lib.utf8proc_version().decode()} "
        f"(Unicode {lib.utf8proc_unicode_version().decode()}):",
        f" * {len(fix)} code points in {len(ranges)} ranges where Hugging Face's tables differ.",
        " * Fields: first, last, what to override (KILN_WP_FIX_*), the class there,",
        " * lowercase = code point + delta. */",
        "static const kiln_wp_fixup kiln_wp_fixups[] = {",
    ]
    for a, b, (flags, cls, delta) in ranges:
        lines.append(f"    {{0x{a:05X}, 0x{b:05X}, {flags}, {cls}, {delta}}},")
    lines.append("};")
    text = "\n".join(lines) + "\n"
    old = open(OUT).read() if os.path.exists(OUT) else ""
    if check:
        print("up to date" if old == text else "differs")
        sys.exit(0 if old == text else 1)
    open(OUT, "w").write(text)
    print(f"wrote {OUT}: {len(fix)} code points, {len(ranges)} ranges")


if __name__ == "__main__":
    main()
