#!/usr/bin/env python3
"""The PyTorch side of kiln's benchmarks.

Times the cases of bench/cases.tsv with PyTorch, step for step the way
`kiln bench` times them (the method is written down in tools/measure.c; the
constants below are the same), and writes JSON that bench/report.py merges
with kiln's.

    python3 bench/torch_side.py --device cpu|cuda --json FILE [--filter S] [--quick] [--cases FILE]

Modes, per case class:
  small  back_to_back (eager ops issued back to back, one sync), synced (a
         sync after every op), and on CUDA graph (the ops captured in a
         torch.cuda.CUDAGraph and replayed).
  large  batches of ops back to back (about 2 ms of them, 1 to 64 ops):
         CUDA events around each batch on the GPU, wall time on the CPU;
         inputs rotated past the L2 on the GPU as kiln does. On CUDA,
         softmax and the norms also under torch.compile (mode "compile"; the
         ops with compile=True in OPS).
Ceilings (recorded under "ceilings"): a device-to-device copy (bytes read +
written) and a large bf16 and f32 GEMM (TF32 off).

Eager ops allocate their outputs (PyTorch's caching allocator makes that
cheap), as a PyTorch user's code does; kiln writes into a given output.
Attention: F.scaled_dot_product_attention on [B, H, S, D] views of kiln's
[B, S, H, D] tensors; the primary mode is PyTorch's own pick of backend,
and each backend is also timed forced (modes sdpa_flash, sdpa_cudnn,
sdpa_efficient, sdpa_math; on the CPU flash and math). attention_varlen's
sequences run padded to S with a key-padding mask, as a BERT batch does.
Fused kiln ops are compared with the composite a PyTorch user writes:
lora_linear with F.linear(x, w) + scale * F.linear(F.linear(x, a), b)
(unfused, eager and inside a CUDA graph), add_rms_norm with x + r then
F.rms_norm, swiglu with F.silu(g) * u, rope with the rotate-half form of
Hugging Face transformers, whose cos/sin tables are computed once, outside
the timed region (kiln computes its angles inside the op).
"""
import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time

import torch

from torch_cases import (DTYPES, OPS, SDPA_BACKENDS, default_cases_path, load_cases, make_set,
                         matches, timed_function)


@dataclasses.dataclass(frozen=True)
class Plan:
    warm_s: float
    small_repeats: int
    sample_s: float
    synced_max: int
    synced_s: float
    large_min_runs: int
    large_max_runs: int
    large_min_s: float
    large_cap_s: float


# The same numbers as tools/measure.c, in the same order.
FULL = Plan(0.2, 15, 0.02, 500, 0.5, 10, 50, 1.0, 10.0)
QUICK = Plan(0.05, 5, 0.005, 50, 0.05, 3, 5, 0.1, 1.0)
GRAPH_OPS, MIN_BATCH, MAX_BATCH = 100, 10, 20000
LARGE_BATCH_S, LARGE_BATCH_MAX = 0.002, 64
L2_BYTES, MAX_SETS = 50_000_000, 64


# ---------------------------------------------------------------- input sets

def sets_wanted(case, device):
    """tools/workload.c's rule: rotate past twice a 50 MB L2 on the GPU only."""
    if case.cls == "small" or device != "cuda":
        return 1
    return min(MAX_SETS, math.ceil(2 * L2_BYTES / case.bytes()))


def make_sets(case, device):
    """Up to sets_wanted sets; past the first, running out of memory just stops."""
    gen = torch.Generator().manual_seed(1234)
    sets = []
    for _ in range(sets_wanted(case, device)):
        try:
            sets.append(make_set(case, device, gen))
        except torch.OutOfMemoryError:
            if not sets:
                raise
            break
    return sets


# ------------------------------------------------------------------ timing

class Runner:
    """Issues the op on successive sets and waits, as workload_run and
    kiln_sync do."""

    def __init__(self, fn, sets, device):
        self.fn, self.sets, self.next = fn, sets, 0
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run(self):
        s = self.sets[self.next % len(self.sets)]
        self.next += 1
        return self.fn(*s)

    def batch(self, n):
        for _ in range(n):
            self.run()
        self.sync()


