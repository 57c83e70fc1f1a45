"""Every error path: the right exception class (a kiln.Error that is also
the matching built-in), the C library's message naming the function, the
argument and the shapes, and every tensor left exactly as it was."""

import numpy as np
import pytest

import kiln
from conftest import expect_error, make


def snapshot(*tensors):
    return [t.numpy().copy() for t in tensors]


def unchanged(before, *tensors):
    for b, t in zip(before, tensors):
        np.testing.assert_array_equal(t.numpy(), b)  # NaN-free inputs: exact


def test_hierarchy():
    pairs = {kiln.ShapeError: ValueError, kiln.DTypeError: TypeError,
             kiln.DeviceError: RuntimeError, kiln.InvalidArgumentError: ValueError,
             kiln.OutOfMemoryError: MemoryError, kiln.UnsupportedError: NotImplementedError,
             kiln.BackendError: RuntimeError}
    for cls, builtin in pairs.items():
        assert issubclass(cls, kiln.Error) and issubclass(cls, builtin), cls
    assert issubclass(kiln.Error, Exception)


def test_shape_errors(ctx, rng):
    a, _ = make(ctx, rng, (3, 17), "f32")
    b, _ = make(ctx, rng, (5, 4), "f32")
    out, _ = make(ctx, rng, (3, 4), "f32")
    before = snapshot(a, b, out)
    with expect_error(kiln.ShapeError, "kiln_matmul", "[3, 17]", "[5, 4]", "inner") as e:
        kiln.matmul(a, b, out=out)
    assert e.value.status == "KILN_ERR_SHAPE"
    unchanged(before, a, b, out)
    with expect_error(kiln.ShapeError, "kiln_matmul", "a is [17]"):
        kiln.matmul(kiln.tensor(np.ones(17), ctx=ctx), b)
    w, _ = make(ctx, rng, (16,), "f32")
    with expect_error(kiln.ShapeError, "kiln_rms_norm", "weight", "[16]"):
        kiln.rms_norm(a, w)
    with expect_error(kiln.ShapeError, "kiln_add", "[3, 17]", "[5, 4]"):
        kiln.add(a, b)
    with expect_error(kiln.ShapeError, "kiln_softmax", "out"):
        kiln.softmax(a, out=out)
    unchanged(before, a, b, out)
    ids = kiln.tensor(np.zeros((2, 2, 2, 2), dtype=np.int32), ctx=ctx)
    with expect_error(kiln.ShapeError, "kiln_embedding", "ids"):
        kiln.embedding(a, ids)
    with expect_error(kiln.ShapeError, "kiln.Tensor.write", "(2, 2)"):
        out.write(np.zeros((2, 2)))
    with expect_error(kiln.ShapeError, "kiln.empty", "0 dims"):
        kiln.tensor(3.0, ctx=ctx)
    with expect_error(kiln.ShapeError, "kiln_tensor_create", "-1"):
        kiln.empty((3, -1), ctx=ctx)
    unchanged(before, a, b, out)


def test_dtype_errors(ctx, rng):
    a, _ = make(ctx, rng, (3, 17), "f32")
    h, _ = make(ctx, rng, (17, 4), "f16")
    out, _ = make(ctx, rng, (3, 4), "f32")
    before = snapshot(a, out)
    with expect_error(kiln.DTypeError, "kiln_matmul", "f16", "f32"):
        kiln.matmul(a, h, out=out)
    unchanged(before, a, out)
    ids = kiln.tensor(np.arange(5), ctx=ctx)
    with expect_error(kiln.DTypeError, "kiln_softmax", "i32"):
        kiln.softmax(ids)
    with expect_error(kiln.DTypeError, "kiln_embedding", "ids", "f32"):
        kiln.embedding(a, a)
    with expect_error(kiln.DTypeError, "kiln", "f64"):
        kiln.empty((3,), "f64", ctx=ctx)
    with expect_error(kiln.DTypeError, "kiln.tensor", "complex"):
        kiln.tensor(np.ones(3, dtype=np.complex64), ctx=ctx)
    with expect_error(kiln.DTypeError, "kiln.tensor", "bool"):
        kiln.tensor(np.ones(3, dtype=bool), ctx=ctx)
    with expect_error(kiln.DTypeError, "kiln.Tensor.write", "i32", "float"):
        ids.write(np.ones(5))
    assert isinstance(pytest.raises(TypeError, kiln.softmax, ids).value, kiln.DTypeError)


def test_device_errors(ctx, rng):
    other = kiln.Context("cpu")
    a, _ = make(ctx, rng, (3, 17), "f32")
    b = kiln.tensor(np.ones((17, 2)), ctx=other)
    with expect_error(kiln.DeviceError, "kiln_matmul", "b", "another context"):
        kiln.matmul(a, b)
    with expect_error(kiln.DeviceError, "kiln.Context", "'tpu'"):
        kiln.Context("tpu")
    with expect_error(kiln.DeviceError, "kiln_context_create", "index 3"):
        kiln.Context("cpu", index=3)
    if kiln.device_count("cuda") == 0:
        with expect_error(kiln.DeviceError, "kiln_context_create", "cuda"):
            kiln.Context("cuda")
    with expect_error(kiln.DeviceError, "kiln.device_count", "'gpu'"):
        kiln.device_count("gpu")


