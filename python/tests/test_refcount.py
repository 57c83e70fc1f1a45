"""Reference counting: 10^5 calls of each kind leave no object behind —
Python objects (sys.getallocatedblocks, tracemalloc) and C memory (the
process's resident size) flat, and the arguments' refcounts unchanged."""

import gc
import sys
import tracemalloc

import numpy as np
import pytest

import kiln

N = 100_000


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def loop_calls(x, w, y, bad, arr):
    kiln.scale(x, 2.0, out=y)  # out given
    kiln.scale(x, 2.0)  # a new output, dropped
    kiln.add_rms_norm(x, x, w)  # a tuple of two new outputs
    kiln.matmul(x, x, transpose_b=True, bias=None)
    try:
        kiln.softmax(x, out=bad)  # the error path
    except kiln.ShapeError:
        pass
    try:
        kiln.softmax(arr)  # a binding-level TypeError
    except TypeError:
        pass


def dlpack_calls(x, arr, ctx):
    t = kiln.from_dlpack(arr, ctx=ctx)
    a = np.from_dlpack(x)
    cap = x.__dlpack__(max_version=(1, 0))
    del t, a, cap


@pytest.mark.parametrize("kind", ["ops", "dlpack"])
def test_no_leak_over_1e5_calls(ctx, kind):
    x = kiln.tensor(np.ones((2, 8)), ctx=ctx)
    w = kiln.tensor(np.ones(8), ctx=ctx)
    y = kiln.empty((2, 8), ctx=ctx)
    bad = kiln.empty((2, 7), ctx=ctx)
    arr = np.ones((2, 8), dtype=np.float32)
    if kind == "ops":
        step = lambda: loop_calls(x, w, y, bad, arr)  # noqa: E731
    else:
        step = lambda: dlpack_calls(x, arr, ctx)  # noqa: E731
    for _ in range(2000):  # warm caches, free lists, the allocator's pools
        step()
    gc.collect()
    refs = [sys.getrefcount(o) for o in (x, w, y, bad, arr, ctx)]
    blocks = sys.getallocatedblocks()
    rss = rss_bytes()
    tracemalloc.start()
    snap = tracemalloc.take_snapshot()
    for _ in range(N):
        step()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(snap, "filename"))
    assert [sys.getrefcount(o) for o in (x, w, y, bad, arr, ctx)] == refs
    assert sys.getallocatedblocks() - blocks < 200, "Python objects leaked"
    assert grown < 64 * 1024, f"tracemalloc grew by {grown} bytes over {N} iterations"
    # A leaked kiln tensor (its struct and data) per call would be >= 6 MB.
    assert rss_bytes() - rss < 4 * 1024 * 1024, "C memory grew"