def summarise(samples_s, ops_per_sample):
    us = [s * 1e6 for s in samples_s]
    return {"median_us": statistics.median(us), "min_us": min(us), "max_us": max(us),
            "samples": len(us), "ops_per_sample": ops_per_sample}


def clamp(want, lo, hi):
    return lo if want < lo else hi if want > hi else int(want)


def warm_up(r, plan, small):
    batch, min_ops = (MIN_BATCH, 3) if small else (1, 1)
    start, done, per_op = time.perf_counter(), 0, 0.0
    while done < min_ops or time.perf_counter() - start < plan.warm_s:
        t = time.perf_counter()
        r.batch(batch)
        per_op = (time.perf_counter() - t) / batch
        done += batch
    return per_op


def back_to_back(r, plan, per_op):
    n = clamp(plan.sample_s / per_op if per_op > 0 else MAX_BATCH, MIN_BATCH, MAX_BATCH)
    samples = []
    for _ in range(plan.small_repeats):
        t = time.perf_counter()
        r.batch(n)
        samples.append((time.perf_counter() - t) / n)
    return summarise(samples, n)


def synced(r, plan):
    samples, start = [], time.perf_counter()
    while len(samples) < plan.synced_max and (
            len(samples) < MIN_BATCH or time.perf_counter() - start < plan.synced_s):
        t = time.perf_counter()
        r.batch(1)
        samples.append(time.perf_counter() - t)
    return summarise(samples, 1)


