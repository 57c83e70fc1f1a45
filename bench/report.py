#!/usr/bin/env python3
"""Merges `kiln bench --json` and bench/torch_side.py output into a report.

    python3 bench/report.py --kiln k.json [--torch t.json] [--ceilings c.json]
                            [--agree a.json] --out DIR

--kiln and --torch may be repeated, one file per round of a side: the
report keeps each case's best round (see best_of_rounds).

writes DIR/report.md (tables), DIR/report.json (the merged rows) and, when
matplotlib is importable, DIR/speedup.png and DIR/bandwidth.png.

Ceilings come from --ceilings (a JSON object, or one with a "ceilings" key),
else from the torch JSON. Agreement (--agree, from bench/agree.py) is each
side's largest error against a float64 reference.
"""
import argparse
import json
import os
import sys

SMALL_MODES = ("back_to_back", "synced", "graph")


def load(path):
    with open(path) as fh:
        return json.load(fh)


def best_of_rounds(docs):
    """One document from several rounds of the same side: each mode of each
    case keeps the round with the lowest median, and each ceiling the
    highest. Contention on a shared machine only ever adds time, so the best
    round is the closest to the machine's own speed; cpu_compare.sh
    alternates the two sides' rounds so both meet the same contention."""
    if len(docs) == 1:
        return docs[0]
    merged = dict(docs[0], rounds=len(docs), results=[])
    for row in docs[0]["results"]:
        done = [r for d in docs for r in d["results"] if r["case"] == row["case"] and r["state"] == "done"]
        best = dict(row)
        if done:
            best.update(state="done", note="", modes={})
            for r in done:
                for mode, m in r["modes"].items():
                    if mode not in best["modes"] or m["median_us"] < best["modes"][mode]["median_us"]:
                        best["modes"][mode] = m
        merged["results"].append(best)
    ceilings = [d["ceilings"] for d in docs if d.get("ceilings")]
    if ceilings:
        merged["ceilings"] = {k: max(c.get(k, 0) for c in ceilings) for k in ceilings[0]}
    return merged


def by_case(doc):
    return {r["case"]: r for r in (doc or {}).get("results", [])}


def median(row, mode):
    """A mode's median in µs, or None when that side has no such number."""
    if not row or row.get("state") != "done":
        return None
    m = row["modes"].get(mode)
    return m["median_us"] if m else None


def primary(row):
    return median(row, row["primary"]) if row else None


def is_gemm(row):
    """matmul and lora_linear: rows with a flop count, rated in FLOP/s."""
    return bool(row.get("flops"))


def rate_of(row, us):
    """GB/s for the bandwidth ops, GFLOP/s for matmul and lora_linear, at time us."""
    if us is None:
        return None
    work = row["flops"] if is_gemm(row) else row["bytes"]
    return work / (us * 1e-6) / 1e9


def ceiling_fraction(row, us, ceilings):
    """The op's rate as a fraction of what bounds it, and which bound:
    bandwidth ops against the copy bandwidth; matmul and lora_linear against the
    GEMM rate of its dtype (for 16-bit, the better of that and f32, since
    converting to f32 is always possible) or, when that is the closer bound
    (thin products like 1x4096x4096), the copy bandwidth."""
    if not ceilings or us is None:
        return None, None
    seconds = us * 1e-6
    bw = ceilings.get("copy_GBps")
    bw_frac = row["bytes"] / seconds / 1e9 / bw if bw else None
    if not is_gemm(row):
        return bw_frac, "bw"
    rates = [r for r in (ceilings.get(f"gemm_{row['dtype']}_GFLOPs"), ceilings.get("gemm_f32_GFLOPs")) if r]
    flop_frac = row["flops"] / seconds / 1e9 / max(rates) if rates else None
    if flop_frac is None or (bw_frac is not None and bw_frac > flop_frac):
        return bw_frac, "bw"
    return flop_frac, "flops"


def raise_ceilings(ceilings, docs):
    """A ceiling below a rate some case reached (a CPU GEMM ceiling timed by
    PyTorch while kiln's BLAS is faster, or a copy slowed by a busy
    machine) is raised to that rate, so no case reads over 100%."""
    if not ceilings:
        return ceilings
    raised = dict(ceilings, raised=[])
    for doc in docs:
        for r in doc["results"]:
            us = primary(r)
            if us is None or r["class"] == "small":
                continue
            key = f"gemm_{r['dtype']}_GFLOPs" if is_gemm(r) else "copy_GBps"
            rate = rate_of(r, us)
            if key in raised and rate > raised[key]:
                raised[key] = rate
                raised["raised"].append(key)
    raised["raised"] = sorted(set(raised["raised"]))
    return raised


