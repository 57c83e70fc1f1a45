"""Shared fixtures and float64 references for kiln's Python tests.

The suite tests the installed package: run pytest from outside the source
tree, with kiln installed from its wheel (.ci/run does). test_installed.py
fails when `import kiln` finds the source tree instead."""

import numpy as np
import pytest

import kiln

FLOAT_DTYPES = ["f32", "f16", "bf16"]
# Relative error allowed, against max|ref| of a row: a few units of the
# dtype's roundoff (2^-24, 2^-11, 2^-8) plus f32 arithmetic inside the op.
TOL = {"f32": 2e-5, "f16": 2e-3, "bf16": 1.6e-2}


@pytest.fixture(scope="session")
def ctx():
    return kiln.Context("cpu")


@pytest.fixture
def rng(request):
    # A fresh seed per test, printed on failure through the test's name.
    seed = abs(hash(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


def round_to(vals, dtype):
    """float64 values rounded to what a `dtype` tensor would hold."""
    vals = np.asarray(vals, dtype=np.float64)
    if dtype == "f32":
        return vals.astype(np.float32).astype(np.float64)
    if dtype == "f16":
        return vals.astype(np.float16).astype(np.float64)
    f = vals.astype(np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def make(ctx, rng, shape, dtype, lo=-2.0, hi=2.0):
    """A tensor of fresh uniform values, and the float64 values it holds."""
    vals = rng.uniform(lo, hi, size=shape)
    t = kiln.tensor(vals, dtype=dtype, ctx=ctx)
    held = t.numpy().astype(np.float64)
    np.testing.assert_array_equal(held, round_to(vals, dtype))
    return t, held


def poisoned(ctx, shape, dtype):
    """An output tensor full of NaN, so an element an op forgets shows."""
    t = kiln.empty(shape, dtype, ctx=ctx)
    t.write(np.full(shape, np.nan, dtype=np.float32))
    return t


def check_close(out, ref, dtype, tol=None, row_len=None):
    """Every finite ref element finite in out, and per row
    max|out - ref| / max|ref| within tol."""
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert out.shape == ref.shape, (out.shape, ref.shape)
    bad = np.isfinite(ref) & ~np.isfinite(out)
    assert not bad.any(), f"non-finite output at {np.argwhere(bad)[:5].tolist()}"
    tol = TOL[dtype] if tol is None else tol
    if ref.size == 0:
        return
    n = row_len or (ref.shape[-1] if ref.ndim else 1)
    r = ref.reshape(-1, n)
    o = out.reshape(-1, n)
    scale = np.maximum(np.abs(r).max(axis=1), 1e-30)
    err = np.abs(o - r).max(axis=1) / scale
    worst = int(err.argmax())
    assert err[worst] <= tol, f"row {worst}: relative error {err[worst]:.3g} > {tol:.3g}"


def expect_error(exc_type, fn, *needles):
    """pytest.raises for a kiln error whose message names fn and needles."""
    class _Check:
        def __enter__(self):
            self.cm = pytest.raises(exc_type)
            self.info = self.cm.__enter__()
            return self.info

        def __exit__(self, *exc):
            r = self.cm.__exit__(*exc)
            msg = str(self.info.value)
            assert fn in msg, f"{msg!r} does not name {fn}"
            for n in needles:
                assert n in msg, f"{msg!r} does not contain {n!r}"
            return r
    return _Check()
