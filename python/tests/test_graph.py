"""Graphs as a context manager: capture once, replay on new inputs."""

import numpy as np
import pytest

import kiln
from conftest import check_close


def test_capture_and_replay(ctx, rng):
    x = kiln.empty((3, 1000), ctx=ctx)
    w = kiln.tensor(rng.uniform(-1, 1, size=1000), ctx=ctx)
    h = kiln.empty((3, 1000), ctx=ctx)
    out = kiln.empty((3, 1000), ctx=ctx)
    with ctx.capture() as g:
        kiln.scale(x, 2.0, out=h)
        kiln.rms_norm(h, w, eps=1e-6, out=out)
        kiln.silu(out, out=out)
    assert isinstance(g, kiln.Graph)
    wv = w.numpy().astype(np.float64)
    for _ in range(3):
        xv = rng.uniform(-2, 2, size=(3, 1000))
        x.write(xv)
        out.write(np.full((3, 1000), np.nan))
        g.run()
        hv = 2 * xv.astype(np.float32).astype(np.float64)
        r = hv / np.sqrt((hv**2).mean(axis=-1, keepdims=True) + 1e-6) * wv
        check_close(out.numpy(), r / (1 + np.exp(-r)), "f32", tol=1e-5)


def test_capture_bert_tail(ctx, rng):
    """A post-norm step and the sentence pooling, captured once: the graph
    reads the lengths from their tensor at each replay."""
    t, hidden = 9, 33
    x = kiln.empty((t, hidden), ctx=ctx)
    r = kiln.empty((t, hidden), ctx=ctx)
    cu = kiln.tensor(np.array([0, 4, 4, 9], dtype=np.int32), ctx=ctx)
    out = kiln.empty((t, hidden), ctx=ctx)
    pooled = kiln.empty((3, hidden), ctx=ctx)
    with ctx.capture() as g:
        kiln.add_layer_norm(x, r, eps=1e-12, h_out=r, out=out)
        kiln.mean_pool(out, cu, normalize=True, out=pooled)
    for lens in ([4, 0, 5], [1, 7, 1]):
        xv, rv = rng.uniform(-2, 2, size=(t, hidden)), rng.uniform(-2, 2, size=(t, hidden))
        x.write(xv)
        r.write(rv)
        cuv = np.cumsum([0] + lens).astype(np.int32)
        cu.write(cuv)
        pooled.write(np.full((3, hidden), np.nan))
        g.run()
        h = (xv.astype(np.float32) + rv.astype(np.float32)).astype(np.float64)
        mean = h.mean(axis=-1, keepdims=True)
        y = (h - mean) / np.sqrt(((h - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-12)
        ref = np.zeros((3, hidden))
        for b in range(3):
            if lens[b]:
                m = y[cuv[b]:cuv[b + 1]].mean(axis=0)
                ref[b] = m / np.sqrt((m**2).sum())
        check_close(pooled.numpy(), ref, "f32", tol=1e-5)


def test_capture_rules(ctx):
    x = kiln.tensor(np.ones(4), ctx=ctx)
    g = ctx.capture()
    with pytest.raises(kiln.InvalidArgumentError, match="run it after its with-block"):
        g.run()
    with g:
        # No tensor can be created while capturing: an op needs out=.
        with pytest.raises(kiln.InvalidArgumentError,
                           match="kiln_tensor_create: ctx is capturing a graph"):
            kiln.silu(x)
        with pytest.raises(kiln.InvalidArgumentError, match="kiln_sync"):
            ctx.sync()
        kiln.silu(x, out=x)
    g.run()
    np.testing.assert_allclose(x.numpy(), 1 / (1 + np.exp(-1.0)), rtol=1e-6)  # silu(1), once
    with pytest.raises(kiln.InvalidArgumentError, match="already been captured"):
        with g:
            pass


def test_exception_in_block_drops_the_graph(ctx):
    x = kiln.tensor(np.ones(4), ctx=ctx)
    with pytest.raises(ZeroDivisionError):
        with ctx.capture() as g:
            kiln.scale(x, 3.0, out=x)
            1 / 0
    with pytest.raises(kiln.InvalidArgumentError, match="capture failed"):
        g.run()
    np.testing.assert_array_equal(x.numpy(), 1.0)  # nothing ran
    kiln.scale(x, 3.0, out=x)  # the context is usable again
    np.testing.assert_array_equal(x.numpy(), 3.0)
