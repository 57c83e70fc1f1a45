"""NumPy conversions for Tensor.write and Tensor.numpy (called from the C
extension): host arrays in the raw form kiln stores, and back."""

import numpy as np

from . import _kiln

_RAW = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16, "i32": np.int32}
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1


def empty_raw(shape, dtype):
    """An uninitialized host array kiln can read a `dtype` tensor into."""
    return np.empty(shape, dtype=_RAW[dtype])


def from_raw(raw, dtype):
    """The user's view of raw host data: bf16 widened to float32 (exact)."""
    if dtype == "bf16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw


def to_raw(data, dtype, shape):
    """`data` as a C-contiguous host array in the raw form of `dtype`, of
    exactly `shape`. Raises kiln's errors, so a failing write leaves the
    tensor untouched."""
    arr = np.asarray(data)
    shape = tuple(shape)
    if arr.shape != shape:
        raise _kiln.ShapeError(
            f"kiln.Tensor.write: data has shape {arr.shape} but the tensor is {shape}")
    kind = arr.dtype.kind
    bf16_array = arr.dtype.name == "bfloat16"  # ml_dtypes.bfloat16, when it is installed
    if dtype == "i32":
        if kind not in "iu":
            raise _kiln.DTypeError(
                f"kiln.Tensor.write: an i32 tensor takes integers, not {arr.dtype}")
        if arr.size and (int(arr.min()) < _I32_MIN or int(arr.max()) > _I32_MAX):
            raise _kiln.InvalidArgumentError(
                "kiln.Tensor.write: a value is outside the int32 range "
                f"[{int(arr.min())}, {int(arr.max())}]")
        return np.ascontiguousarray(arr, dtype=np.int32)
    if (dtype == "bf16" and (bf16_array or arr.dtype == np.uint16)) or (
            dtype == "f16" and arr.dtype == np.uint16):
        return np.ascontiguousarray(arr).view(np.uint16)  # raw 16-bit words
    if kind not in "fiu" and not bf16_array:
        raise _kiln.DTypeError(
            f"kiln.Tensor.write: a {dtype} tensor takes real numbers, not {arr.dtype}")
    if dtype == "f32":
        return np.ascontiguousarray(arr, dtype=np.float32)
    if dtype == "f16":
        return np.ascontiguousarray(arr, dtype=np.float16)
    # bf16: through float32, rounded to nearest even by kiln's own converter.
    f = np.ascontiguousarray(arr, dtype=np.float32)
    out = np.empty(f.shape, dtype=np.uint16)
    _kiln._f32_to_bf16(f, out)
    return out


def infer_dtype(arr):
    """The kiln dtype kiln.tensor() picks for an array without dtype=."""
    if arr.dtype.name == "bfloat16":
        return "bf16"
    if arr.dtype == np.float16:
        return "f16"
    if arr.dtype.kind == "f":
        return "f32"
    if arr.dtype.kind in "iu":
        return "i32"
    raise _kiln.DTypeError(
        f"kiln.tensor: no kiln dtype for {arr.dtype}; kiln has f32, f16, bf16 and i32")