def fmt_time(us):
    if us is None:
        return "—"
    if us < 1000:
        return f"{us:.3g} µs" if us < 100 else f"{us:.0f} µs"
    if us < 1e6:
        return f"{us / 1e3:.3g} ms"
    return f"{us / 1e6:.3g} s"


def fmt_rate(row, rate):
    if rate is None:
        return ""
    if is_gemm(row):
        return f"{rate / 1e3:.3g} TFLOP/s" if rate >= 1e3 else f"{rate:.3g} GFLOP/s"
    return f"{rate / 1e3:.3g} TB/s" if rate >= 1e3 else f"{rate:.3g} GB/s"


def cell(row, us):
    """'12.3 µs · 85 GB/s' for large cases, where the rate is the point;
    small cases are launch-bound and show time alone."""
    if us is None:
        return "—"
    if row["class"] == "small":
        return fmt_time(us)
    return f"{fmt_time(us)} · {fmt_rate(row, rate_of(row, us))}"


def ratio(num, den):
    return num / den if num is not None and den else None


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def merge_row(k, t, ceilings, agree):
    """Every number the report shows for one case, in one flat dict."""
    small = k["class"] == "small"
    row = {"case": k["case"], "op": k["op"], "dtype": k["dtype"], "shape": k["shape"],
           "class": k["class"], "bytes": k["bytes"], "flops": k["flops"],
           "kiln_state": k["state"], "kiln_note": k.get("note", ""),
           "torch_state": t["state"] if t else "absent",
           "kiln_us": primary(k), "torch_eager_us": primary(t),
           "kiln_graph_us": median(k, "graph") if small else None,
           "torch_graph_us": median(t, "graph") if small else None,
           "torch_compile_us": median(t, "compile"),
           "compile_error": (t or {}).get("compile_error"),
           "torch_sdpa_us": {m[len("sdpa_"):]: median(t, m) for m in (t or {}).get("modes", {})
                             if m.startswith("sdpa_")},
           "sdpa_errors": (t or {}).get("sdpa_errors", {})}
    best = [us for us in list(row["torch_sdpa_us"].values()) + [row["torch_eager_us"]] if us]
    row["torch_best_us"] = min(best) if row["torch_sdpa_us"] and best else None
    for side, r in (("kiln", k), ("torch", t)):
        for mode in SMALL_MODES:
            row[f"{side}_{mode}_us"] = median(r, mode) if small else None
    row["ratio"] = ratio(row["torch_eager_us"], row["kiln_us"])
    row["graph_ratio"] = ratio(row["torch_graph_us"], row["kiln_graph_us"])
    for side, us in (("kiln", row["kiln_us"]), ("torch", row["torch_eager_us"])):
        row[f"{side}_rate"] = rate_of(k, us)
        frac, bound = ceiling_fraction(k, us, ceilings) if not small else (None, None)
        row[f"{side}_pct_ceiling"] = 100 * frac if frac is not None else None
        row[f"{side}_bound"] = bound
    row["agreement"] = (agree or {}).get(k["case"])
    return row


def fmt_pct(row):
    if row["kiln_pct_ceiling"] is None:
        return "—"
    text = f"{row['kiln_pct_ceiling']:.0f}%"
    if is_gemm(row):
        text += " of copy" if row["kiln_bound"] == "bw" else " of GEMM"
    if row["torch_pct_ceiling"] is not None:
        text += f" (torch {row['torch_pct_ceiling']:.0f}%)"
    return text


def fmt_agree(a):
    """The largest error relative to the reference's largest magnitude."""
    if not a:
        return "—"
    text = f"kiln {a['kiln_rel']:.1e}"
    if a.get("torch_rel") is not None:
        text += f", torch {a['torch_rel']:.1e}"
    return text


def kiln_cell(row):
    if row["kiln_state"] != "done":
        return f"{row['kiln_state']}"
    return cell(row, row["kiln_us"])


MAIN_HEAD = ("case", "kiln", "kiln graph", "PyTorch eager", "PyTorch graph", "torch.compile",
             "torch/kiln", "graph torch/kiln", "% of ceiling", "agreement")


