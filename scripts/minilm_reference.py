#!/usr/bin/env python3
"""Reference sentence embeddings for kiln's agreement test, in float64.

    python3 scripts/minilm_reference.py MODEL_DIR TEXTS.txt OUT.npy

Writes float32 [N, hidden] to OUT.npy: for each line of TEXTS.txt (UTF-8,
one text per line, an empty line an empty text), the embedding that
sentence-transformers gives with all-MiniLM-L6-v2 (or any BERT of the same
layout): Hugging Face's fast tokenizer (tokenizer.json) truncating to
max_seq_length of sentence_bert_config.json (256), BertModel's forward,
mean pooling over the tokens, L2 normalization.

This is not sentence-transformers itself (that needs PyTorch): it replays
BertModel's arithmetic in numpy float64 from model.safetensors, with the
exact (erf) GELU, biased-variance LayerNorm and softmax(q k^T / sqrt(d)) v.
Needs: pip install numpy scipy tokenizers safetensors.
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def main():
    model_dir, texts_path, out_path = sys.argv[1:4]
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    max_len = 512
    st_cfg = os.path.join(model_dir, "sentence_bert_config.json")
    if os.path.exists(st_cfg):
        max_len = json.load(open(st_cfg)).get("max_seq_length", max_len)
    raw = load_file(os.path.join(model_dir, "model.safetensors"))
    w = {k[5:] if k.startswith("bert.") else k: v.astype(np.float64) for k, v in raw.items()}
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_len)

    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    d = H // nh
    eps = cfg.get("layer_norm_eps", 1e-12)
    assert cfg.get("hidden_act", "gelu") == "gelu"

    with open(texts_path, encoding="utf-8", newline="\n") as f:
        texts = f.read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()  # the file's last newline ends the last line
    out = np.zeros((len(texts), H), dtype=np.float32)
    for n, text in enumerate(texts):
        ids = np.array(tok.encode(text).ids)
        T = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:T]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            lin = lambda v, name: v @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            q = lin(x, "attention.self.query").reshape(T, nh, d).transpose(1, 0, 2)
            k = lin(x, "attention.self.key").reshape(T, nh, d).transpose(1, 0, 2)
            v = lin(x, "attention.self.value").reshape(T, nh, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / np.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 0, 2).reshape(T, H)
            x = layer_norm(lin(a, "attention.output.dense") + x,
                           w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"], eps)
            f = lin(x, "intermediate.dense")
            f = 0.5 * f * (1.0 + erf(f / np.sqrt(2.0)))
            x = layer_norm(lin(f, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                           w[p + "output.LayerNorm.bias"], eps)
        e = x.mean(0)
        out[n] = e / max(np.linalg.norm(e), 1e-12)
    np.save(out_path, out)
    print(f"{out_path}: {len(texts)} texts, dim {H}", file=sys.stderr)


if __name__ == "__main__":
    main()
