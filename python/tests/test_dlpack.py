"""DLPack both ways without copies: NumPy on the CPU, PyTorch on the CPU
and (on a GPU machine) on CUDA. Pointer identity proves no copy; writes
through one side are seen through the other."""

import gc
import sys

import numpy as np
import pytest

import kiln
from conftest import make

try:
    import torch
except ImportError:  # the suite says so in its skip reasons
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
needs_cuda = pytest.mark.skipif(
    torch is None or not torch.cuda.is_available() or kiln.device_count("cuda") == 0,
    reason="needs PyTorch with CUDA and a kiln built with CUDA on a machine with a GPU")

NP = {"f32": np.float32, "f16": np.float16, "i32": np.int32}


@pytest.mark.parametrize("dtype", ["f32", "f16", "i32"])
@pytest.mark.parametrize("shape", [(1,), (3, 17), (2, 3, 5), (2, 1, 3, 4), (0, 5)])
def test_numpy_to_kiln_shares_memory(ctx, rng, dtype, shape):
    a = (rng.uniform(-100, 100, size=shape)).astype(NP[dtype])
    t = kiln.from_dlpack(a, ctx=ctx)
    assert t.shape == shape and t.dtype == dtype and t.device == "cpu" and not t.readonly
    if a.size:
        assert t.data_ptr == a.ctypes.data
    np.testing.assert_array_equal(t.numpy(), a)
    if dtype != "i32" and a.size:
        kiln.scale(t, 2.0, out=t)  # written through kiln, seen in NumPy
        np.testing.assert_array_equal(a, (t.numpy()))
        assert np.all(a == t.numpy())


@pytest.mark.parametrize("dtype", ["f32", "f16", "i32"])
@pytest.mark.parametrize("max_version", [None, (1, 0), (1, 5)])
def test_kiln_to_numpy_shares_memory(ctx, rng, dtype, max_version):
    t = kiln.tensor(rng.integers(-50, 50, size=(3, 17)), dtype=dtype, ctx=ctx)
    cap = t.__dlpack__() if max_version is None else t.__dlpack__(max_version=max_version)
    assert "dltensor_versioned" in repr(cap) if max_version else "dltensor" in repr(cap)
    del cap  # an unconsumed capsule hands its tensor back
    a = np.from_dlpack(t)
    assert a.ctypes.data == t.data_ptr and a.dtype == NP[dtype] and a.shape == (3, 17)
    np.testing.assert_array_equal(a, t.numpy())
    a[1, 2] = 7
    assert t.numpy()[1, 2] == 7
    assert t.__dlpack_device__() == (1, 0)


def test_byte_offset_and_views(ctx):
    base = np.arange(40, dtype=np.float32)
    view = base[3:]  # an offset into the buffer
    t = kiln.from_dlpack(view, ctx=ctx)
    assert t.data_ptr == base.ctypes.data + 12
    np.testing.assert_array_equal(t.numpy(), view)
    rows = base.reshape(8, 5)[2:5]  # whole rows: still dense
    t2 = kiln.from_dlpack(rows, ctx=ctx)
    assert t2.shape == (3, 5) and t2.data_ptr == base.ctypes.data + 40
    np.testing.assert_array_equal(t2.numpy(), rows)


def test_read_only_array(ctx):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    a.flags.writeable = False
    t = kiln.from_dlpack(a, ctx=ctx)
    assert t.readonly and t.data_ptr == a.ctypes.data
    y = kiln.scale(t, 2.0)  # an input: fine
    np.testing.assert_array_equal(y.numpy(), 2 * a)
    with pytest.raises(kiln.InvalidArgumentError, match="kiln_scale: out is read-only"):
        kiln.scale(y, 2.0, out=t)
    with pytest.raises(kiln.InvalidArgumentError, match="kiln_tensor_write: t is read-only"):
        t.write(np.zeros((3, 4)))
    np.testing.assert_array_equal(a, np.arange(12).reshape(3, 4))
    with pytest.raises(BufferError, match="read-only"):
        t.__dlpack__()  # the legacy capsule cannot say read-only
    back = np.from_dlpack(t)  # NumPy 2 asks for a versioned capsule: flag kept
    assert not back.flags.writeable and back.ctypes.data == a.ctypes.data


def test_capsules_directly(ctx):
    a = np.arange(6, dtype=np.float32)
    for cap in (a.__dlpack__(), a.__dlpack__(max_version=(1, 0))):
        t = kiln.from_dlpack(cap, ctx=ctx)
        assert t.data_ptr == a.ctypes.data
        with pytest.raises(ValueError, match="used_dltensor"):
            kiln.from_dlpack(cap, ctx=ctx)  # consumed once
    t = kiln.tensor(np.ones(4), ctx=ctx)
    u = kiln.from_dlpack(t.__dlpack__(max_version=(1, 0)), ctx=ctx)  # kiln to kiln
    assert u.data_ptr == t.data_ptr
    with pytest.raises(TypeError, match="has no __dlpack__"):
        kiln.from_dlpack([1, 2, 3], ctx=ctx)


def test_protocol_arguments(ctx):
    t = kiln.tensor(np.ones(4), ctx=ctx)
    with pytest.raises(BufferError, match="dl_device"):
        t.__dlpack__(dl_device=(2, 0))
    t.__dlpack__(dl_device=(1, 0))
    with pytest.raises(BufferError, match="copy"):
        t.__dlpack__(copy=True)
    t.__dlpack__(copy=False)
    with pytest.raises(TypeError, match="max_version"):
        t.__dlpack__(max_version=3)