def main_line(row):
    return (f"`{row['case']}`", kiln_cell(row), fmt_time(row["kiln_graph_us"]),
            cell(row, row["torch_eager_us"]), fmt_time(row["torch_graph_us"]),
            cell(row, row["torch_compile_us"]), fmt_ratio(row["ratio"]),
            fmt_ratio(row["graph_ratio"]), fmt_pct(row), fmt_agree(row["agreement"]))


def small_line(row):
    return (f"`{row['case']}`",) + tuple(
        fmt_time(row[f"{side}_{mode}_us"]) for side in ("kiln", "torch") for mode in SMALL_MODES)


def table(head, lines):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def preamble(kiln, torch_doc, ceilings):
    def how(doc, *tags):
        tags += ("--quick",) if doc.get("quick") else ()
        tags += (f"best of {doc['rounds']} rounds",) if doc.get("rounds") else ()
        return f" ({', '.join(tags)})" if tags else ""

    lines = ["# kiln vs PyTorch", "",
             f"- kiln: {kiln.get('description', '?')}{how(kiln, 'kiln ' + kiln.get('version', '?'))}"]
    if torch_doc:
        lines.append(f"- PyTorch: {torch_doc.get('description', '?')}{how(torch_doc)}")
    if ceilings:
        gemm, copy = {"flops": 1}, {"flops": 0}
        parts = [f"copy {fmt_rate(copy, ceilings['copy_GBps'])} (read + write)"] if "copy_GBps" in ceilings else []
        parts += [f"{t} GEMM {fmt_rate(gemm, ceilings[f'gemm_{t}_GFLOPs'])}"
                  for t in ("bf16", "f32") if f"gemm_{t}_GFLOPs" in ceilings]
        lines.append("- ceilings (best of several runs): " + ", ".join(parts))
        if ceilings.get("raised"):
            lines.append(f"  (raised to the best rate a case reached: {', '.join(ceilings['raised'])})")
    lines += ["",
              "Times are medians per op (method: tools/measure.c). Small cases: ops issued back "
              "to back with one sync (graph: replayed inside a captured graph); large cases: "
              "batches of about 2 ms of ops back to back, one sync (PyTorch: CUDA events around "
              "the batch), rates at the median. torch/kiln > 1 means kiln is faster. "
              "% of ceiling: the rate against the copy bandwidth (bandwidth ops: bytes of each "
              "input read and each output written once) or the GEMM rate (matmul, lora_linear; "
              "for 16-bit, the better of its own and f32), or for thin products the copy "
              "bandwidth when that is the closer bound. Agreement: "
              "largest |out − ref| / largest |ref|, ref computed in float64.", ""]
    return lines


SDPA_ORDER = ("flash", "cudnn", "efficient", "math")


def sdpa_line(row):
    """An attention case against every SDPA backend PyTorch has here."""
    cells = []
    for b in SDPA_ORDER:
        us = row["torch_sdpa_us"].get(b)
        cells.append(cell(row, us) if us else ("n/a" if b in row["sdpa_errors"] else "—"))
    return ((f"`{row['case']}`", kiln_cell(row), cell(row, row["torch_eager_us"])) + tuple(cells)
            + (fmt_ratio(ratio(row["torch_best_us"], row["kiln_us"])),))


def markdown(kiln, torch_doc, ceilings, rows):
    lines = preamble(kiln, torch_doc, ceilings)
    lines += [table(MAIN_HEAD, [main_line(r) for r in rows]), ""]
    attn = [r for r in rows if r["torch_sdpa_us"]]
    if attn:
        head = ("case", "kiln", "SDPA (PyTorch's pick)") + tuple(f"SDPA {b}" for b in SDPA_ORDER) \
            + ("best torch / kiln",)
        lines += ["## Attention against each SDPA backend", "",
                  "PyTorch's scaled_dot_product_attention with each backend forced (n/a: the "
                  "backend refused the shape); best torch / kiln compares kiln with the fastest "
                  "of them. attention_varlen: PyTorch runs the same sequences padded to S with a "
                  "key-padding mask.", "", table(head, [sdpa_line(r) for r in attn]), ""]
    small = [r for r in rows if r["class"] == "small" and r["kiln_state"] == "done"]
    if small:
        head = ("case",) + tuple(f"{s} {m.replace('_', ' ')}" for s in ("kiln", "PyTorch")
                                 for m in SMALL_MODES)
        lines += ["## Small cases, every mode", "",
                  "back to back: N ops then one sync, per op; synced: a sync after every op; "
                  "graph: per op inside a replayed graph of 100 ops.", "",
                  table(head, [small_line(r) for r in small]), ""]
    notes = [f"- `{r['case']}`: kiln {r['kiln_state']}: {r['kiln_note']}"
             for r in rows if r["kiln_state"] not in ("done",)]
    notes += [f"- `{r['case']}`: torch.compile failed: {r['compile_error']}"
              for r in rows if r["compile_error"]]
    if notes:
        lines += ["## Not measured", ""] + notes + [""]
    return "\n".join(lines)


