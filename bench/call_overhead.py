#!/usr/bin/env python3
"""Per-call overhead of kiln from Python: a small op called in a loop from
Python against the same call from C (bench/call_overhead.c, built here
against the installed wheel's own libkiln), and PyTorch eager's cost for
the same op when torch is importable.

    python bench/call_overhead.py [--device cpu|cuda] [--calls N] [--samples S]

Run it with the Python that has kiln installed (scripts/python_test.sh
makes one in build-python/venv). Method: each sample is N calls back to
back and one sync; the median over S samples, after one warm-up sample, in
wall time and in the calling thread's CPU time (on a shared machine, the
second leaves out time spent waiting for a core: run with OMP_NUM_THREADS=1
so the op's work stays on that thread). All times in ns per call.
"out" passes out= (the C side writes a tensor made once); "alloc" lets the
op make its output (the C side creates and destroys one per call)."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import kiln

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# op: (shapes of x, w, out), the Python call with out=, without out=
OPS = {
    "scale": (((1, 64), None), "f(x, 2.0, out=y)", "f(x, 2.0)"),
    "add": (((1, 64), (64,)), "f(x, w, out=y)", "f(x, w)"),
    "softmax": (((1, 128), None), "f(x, out=y)", "f(x)"),
    "rms_norm": (((1, 128), (128,)), "f(x, w, eps=1e-6, out=y)", "f(x, w, eps=1e-6)"),
    "matmul": (((8, 8), (8, 8)), "f(x, w, out=y)", "f(x, w)"),
}

TORCH = {  # the same op in PyTorch eager (out= where torch has it)
    "scale": ("torch.mul(x, 2.0, out=y)", "torch.mul(x, 2.0)"),
    "add": ("torch.add(x, w, out=y)", "torch.add(x, w)"),
    "softmax": (None, "torch.softmax(x, -1)"),
    "rms_norm": (None, "F.rms_norm(x, (128,), w, 1e-6)"),
    "matmul": ("torch.matmul(x, w, out=y)", "torch.matmul(x, w)"),
}


def make_loop(call, ns):
    src = f"def run(n):\n    for _ in range(n):\n        {call}\n"
    exec(src, ns)  # a plain loop: no lambda or list between the calls
    return ns["run"]


def measure(run, sync, calls, samples):
    """Median ns per call: wall clock, and this thread's CPU time (which
    leaves out waiting for a core on a shared machine)."""
    wall, cpu = [], []
    for s in range(samples + 1):
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        run(calls)
        sync()
        if s:
            wall.append((time.perf_counter_ns() - t0) / calls)
            cpu.append((time.thread_time_ns() - c0) / calls)
    return statistics.median(wall), statistics.median(cpu)


def build_c(tmp):
    libdir = os.path.dirname(kiln.__file__)
    exe = os.path.join(tmp, "call_overhead")
    subprocess.run(["cc", "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L",
                    "-I", os.path.join(ROOT, "include"),
                    os.path.join(HERE, "call_overhead.c"), "-o", exe,
                    f"-L{libdir}", "-lkiln", f"-Wl,-rpath,{libdir}"], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--samples", type=int, default=15)
    args = ap.parse_args()
    ctx = kiln.Context(args.device)
    try:
        import torch
        import torch.nn.functional as F
        tdev = "cuda" if args.device == "cuda" else "cpu"
        if tdev == "cuda" and not torch.cuda.is_available():
            torch = None
    except ImportError:
        torch = None
    print(f"# kiln {kiln.version()} on {ctx.description}")
    print(f"# Python {sys.version.split()[0]}, numpy {np.__version__}, "
          + (f"torch {torch.__version__}" if torch else "torch not importable"))
    print(f"# {args.samples} samples of {args.calls} calls, median ns per call")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_c(tmp)
        for name, ((xs, ws), call_out, call_alloc) in OPS.items():
            rng = np.random.default_rng(0)
            x = kiln.tensor(rng.uniform(-1, 1, xs), ctx=ctx)
            w = kiln.tensor(rng.uniform(-1, 1, ws), ctx=ctx) if ws else None
            y = (kiln.matmul(x, w) if name == "matmul" else kiln.empty(xs, ctx=ctx))
            ns = {"f": getattr(kiln, name), "x": x, "w": w, "y": y}
            for mode, call in (("out", call_out), ("alloc", call_alloc)):
                c = subprocess.run([exe, name, args.device, mode, str(args.calls),
                                    str(args.samples)], check=True, capture_output=True,
                                   text=True).stdout.split()
                c_wall, c_cpu = float(c[0]), float(c[1])
                py_wall, py_cpu = measure(make_loop(call, dict(ns)), ctx.sync, args.calls,
                                    args.samples)
                t_med = None
                if torch is not None:
                    tcall = TORCH[name][0 if mode == "out" else 1]
                    if tcall:
                        tx = torch.from_numpy(x.numpy()).to(tdev)
                        tw = torch.from_numpy(w.numpy()).to(tdev) if w is not None else None
                        ty = torch.from_numpy(y.numpy()).to(tdev)
                        tns = {"torch": torch, "F": F, "x": tx, "w": tw, "y": ty}
                        sync = torch.cuda.synchronize if tdev == "cuda" else (lambda: None)
                        t_med = measure(make_loop(tcall, tns), sync, args.calls,
                                        args.samples)
                rows.append((name, mode, (c_wall, c_cpu), (py_wall, py_cpu), t_med))
    print("\n| op | mode | C wall | Python wall | Python − C (wall) | C cpu | Python cpu "
          "| Python − C (cpu) | PyTorch eager wall (cpu) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, mode, c, p, t in rows:
        tt = f"{t[0]:.0f} ({t[1]:.0f})" if t is not None else "—"
        print(f"| {name} | {mode} | {c[0]:.0f} | {p[0]:.0f} | {p[0] - c[0]:+.0f} | {c[1]:.0f} "
              f"| {p[1]:.0f} | {p[1] - c[1]:+.0f} | {tt} |")
    for i, clock in ((0, "wall"), (1, "thread cpu")):
        worst = max(p[i] - c[i] for _, _, c, p, _ in rows)
        print(f"largest Python overhead ({clock}): {worst:.0f} ns per call (goal: <= 2000)")


if __name__ == "__main__":
    main()