def cuda_graph(r, plan):
    """GRAPH_OPS ops in one CUDA graph, warmed up on a side stream first as
    torch.cuda.graphs requires; per-op time of K replays + one sync."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        r.batch(3)
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(GRAPH_OPS):
            r.run()
    t = time.perf_counter()
    g.replay()
    torch.cuda.synchronize()
    k = clamp(plan.sample_s / (time.perf_counter() - t), 1, 1000)
    samples = []
    for _ in range(plan.small_repeats):
        t = time.perf_counter()
        for _ in range(k):
            g.replay()
        torch.cuda.synchronize()
        samples.append((time.perf_counter() - t) / (k * GRAPH_OPS))
    return summarise(samples, k * GRAPH_OPS)


def timed_ops(r, device, n):
    """The time per op of n ops back to back: CUDA events around them on the
    GPU, wall time on the CPU."""
    if device != "cuda":
        t = time.perf_counter()
        r.batch(n)
        return (time.perf_counter() - t) / n
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(n):
        r.run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e-3 / n


def large(r, plan, device, warm_op_s):
    """measure.c's large(): an op slower than the cap on its own is timed
    once, its warm-up run being the sample."""
    samples, start = [], time.perf_counter()
    if warm_op_s >= plan.large_cap_s:
        samples.append(warm_op_s)
        start -= warm_op_s
    batch = clamp(LARGE_BATCH_S / warm_op_s if warm_op_s > 0 else LARGE_BATCH_MAX, 1,
                  LARGE_BATCH_MAX)
    while True:
        elapsed, n = time.perf_counter() - start, len(samples)
        enough = n >= plan.large_min_runs and elapsed >= plan.large_min_s
        if n >= plan.large_max_runs or enough or (n >= 1 and elapsed >= plan.large_cap_s):
            break
        samples.append(timed_ops(r, device, batch))
    return summarise(samples, batch)


def measure(case, fn, sets, plan, device):
    r = Runner(fn, sets, device)
    per_op = warm_up(r, plan, case.cls == "small")
    if case.cls != "small":
        return {"large": large(r, plan, device, per_op)}
    modes = {"back_to_back": back_to_back(r, plan, per_op), "synced": synced(r, plan)}
    if device == "cuda":
        modes["graph"] = cuda_graph(r, plan)
    return modes


def sdpa_backends(case, sets, plan, device, row):
    """The attention ops with each SDPA backend forced in turn (modes
    "sdpa_flash", "sdpa_cudnn", ...), so a report can name PyTorch's best
    for the shape; a backend that refuses the shape is noted, not fatal."""
    modes = {}
    for backend in SDPA_BACKENDS[device]:
        fn = timed_function(case, device, backend)
        try:
            fn(*sets[0])
            r = Runner(fn, sets, device)
            modes[f"sdpa_{backend}"] = large(r, plan, device, warm_up(r, plan, small=False))
        except (RuntimeError, torch.OutOfMemoryError) as e:
            row.setdefault("sdpa_errors", {})[backend] = f"{type(e).__name__}: {e}"[:300]
        if device == "cuda":
            torch.cuda.empty_cache()
    return modes


def compiled(case, sets, plan, device):
    """torch.compile of the same function, for the large norm/softmax cases
    on CUDA (compile=True in OPS), where a fused Triton kernel is PyTorch's
    best answer."""
    fn = torch.compile(timed_function(case, device), dynamic=False)
    for s in sets:  # compiles, and checks no set recompiles, before any timing
        fn(*s)
    r = Runner(fn, sets, device)
    return large(r, plan, device, warm_up(r, plan, small=False))


# --------------------------------------------------------------- per case

def rate(case, modes):
    primary = modes.get("back_to_back" if case.cls == "small" else "large")
    if not primary:
        return 0.0, 0.0
    seconds = primary["median_us"] * 1e-6
    if case.flops():
        return 0.0, case.flops() / seconds / 1e9
    return case.bytes() / seconds / 1e9, 0.0


def cpu_has_16bit_gemm_units(dtype):
    """Whether this CPU multiplies dtype natively. Without such units
    PyTorch's 16-bit GEMM falls back to a path near 0.2 GFLOP/s on large
    shapes (a 512x4096x4096 bf16 product took 110 s on a 2-core AVX2 CPU),
    so a 4096^3 one would take many minutes."""
    flags = {"bf16": ("avx512_bf16", "amx_bf16"), "f16": ("avx512_fp16", "amx_fp16")}[dtype]
    try:
        with open("/proc/cpuinfo") as fh:
            text = fh.read()
    except OSError:
        return False
    return any(f in text.split() for f in flags)


def run_case(case, plan, device):
    row = {"case": case.name, "op": case.op, "dtype": case.dtype, "shape": list(case.shape),
           "params": case.params_text, "class": case.cls, "state": "done", "note": "",
           "bytes": case.bytes(), "flops": case.flops(), "input_sets": 0,
           "primary": "back_to_back" if case.cls == "small" else "large", "modes": {}}
    if case.cls == "gpu" and device != "cuda":
        row.update(state="skipped", note="gpu class: run on CUDA only")
        return row
    slow = case.flops() and case.dtype != "f32" and case.cls != "small"
    if device == "cpu" and slow and not cpu_has_16bit_gemm_units(case.dtype):
        row.update(state="skipped", note=f"no {case.dtype} GEMM units on this CPU: PyTorch's "
                   "fallback would take minutes per op")
        return row
    try:
        sets = make_sets(case, device)
        row["input_sets"] = len(sets)
        row["modes"] = measure(case, timed_function(case, device), sets, plan, device)
        if OPS[case.op].sdpa and case.cls != "small":
            row["modes"].update(sdpa_backends(case, sets, plan, device, row))
        if device == "cuda" and case.cls != "small" and OPS[case.op].compile:
            try:
                row["modes"]["compile"] = compiled(case, sets, plan, device)
            except Exception as e:  # a compile failure must not lose the eager numbers
                row["compile_error"] = f"{type(e).__name__}: {e}"[:500]
    except (RuntimeError, torch.OutOfMemoryError) as e:
        row.update(state="failed", note=f"{type(e).__name__}: {e}"[:500])
    row["GBps"], row["GFLOPs"] = rate(case, row["modes"])
    return row


# ----------------------------------------------------------------- ceilings

def best_time(fn, device, runs, budget_s=5.0):
    """The shortest time of fn after one warm-up call, timed like a large
    case: `runs` samples, fewer (one at least) past budget_s. A ceiling is
    what the machine can do, so the best run, not the median, stands for it."""
    fn()
    r = Runner(fn, [()], device)
    samples, start = [], time.perf_counter()
    while not samples or (len(samples) < runs and time.perf_counter() - start < budget_s):
        samples.append(timed_ops(r, device, 1))
    return min(samples)


def copy_GBps(nbytes, device, runs):
    """Device-to-device copy, bytes read + written."""
    src = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    return 2 * nbytes / best_time(lambda: dst.copy_(src), device, runs) / 1e9


def gemm_GFLOPs(n, dtype, device, runs):
    a = torch.randn(n, n, device=device).to(DTYPES[dtype])
    b = torch.randn(n, n, device=device).to(DTYPES[dtype])
    return 2 * n**3 / best_time(lambda: a @ b, device, runs) / 1e9


def ceilings(device, quick):
    """The copy bandwidth and GEMM rates the cases are measured against.
    On CUDA: a 1 GiB copy and 8192^3 GEMMs, as in shared/anchors; on the CPU
    smaller sizes, which already dwarf its caches and take seconds each."""
    runs = 3 if quick else 10
    nbytes = (1 << 30) if device == "cuda" else (512 << 20)
    out = {"copy_bytes": nbytes, "copy_GBps": copy_GBps(nbytes, device, runs)}
    for tag in ("bf16", "f32"):
        # A CPU without bf16 units runs PyTorch's bf16 GEMM at ~1 GFLOP/s.
        n = 8192 if device == "cuda" else 4096 if tag == "f32" else 1024
        out[f"gemm_{tag}_n"] = n
        out[f"gemm_{tag}_GFLOPs"] = gemm_GFLOPs(n, tag, device, runs)
    return out


# ------------------------------------------------------------------- main

def describe(device):
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        return (f"torch {torch.__version__} cuda:0: {p.name}, sm_{p.major}{p.minor}, "
                f"{p.multi_processor_count} SMs, CUDA {torch.version.cuda}")
    return (f"torch {torch.__version__} cpu: {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}")


def configure(device, threads=0):
    """True f32 everywhere; on the CPU `threads` threads, by default every
    core, as kiln's OpenMP uses."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if device == "cpu":
        torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    elif not torch.cuda.is_available():
        sys.exit("torch_side: --device cuda, but torch sees no GPU")


