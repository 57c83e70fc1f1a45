#!/usr/bin/env python3
"""The PyTorch side of bench/embed_bench.sh: sentence-transformers on the same
model folder and the same cases as kiln_embed_bench, one JSON object a line.

    python3 bench/embed_torch.py --model DIR --corpus FILE [--device cpu|cuda]
                                 [--dtype f32|f16] [--repeat N] [--threads N]

Cases (text -> L2-normalized vector, tokenization included, as kiln's):
  latency   one short text per call: median and min ms
  b128x128  128 texts of exactly 128 tokens per call (b128x128_model: the
            transformer alone on those ids)
  corpus    the file's lines repeated, batch 128, length-sorted by
            sentence-transformers itself: texts/s, tokens/s
f16 on the GPU uses SDPA (transformers' default attention), as issue #12 asks.
Needs torch and sentence-transformers (the GPU machine has both).
"""
import argparse
import json
import statistics
import time

import torch
from sentence_transformers import SentenceTransformer

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog",
         "ran", "to", "house", "with", "red", "door", "in", "city"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = a.device
    dtype = a.dtype or ("f16" if dev == "cuda" else "f32")
    # Explicit in both: transformers loads a checkpoint in its stored dtype
    # otherwise (an fp16 copy would run "f32" in fp16).
    kwargs = {"torch_dtype": torch.float16 if dtype == "f16" else torch.float32}
    m = SentenceTransformer(a.model, device=dev, model_kwargs=kwargs)
    m.max_seq_length = 256

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    def emit(d):
        d.update(device=dev, dtype=dtype, side="torch")
        print(json.dumps(d), flush=True)

    q = "How do I install the library on a fresh machine?"
    for _ in range(20):
        m.encode([q], normalize_embeddings=True)
    ts = []
    for _ in range(200):
        t = time.perf_counter()
        m.encode([q], normalize_embeddings=True)
        ts.append(time.perf_counter() - t)
    emit({"case": "latency", "median_ms": statistics.median(ts) * 1e3, "min_ms": min(ts) * 1e3})

    texts = [" ".join(WORDS[(b * 7 + w * 3 + w // 5) % 16] for w in range(126)) for b in range(128)]
    for _ in range(3):
        m.encode(texts, batch_size=128, normalize_embeddings=True)
    sync()
    t = time.perf_counter()
    for _ in range(a.repeat):
        m.encode(texts, batch_size=128, normalize_embeddings=True)
    sync()
    s = (time.perf_counter() - t) / a.repeat
    emit({"case": "b128x128", "ms_per_batch": s * 1e3, "texts_per_s": 128 / s})

    feats = m.tokenize(texts)
    feats = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in feats.items()}  # (and text fields)
    assert feats["input_ids"].shape == (128, 128), feats["input_ids"].shape
    with torch.inference_mode():
        for _ in range(3):
            m(feats)
        sync()
        t = time.perf_counter()
        for _ in range(a.repeat):
            m(feats)
        sync()
    s = (time.perf_counter() - t) / a.repeat
    emit({"case": "b128x128_model", "ms_per_batch": s * 1e3, "texts_per_s": 128 / s})

    with open(a.corpus, encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")[:-1]
    corpus = lines * a.repeat
    tokens = sum(len(x) for x in m.tokenizer(lines, truncation=True, max_length=256)["input_ids"])
    m.encode(lines, batch_size=128, normalize_embeddings=True)
    sync()
    t = time.perf_counter()
    m.encode(corpus, batch_size=128, normalize_embeddings=True)
    sync()
    s = time.perf_counter() - t
    emit({"case": "corpus", "texts": len(corpus), "tokens": tokens * a.repeat, "seconds": s,
          "texts_per_s": len(corpus) / s, "tokens_per_s": tokens * a.repeat / s})


if __name__ == "__main__":
    main()