def test_invalid_argument_errors(ctx, rng):
    x, _ = make(ctx, rng, (3, 17), "f32")
    w, _ = make(ctx, rng, (17,), "f32")
    out, _ = make(ctx, rng, (3, 17), "f32")
    before = snapshot(x, w, out)
    with expect_error(kiln.InvalidArgumentError, "kiln_rms_norm", "eps"):
        kiln.rms_norm(x, w, eps=0.0, out=out)
    with expect_error(kiln.InvalidArgumentError, "kiln_softmax", "scale"):
        kiln.softmax(x, scale=-1.0, out=out)
    with expect_error(kiln.InvalidArgumentError, "kiln_scale", "s"):
        kiln.scale(x, float("inf"), out=out)
    with expect_error(kiln.InvalidArgumentError, "kiln.gelu", "'erf'"):
        kiln.gelu(x, approximate="erf", out=out)
    with expect_error(kiln.InvalidArgumentError, "kiln.matmul", "beta"):
        kiln.matmul(x, x, transpose_b=True, beta=1.0)
    with expect_error(kiln.InvalidArgumentError, "kiln.matmul", "activation", "'relu'"):
        kiln.matmul(x, x, transpose_b=True, activation="relu")
    with expect_error(kiln.InvalidArgumentError, "kiln_rope", "seq_axis"):
        kiln.rope(x, seq_axis=-1, out=out)
    with expect_error(kiln.InvalidArgumentError, "kiln_rope", "position_offset"):
        kiln.rope(x, position_offset=-1, out=out)
    unchanged(before, x, w, out)
    # Aliasing: out overlapping an input it must not alias.
    b, _ = make(ctx, rng, (17, 17), "f32")
    sq, _ = make(ctx, rng, (17, 17), "f32")
    with expect_error(kiln.InvalidArgumentError, "kiln_matmul", "out", "overlaps"):
        kiln.matmul(sq, b, out=sq)
    # An id outside the table, on the CPU: nothing written.
    table, _ = make(ctx, rng, (10, 4), "f32")
    ids = kiln.tensor(np.array([1, 50, 2]), ctx=ctx)
    eout, _ = make(ctx, rng, (3, 4), "f32")
    eb = snapshot(eout)
    with expect_error(kiln.InvalidArgumentError, "kiln_embedding", "ids[1]", "50"):
        kiln.embedding(table, ids, out=eout)
    unchanged(eb, eout)
    with expect_error(kiln.InvalidArgumentError, "kiln.Tensor.write", "int32"):
        ids.write(np.array([1, 2**40, 3]))
    with expect_error(kiln.InvalidArgumentError, "kiln.Context", "index"):
        kiln.Context("cuda:1", index=0)


def test_type_errors_for_non_tensors(ctx, rng):
    x, _ = make(ctx, rng, (3, 17), "f32")
    with pytest.raises(TypeError, match=r"kiln.softmax: x must be a kiln.Tensor, not numpy.ndarray"):
        kiln.softmax(np.ones(3))
    with pytest.raises(TypeError, match=r"kiln.matmul: b must be a kiln.Tensor, not None"):
        kiln.matmul(x, None)
    with pytest.raises(TypeError, match=r"out must be a kiln.Tensor, not list"):
        kiln.silu(x, out=[1])
    with pytest.raises(TypeError):
        kiln.softmax(x, 2.0)  # parameters are keyword-only
    with pytest.raises(TypeError):
        kiln.softmax(x, scael=2.0)


def test_out_of_memory(ctx):
    with expect_error(kiln.OutOfMemoryError, "kiln_tensor_create", "bytes") as e:
        kiln.empty((2**56,), "f32", ctx=ctx)  # 256 PiB: past any address space (64 TiB was granted on an overcommitting GPU host)
    assert isinstance(e.value, MemoryError)


def test_unsupported(ctx):
    a = np.ones((4, 6), dtype=np.float32)
    with expect_error(kiln.UnsupportedError, "kiln_tensor_from_dlpack", "row-major"):
        kiln.from_dlpack(a.T, ctx=ctx)
    with expect_error(kiln.UnsupportedError, "kiln_tensor_from_dlpack", "row-major"):
        kiln.from_dlpack(a[:, ::2], ctx=ctx)


def test_failed_op_keeps_python_objects(ctx, rng):
    """A failing call changes nothing: the out tensor, its shape and refcounts."""
    import sys
    x, _ = make(ctx, rng, (3, 17), "f32")
    out, _ = make(ctx, rng, (3, 16), "f32")
    before = snapshot(x, out)
    rx, ro = sys.getrefcount(x), sys.getrefcount(out)
    for _ in range(100):
        with pytest.raises(kiln.ShapeError):
            kiln.softmax(x, out=out)
    assert (sys.getrefcount(x), sys.getrefcount(out)) == (rx, ro)
    unchanged(before, x, out)
    assert out.shape == (3, 16)
