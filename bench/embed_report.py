#!/usr/bin/env python3
"""Turns bench/embed_bench.sh's JSON lines into a table (report.md in the
results folder) and puts it into BENCHMARKS.md between the markers
<!-- embed-bench:DEVICE begin --> and <!-- embed-bench:DEVICE end -->
(appending a section with them the first time).

    python3 bench/embed_report.py RESULTS_DIR BENCHMARKS.md
"""
import json
import os
import sys

# Recorded in /work/shared/anchors/minilm-cpu-2core-2026-11-30.txt: 2-core
# EPYC VM, sentence-transformers 6.2 on PyTorch 2.15 CPU (2 threads) and
# ONNX Runtime 1.32 (2 intra-op threads), all-MiniLM-L6-v2, on a held-out
# set of 228 texts of the same kinds as tests/data/embed_texts.txt.
CPU_ANCHORS = {
    "torch_b32_sorted": 71.6,   # sentence-transformers, batch 32 (it sorts by length)
    "torch_b1": 40.5,           # batch 1, first 100 texts
    "ort_b32_sorted": 96.9,
    "ort_b1": 110.5,
}

SECTION = """
## Sentence embeddings, end to end (`bench/embed_bench.sh`)

all-MiniLM-L6-v2, text in, L2-normalized float32 vector out, tokenization
included on both sides: kiln's `kiln_embedder` (varlen batches of a token
budget, graphs on the GPU) against sentence-transformers on PyTorch in the
same run. Cases: one short text (12 tokens) per call; 128 texts of exactly
128 tokens per call (and the transformer alone on the same ids); a corpus of
real mixed-length texts (`tests/data/embed_texts.txt`, 235 texts of 3-256
tokens, repeated 20 times). On the CPU both sides get 2 cores.
"""


def load(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(l) for l in f if l.strip().startswith("{")]
    return rows


def pick(rows, case, dtype):
    for r in rows:
        if r["case"] == case and r["dtype"] == dtype:
            return r
    return None


def table(kiln, torch, onnx, device):
    out = ["| case | dtype | kiln | sentence-transformers | kiln vs PyTorch | ONNX Runtime "
           "| kiln vs ORT | goal (#12) |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    goals = {
        ("cuda", "latency"): "<= 0.25 ms",
        ("cuda", "b128x128"): ">= 2x",
        ("cuda", "corpus"): ">= 2.5x",
        ("cpu", "corpus"): ">= 1.5x PyTorch, >= ONNX Runtime",
    }
    dtypes = sorted({r["dtype"] for r in kiln}, key=lambda d: {"f16": 0, "bf16": 1, "f32": 2}[d])
    for dt in dtypes:
        for case, unit in (("latency", "ms"), ("b128x128", "texts/s"), ("b128x128_model", "texts/s"),
                           ("corpus", "texts/s")):
            k = pick(kiln, case, dt)
            if not k:
                continue
            t = pick(torch, case, dt)
            o = pick(onnx, case, dt)
            goal = goals.get((device, case), "")
            if case == "latency":
                kv, tv = k["median_ms"], t["median_ms"] if t else None
                ks, ts = f"{kv:.3f} ms", f"{tv:.3f} ms" if t else "-"
                ratio = f"{tv / kv:.1f}x faster" if t else "-"
                os_ = f"{o['median_ms']:.3f} ms" if o else "-"
                oratio = f"{o['median_ms'] / kv:.1f}x faster" if o else "-"
            else:
                kv, tv = k["texts_per_s"], t["texts_per_s"] if t else None
                ks = f"{kv:,.0f} texts/s"
                if case == "corpus":
                    ks += f" ({k['tokens_per_s']:,.0f} tok/s)"
                ts = f"{tv:,.0f} texts/s" if t else "-"
                ratio = f"{kv / tv:.2f}x" if t else "-"
                os_ = f"{o['texts_per_s']:,.0f} texts/s" if o else "-"
                oratio = f"{kv / o['texts_per_s']:.2f}x" if o else "-"
            if not t and device == "cpu" and case == "corpus":
                a = CPU_ANCHORS
                ts = (f"anchor: {a['torch_b32_sorted']} texts/s (ONNX Runtime "
                      f"{a['ort_b32_sorted']})")
                ratio = (f"{kv / a['torch_b32_sorted']:.2f}x PyTorch, "
                         f"{kv / a['ort_b32_sorted']:.2f}x ORT (anchor)")
            label = {"latency": "1 short text", "b128x128": "128 x 128 tokens",
                     "b128x128_model": "128 x 128, model only",
                     "corpus": "real corpus"}[case]
            out.append(f"| {label} | {dt} | {ks} | {ts} | {ratio} | {os_} | {oratio} | {goal} |")
    return "\n".join(out)


def main():
    res, bench_md = sys.argv[1:3]
    kiln = load(os.path.join(res, "kiln.jsonl"))
    torch = load(os.path.join(res, "torch.jsonl"))
    onnx = load(os.path.join(res, "onnx.jsonl"))
    if not kiln:
        sys.exit(f"embed_report.py: no kiln results in {res}")
    device = kiln[0]["device"]
    env = open(os.path.join(res, "environment.txt")).read().strip() if os.path.exists(
        os.path.join(res, "environment.txt")) else ""
    note = open(os.path.join(res, "note.txt")).read().strip() if os.path.exists(
        os.path.join(res, "note.txt")) else ""
    body = [f"### {device.upper()} ({os.path.basename(res)})", "", table(kiln, torch, onnx, device), ""]
    if note:
        body += ["Notes: " + " ".join(note.split("\n")), ""]
    if env:
        body += ["```", env, "```", ""]
    text = "\n".join(body)
    with open(os.path.join(res, "report.md"), "w") as f:
        f.write(text)
    begin, end = f"<!-- embed-bench:{device} begin -->", f"<!-- embed-bench:{device} end -->"
    md = open(bench_md).read() if os.path.exists(bench_md) else "# Benchmarks\n"
    if "## Sentence embeddings, end to end" not in md:
        md = md.rstrip("\n") + "\n" + SECTION
    if begin not in md:
        md = md.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    a, b = md.index(begin) + len(begin), md.index(end)
    md = md[:a] + "\n" + text + md[b:]
    with open(bench_md, "w") as f:
        f.write(md)


if __name__ == "__main__":
    main()
