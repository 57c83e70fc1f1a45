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
