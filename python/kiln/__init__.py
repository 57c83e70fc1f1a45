"""kiln: fast transformer primitives for the CPU and NVIDIA GPUs.

    import kiln, numpy as np
    x = kiln.tensor(np.random.rand(4, 1024), dtype="f16")
    y = kiln.softmax(x, scale=0.125).numpy()

Every op of kiln.h is a function here with keyword parameters and an
optional out=; tensors move to and from NumPy, PyTorch and any other DLPack
library without a copy (kiln.from_dlpack, numpy.from_dlpack(t),
torch.from_dlpack(t)). Errors are kiln.Error subclasses that also subclass
the matching built-in (kiln.ShapeError is a ValueError, ...), carrying the C
library's message.
"""

import numpy as _np

from . import _host
from ._kiln import (  # noqa: F401  (re-exported)
    MAX_DIMS,
    BackendError,
    Context,
    DeviceError,
    DTypeError,
    Embedder,
    Error,
    Graph,
    InvalidArgumentError,
    OutOfMemoryError,
    ShapeError,
    Tensor,
    Tokenizer,
    UnsupportedError,
    add,
    add_layer_norm,
    add_rms_norm,
    attention,
    attention_packed,
    device_count,
    embedding,
    gelu,
    layer_norm,
    lora_linear,
    matmul,
    mean_pool,
    mul,
    rms_norm,
    rope,
    scale,
    silu,
    softmax,
    swiglu,
    version,
)
from . import _kiln

__version__ = "0.1.0"

f32, f16, bf16, i32 = "f32", "f16", "bf16", "i32"

_contexts = {}  # device string ("cpu", "cuda:0") -> the shared Context for it


def _shared_context(device):
    ctx = _contexts.get(device)
    if ctx is None:
        ctx = Context(device)
        _contexts[ctx.device] = ctx
    return ctx


def default_context():
    """The Context kiln.tensor(), kiln.empty() and kiln.zeros() use when
    ctx= is not given: made once, on the GPU when there is one (device
    'auto'), else the CPU."""
    ctx = _contexts.get("auto")
    if ctx is None:
        ctx = _contexts["auto"] = Context("auto")
        _contexts.setdefault(ctx.device, ctx)
    return ctx


def tensor(data, dtype=None, *, ctx=None):
    """A new tensor holding a copy of `data` (anything numpy.asarray takes).

    dtype: 'f32', 'f16', 'bf16', 'i32' (or numpy.float32, ...); None picks
    f16 for float16 data, bf16 for ml_dtypes.bfloat16, f32 for other
    floats, i32 for integers. Values are rounded to nearest even (bf16 via
    float32). A uint16 array with dtype 'f16'/'bf16' is taken as raw bits.
    ctx: the Context (default: kiln.default_context()).
    kiln.from_dlpack shares memory instead of copying."""
    arr = _np.asarray(data)
    if dtype is None:
        dtype = _host.infer_dtype(arr)
    t = _kiln._empty(arr.shape, dtype, ctx if ctx is not None else default_context())
    t.write(arr)
    return t


def empty(shape, dtype="f32", *, ctx=None):
    """A new uninitialized tensor of `shape` (1 to MAX_DIMS ints)."""
    if isinstance(shape, int):
        shape = (shape,)
    return _kiln._empty(shape, dtype, ctx if ctx is not None else default_context())


def zeros(shape, dtype="f32", *, ctx=None):
    """A new tensor of zeros."""
    t = empty(shape, dtype, ctx=ctx)
    t.write(_np.zeros(t.shape, dtype=_np.int32 if t.dtype == "i32" else _np.float32))
    return t


_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13


def from_dlpack(obj, *, ctx=None):
    """A kiln tensor over the memory of `obj` (a NumPy array, a PyTorch
    tensor, anything with __dlpack__, or a DLPack capsule), without a copy.

    The memory must be dense and row-major (else UnsupportedError: make it
    contiguous first), of dtype float32/float16/bfloat16/int32, 1 to
    MAX_DIMS dims. The new tensor keeps `obj`'s memory alive. ctx defaults
    to kiln's shared context for obj's device (cpu, or cuda:N); on CUDA the
    producer is asked to order its pending work before kiln's stream.
    A read-only array gives a read-only tensor (never an op's output)."""
    if ctx is None:
        ctx = default_context()
        device = getattr(obj, "__dlpack_device__", None)
        if device is not None:
            kind, index = (int(v) for v in device())
            if kind in (_DL_CPU, _DL_CUDA_HOST):
                ctx = _shared_context("cpu")
            elif kind in (_DL_CUDA, _DL_CUDA_MANAGED) and device_count("cuda") > index:
                ctx = _shared_context(f"cuda:{index}")
    return _kiln._from_dlpack(obj, ctx)


__all__ = [
    "Context", "Tensor", "Graph", "Tokenizer", "Embedder", "Error", "ShapeError", "DTypeError", "DeviceError",
    "InvalidArgumentError", "OutOfMemoryError", "UnsupportedError", "BackendError",
    "tensor", "empty", "zeros", "from_dlpack", "default_context", "device_count", "version",
    "matmul", "softmax", "rms_norm", "lora_linear", "add_rms_norm", "layer_norm", "gelu",
    "silu", "scale", "swiglu", "add", "mul", "rope", "embedding", "attention",
    "attention_packed", "add_layer_norm", "mean_pool",
    "f32", "f16", "bf16", "i32", "MAX_DIMS",
]
