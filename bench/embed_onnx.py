#!/usr/bin/env python3
"""The ONNX Runtime side of bench/embed_bench.sh (CPU): the same model folder
exported from PyTorch (transformers' BertModel, torch.onnx.export, opset 17,
dynamic batch and length), run by ONNX Runtime with its BERT graph fusions,
Hugging Face's fast tokenizer in front and mean pooling + L2 in numpy behind,
on the cases of bench/embed_torch.py. One JSON object a line.

    python3 bench/embed_onnx.py --model DIR --corpus FILE [--threads N]
                                [--batch N] [--repeat N]

The export is cached beside the model (DIR/onnx/model.onnx and the fused
model.opt.onnx); a stale or missing one is made again. Needs torch,
transformers, onnx and onnxruntime (PyPI). The corpus runs length-sorted in
batches of --batch (default 32: ONNX Runtime's best on 2 cores in the
recorded anchors), each batch padded to its longest text, as
sentence-transformers does.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import onnxruntime as ort
from transformers import AutoTokenizer

from embed_torch import WORDS


def export(model_dir):
    """model.onnx (plain export) and model.opt.onnx (ORT's BERT fusions:
    attention, LayerNorm, GELU, bias adds) under model_dir/onnx."""
    import torch
    from transformers import AutoModel

    out_dir = os.path.join(model_dir, "onnx")
    plain = os.path.join(out_dir, "model.onnx")
    fused = os.path.join(out_dir, "model.opt.onnx")
    weights = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(fused) and os.path.getmtime(fused) >= os.path.getmtime(weights):
        return fused
    os.makedirs(out_dir, exist_ok=True)
    bert = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()

    class Hidden(torch.nn.Module):  # keyword arguments: forward's order moves between versions
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    model = Hidden()
    ids = torch.ones(2, 16, dtype=torch.int64)
    axes = {0: "batch", 1: "seq"}
    with torch.inference_mode():
        torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), plain,
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes,
                                        "token_type_ids": axes, "last_hidden_state": axes})
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = bert.config
    opt = optimize_model(plain, model_type="bert", num_heads=cfg.num_attention_heads,
                         hidden_size=cfg.hidden_size)
    opt.save_model_to_file(fused)
    return fused


class Embedder:
    def __init__(self, model_dir, threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(export(model_dir), so,
                                            providers=["CPUExecutionProvider"])
        self.tok = AutoTokenizer.from_pretrained(model_dir)

    def encode_ids(self, feats):
        mask = feats["attention_mask"]
        h = self.session.run(None, {"input_ids": feats["input_ids"], "attention_mask": mask,
                                    "token_type_ids": feats["token_type_ids"]})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def tokenize(self, texts):
        return dict(self.tok(texts, padding=True, truncation=True, max_length=256,
                             return_tensors="np"))

    def encode(self, texts):
        return self.encode_ids(self.tokenize(texts))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    e = Embedder(a.model, a.threads)

    def emit(d):
        d.update(device="cpu", dtype="f32", side="onnxruntime", ort=ort.__version__)
        print(json.dumps(d), flush=True)

    q = "How do I install the library on a fresh machine?"
    for _ in range(10):
        e.encode([q])
    ts = []
    for _ in range(100):
        t = time.perf_counter()
        e.encode([q])
        ts.append(time.perf_counter() - t)
    emit({"case": "latency", "median_ms": statistics.median(ts) * 1e3, "min_ms": min(ts) * 1e3})

    texts = [" ".join(WORDS[(b * 7 + w * 3 + w // 5) % 16] for w in range(126)) for b in range(128)]
    feats = e.tokenize(texts)
    assert feats["input_ids"].shape == (128, 128), feats["input_ids"].shape
    e.encode(texts)
    reps = max(1, a.repeat // 10)
    t = time.perf_counter()
    for _ in range(reps):
        e.encode(texts)
    s = (time.perf_counter() - t) / reps
    emit({"case": "b128x128", "ms_per_batch": s * 1e3, "texts_per_s": 128 / s})
    t = time.perf_counter()
    for _ in range(reps):
        e.encode_ids(feats)
    s = (time.perf_counter() - t) / reps
    emit({"case": "b128x128_model", "ms_per_batch": s * 1e3, "texts_per_s": 128 / s})

    with open(a.corpus, encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")[:-1]
    lengths = [len(x) for x in e.tok(lines, truncation=True, max_length=256)["input_ids"]]
    corpus = lines * max(1, a.repeat // 10)
    order = sorted(range(len(corpus)), key=lambda i: -len(corpus[i]))
    t = time.perf_counter()
    for i in range(0, len(order), a.batch):
        e.encode([corpus[j] for j in order[i:i + a.batch]])
    s = time.perf_counter() - t
    tokens = sum(lengths) * (len(corpus) // len(lines))
    emit({"case": "corpus", "texts": len(corpus), "tokens": tokens, "seconds": s,
          "texts_per_s": len(corpus) / s, "tokens_per_s": tokens / s})


if __name__ == "__main__":
    main()