def test_refused_import_returns_memory_to_producer(ctx):
    """A capsule kiln refuses is not consumed: its destructor calls NumPy's
    deleter, which drops NumPy's reference to the array."""
    a = np.ones((4, 6), dtype=np.float64)
    before = sys.getrefcount(a)
    for _ in range(100):
        with pytest.raises(kiln.DTypeError, match="float64"):
            kiln.from_dlpack(a, ctx=ctx)
        with pytest.raises(kiln.UnsupportedError):
            kiln.from_dlpack(a.astype(np.float32).T, ctx=ctx)
    gc.collect()
    assert sys.getrefcount(a) == before


def test_imported_array_kept_alive(ctx):
    a = np.arange(1000, dtype=np.float32)
    ref = a.copy()
    t = kiln.from_dlpack(a, ctx=ctx)
    before = sys.getrefcount(a)
    assert before > 2  # the DLPack deleter's reference
    del a
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), ref)


def test_export_outlives_tensor_and_context():
    ctx = kiln.Context("cpu")
    t = kiln.tensor(np.arange(100), dtype="f32", ctx=ctx)
    a = np.from_dlpack(t)
    del t, ctx
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(100))  # memory still kiln's, still alive
    a[:] = 5
    assert a.sum() == 500


def test_bf16_export_to_numpy_is_refused_cleanly(ctx):
    t = kiln.tensor(np.ones(3), dtype="bf16", ctx=ctx)
    with pytest.raises((BufferError, TypeError, ValueError, RuntimeError)):
        np.from_dlpack(t)  # NumPy has no bfloat16
    np.testing.assert_array_equal(t.numpy(), np.ones(3))


@needs_torch
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16", "i32"])
def test_torch_cpu_round_trip(ctx, dtype):
    tt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "i32": torch.int32}
    x = (torch.arange(51) - 25).reshape(3, 17).to(tt[dtype])
    k = kiln.from_dlpack(x, ctx=ctx)
    assert k.data_ptr == x.data_ptr() and k.dtype == dtype
    back = torch.from_dlpack(k)
    assert back.data_ptr() == x.data_ptr() and back.dtype == tt[dtype]
    assert torch.equal(back, x)
    if dtype != "i32":
        kiln.scale(k, 3.0, out=k)
        assert torch.equal(x, ((torch.arange(51) - 25).reshape(3, 17) * 3).to(tt[dtype]))


@needs_cuda
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_torch_cuda_round_trip(dtype):
    """torch -> kiln -> torch on the GPU: the same device pointers, and the
    stream handshake orders kiln's op before torch's reads without a sync."""
    tt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    gctx = kiln.Context("cuda:0")
    x = torch.randn(64, 4099, device="cuda", dtype=tt)
    k = kiln.from_dlpack(x, ctx=gctx)  # torch's pending work ordered before kiln's stream
    assert k.data_ptr == x.data_ptr() and k.device == "cuda:0"
    out = kiln.empty((64, 4099), dtype, ctx=gctx)
    y = torch.from_dlpack(out)  # the same memory, before kiln writes it
    assert y.data_ptr() == out.data_ptr
    for _ in range(3):
        kiln.softmax(k, scale=0.5, out=out)
        z = torch.from_dlpack(out)  # torch's current stream waits for the softmax
        assert z.data_ptr() == out.data_ptr
        ref = torch.softmax(x.float() * 0.5, dim=-1)
        tol = {"f32": 1e-5, "f16": 2e-3, "bf16": 1.6e-2}[dtype]
        assert (z.float() - ref).abs().max().item() <= tol * ref.abs().max().item()
    # torch writes, kiln reads, on different streams, ordered by the handshake.
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        x.mul_(2)
        k2 = kiln.from_dlpack(x, ctx=gctx)
    kiln.scale(k2, 0.5, out=out)
    torch.cuda.current_stream().wait_stream(s)
    back = torch.from_dlpack(out)
    assert torch.allclose(back.float(), x.float() * 0.5, rtol=1e-2)
    del k, k2, out, y, z, back, gctx
    gc.collect()
    torch.cuda.synchronize()


class _Producer:
    """Hands NumPy one fixed capsule kind, whatever it asks for."""

    def __init__(self, t, versioned):
        self.t, self.versioned = t, versioned

    def __dlpack__(self, **kw):
        return self.t.__dlpack__(max_version=(1, 0) if self.versioned else None)

    def __dlpack_device__(self):
        return self.t.__dlpack_device__()


@pytest.mark.parametrize("versioned", [False, True])
def test_numpy_consumes_both_capsule_kinds(ctx, versioned):
    t = kiln.tensor(np.arange(12).reshape(3, 4), dtype="f32", ctx=ctx)
    a = np.from_dlpack(_Producer(t, versioned))
    assert a.ctypes.data == t.data_ptr and a.shape == (3, 4)
    np.testing.assert_array_equal(a, np.arange(12).reshape(3, 4))
    # NumPy marks arrays from legacy capsules read-only (they cannot say).
    assert a.flags.writeable == versioned
    del t
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(12).reshape(3, 4))  # memory kept alive