def print_row(row):
    m = row["modes"].get(row["primary"])
    if row["state"] != "done" or not m:
        print(f"{row['case']:<32} {row['class']:<5}  {row['state']}: {row['note']}", flush=True)
        return
    extra = "  ".join(f"{k} {v['median_us']:.1f}" for k, v in row["modes"].items() if k != row["primary"])
    speed = f"{row['GFLOPs']:.1f} GFLOP/s" if row["flops"] else f"{row['GBps']:.1f} GB/s"
    print(f"{row['case']:<32} {row['class']:<5}  {m['median_us']:.1f} us "
          f"({m['min_us']:.1f}-{m['max_us']:.1f})  {speed}  {extra}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), required=True)
    ap.add_argument("--json", required=True, help="write every number here")
    ap.add_argument("--cases", default=default_cases_path())
    ap.add_argument("--filter", default="", help="substring of a case name, or a class")
    ap.add_argument("--quick", action="store_true", help="fewer repeats: a smoke test")
    ap.add_argument("--no-ceilings", action="store_true", help="skip the copy/GEMM ceilings")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads (default: every core; match OMP_NUM_THREADS given to kiln)")
    args = ap.parse_args()

    configure(args.device, args.threads)
    plan = QUICK if args.quick else FULL
    cases = [c for c in load_cases(args.cases) if matches(c, args.filter)]
    if not cases:
        sys.exit(f"torch_side: no case matches --filter {args.filter}")
    print(describe(args.device), flush=True)
    result = {"tool": "torch", "version": torch.__version__, "device": args.device,
              "description": describe(args.device), "cases_file": args.cases,
              "filter": args.filter, "quick": args.quick, "results": []}
    for case in cases:
        row = run_case(case, plan, args.device)
        print_row(row)
        result["results"].append(row)
        if args.device == "cuda":
            torch.cuda.empty_cache()  # the next case's sets start from free memory
    if not args.no_ceilings:
        result["ceilings"] = ceilings(args.device, args.quick)
        print("ceilings:", json.dumps(result["ceilings"]), flush=True)
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=1)
    return 1 if any(r["state"] == "failed" for r in result["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
