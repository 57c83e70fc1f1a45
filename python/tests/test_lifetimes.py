"""Lifetimes from Python: a tensor keeps its context alive, a graph keeps
its tensors alive, and dropping objects in any order cannot crash."""

import gc
import itertools
import sys

import numpy as np
import pytest

import kiln


def test_tensor_keeps_context_alive():
    ctx = kiln.Context("cpu")
    before = sys.getrefcount(ctx)
    t = kiln.tensor(np.arange(10), dtype="f32", ctx=ctx)
    assert sys.getrefcount(ctx) == before + 1
    assert t.context is ctx
    del ctx
    gc.collect()
    y = kiln.scale(t, 2.0)  # the context is still there
    np.testing.assert_array_equal(y.numpy(), 2 * np.arange(10))
    assert y.context is t.context


@pytest.mark.parametrize("order", list(itertools.permutations(range(5))))
def test_any_destruction_order(order):
    ctx = kiln.Context("cpu")
    x = kiln.tensor(np.ones((3, 17)), ctx=ctx)
    y = kiln.empty((3, 17), ctx=ctx)
    g = ctx.capture()
    with g:
        kiln.silu(x, out=y)
    g.run()
    exported = np.from_dlpack(y)
    objs = [ctx, x, y, g, exported]
    del ctx, x, y, g, exported
    for i in order:
        objs[i] = None
        gc.collect()
        if objs[3] is not None:
            objs[3].run()
        if objs[4] is not None:
            np.testing.assert_allclose(objs[4], 1 / (1 + np.exp(-1.0)), rtol=1e-6)


def test_graph_keeps_its_tensors():
    ctx = kiln.Context("cpu")
    x = kiln.tensor(np.full((2, 5), 3.0), ctx=ctx)
    y = kiln.empty((2, 5), ctx=ctx)
    with ctx.capture() as g:
        kiln.scale(x, 2.0, out=y)
    yp = y.data_ptr
    before = sys.getrefcount(y)
    del x
    gc.collect()
    g.run()  # x still alive inside the graph
    assert sys.getrefcount(y) == before and y.data_ptr == yp
    np.testing.assert_array_equal(y.numpy(), 6.0)


def test_context_repr_and_properties():
    ctx = kiln.Context("cpu")
    assert repr(ctx) == "kiln.Context('cpu')" and ctx.device == "cpu" and ctx.stream is None
    assert "cpu" in ctx.description
    t = kiln.empty((2, 3, 4), "bf16", ctx=ctx)
    assert repr(t) == "kiln.Tensor(shape=(2, 3, 4), dtype='bf16', device='cpu')"
    assert (t.ndim, t.size, t.nbytes, len(t), t.device) == (3, 24, 48, 2, "cpu")
    assert kiln.default_context() is kiln.default_context()