def plots(rows, ceilings, out_dir):
    """Speedup per case, and achieved bandwidth against row length; written
    only when matplotlib is importable, since the tables carry every number."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib not importable; no plots", file=sys.stderr)
        return []
    written = []
    measured = [r for r in rows if r["ratio"]]
    if measured:
        fig, ax = plt.subplots(figsize=(8, 0.32 * len(measured) + 1.2))
        colors = ["tab:blue" if r["class"] == "small" else "tab:orange" for r in measured]
        ax.barh([r["case"] for r in measured], [r["ratio"] for r in measured], color=colors)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("PyTorch time / kiln time (> 1: kiln faster); blue small, orange large")
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, "speedup.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    bandwidth = [r for r in rows if not is_gemm(r) and r["class"] != "small" and r["kiln_rate"]]
    if bandwidth:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ops = sorted({r["op"] for r in bandwidth})
        for op, marker in zip(ops, "osD^v<>pP*Xh"):
            for dtype, fill in (("f32", "full"), ("bf16", "none"), ("f16", "left")):
                pts = sorted(((r["shape"][-1], r) for r in bandwidth if r["op"] == op and r["dtype"] == dtype),
                             key=lambda pt: pt[0])
                for side, color in (("kiln", "tab:blue"), ("torch", "tab:red")):
                    xs = [h for h, r in pts if r[f"{side}_rate"]]
                    ys = [r[f"{side}_rate"] for h, r in pts if r[f"{side}_rate"]]
                    if xs:
                        ax.plot(xs, ys, marker=marker, fillstyle=fill, color=color, linestyle=":",
                                label=f"{side} {op} {dtype}")
        if ceilings and ceilings.get("copy_GBps"):
            ax.axhline(ceilings["copy_GBps"], color="gray", linestyle="--", label="copy ceiling")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("row length (last dim)")
        ax.set_ylabel("GB/s (bytes read + written once)")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = os.path.join(out_dir, "bandwidth.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kiln", required=True, action="append",
                    help="kiln bench --json output; repeat for rounds (best of them is shown)")
    ap.add_argument("--torch", action="append", help="torch_side.py output; repeatable likewise")
    ap.add_argument("--ceilings")
    ap.add_argument("--agree", help="bench/agree.py output")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    kiln = best_of_rounds([load(p) for p in args.kiln])
    torch_doc = best_of_rounds([load(p) for p in args.torch]) if args.torch else None
    ceilings = load(args.ceilings) if args.ceilings else (torch_doc or {}).get("ceilings")
    if ceilings and "ceilings" in ceilings:
        ceilings = ceilings["ceilings"]
    ceilings = raise_ceilings(ceilings, [kiln] + ([torch_doc] if torch_doc else []))
    agree = load(args.agree)["cases"] if args.agree else None
    torch_rows = by_case(torch_doc)
    rows = [merge_row(k, torch_rows.get(k["case"]), ceilings, agree)
            for k in kiln["results"] if k["state"] != "skipped" or k["class"] != "gpu"]

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.md"), "w") as fh:
        fh.write(markdown(kiln, torch_doc, ceilings, rows))
    merged = {"kiln": {k: v for k, v in kiln.items() if k != "results"},
              "torch": {k: v for k, v in (torch_doc or {}).items() if k != "results"},
              "ceilings": ceilings, "rows": rows}
    with open(os.path.join(args.out, "report.json"), "w") as fh:
        json.dump(merged, fh, indent=1)
    for path in plots(rows, ceilings, args.out):
        print("wrote", path)
    print("wrote", os.path.join(args.out, "report.md"))


if __name__ == "__main__":
    main()
