#!/usr/bin/env python3
"""kiln's sentence embeddings against sentence-transformers' on the same model
folder and texts: the cosine of every pair, its minimum and where it is.

    python3 bench/embed_agree.py --model DIR --corpus FILE KILN.npy [KILN.npy ...]

Each .npy is `kiln embed`'s output for the corpus (one text a line). The
reference is sentence-transformers in float32 on the GPU when there is one.
"""
import argparse

import numpy as np
import torch
from sentence_transformers import SentenceTransformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("npy", nargs="+")
    a = ap.parse_args()
    texts = open(a.corpus, encoding="utf-8").read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    st = SentenceTransformer(a.model, device=dev).float()
    ref = st.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    for path in a.npy:
        got = np.load(path).astype(np.float64)
        if got.shape != ref.shape:
            print(f"{path}: shape {got.shape}, reference {ref.shape}: MISMATCH")
            continue
        cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
        i = int(np.argmin(cos))
        print(f"{path}: {len(texts)} texts, cosine min {cos[i]:.7f} (text {i}: {texts[i][:40]!r}), "
              f"mean {cos.mean():.7f}")


if __name__ == "__main__":
    main()
