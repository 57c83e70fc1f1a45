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


def faster(theirs_ms, kiln_ms):
    """kiln's latency against another's, said the way round it is."""
    if theirs_ms >= kiln_ms:
        return f"{theirs_ms / kiln_ms:.1f}x faster"
    return f"{kiln_ms / theirs_ms:.1f}x slower"


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
                ratio = faster(tv, kv) if t else "-"
                os_ = f"{o['median_ms']:.3f} ms" if o else "-"
                oratio = faster(o["median_ms"], kv) if o else "-"
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


def rate(row):
    """Texts per second of a result line (latency: one text per call)."""
    return 1e3 / row["median_ms"] if "median_ms" in row else row["texts_per_s"]


def plot(kiln, sides, device, path):
    """Bars of each side's throughput relative to PyTorch (1 = PyTorch), per
    case and dtype; False when matplotlib is missing or nothing compares."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels, bars = [], {name: [] for name in ["kiln"] + [n for n, _ in sides[1:]]}
    torch = sides[0][1]
    for k in kiln:
        t = pick(torch, k["case"], k["dtype"])
        if not t:
            continue
        labels.append(f"{k['case']} {k['dtype']}")
        bars["kiln"].append(rate(k) / rate(t))
        for name, rows in sides[1:]:
            o = pick(rows, k["case"], k["dtype"])
            bars[name].append(rate(o) / rate(t) if o else 0.0)
    if not labels:
        return False
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(labels) + 1.5))
    h = 0.8 / len(bars)
    for i, (name, vals) in enumerate(bars.items()):
        ax.barh([y + i * h for y in range(len(labels))], vals, height=h, label=name)
    ax.axvline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_yticks([y + 0.4 - h / 2 for y in range(len(labels))], labels)
    ax.set_xlabel("throughput relative to sentence-transformers on PyTorch (1 = PyTorch)")
    ax.set_title(f"all-MiniLM-L6-v2, text to vector, {device}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


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
    png = os.path.join(res, "embed.png")
    if plot(kiln, [("torch", torch), ("onnxruntime", onnx)], device, png):
        body += [f"![kiln and ONNX Runtime against PyTorch]({os.path.relpath(png, os.path.dirname(bench_md) or '.')})", ""]
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
