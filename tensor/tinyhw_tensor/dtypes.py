"""Tensor dtypes: which ones exist, how operands promote, and how values cross to and from numpy.

Promotion follows PyTorch's reading of numpy (NEP 50): bool < integer < floating. Two tensors of
one category give the wider type (int8 with uint8 gives int16, float16 with bfloat16 gives
float32); of two categories, the higher one's type. Python scalars are *weak*: they adopt the
tensor's type when their category is not higher (int32 tensor + 1 is int32, float16 + 1.0 is
float16), and otherwise take the category's default (int32 + 1.5 is float32, bool + 1 is int64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyhw.kernel.dtypes import (
    DTYPES,
    DType,
    bfloat16,
    bool_,
    dtype_of,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)

__all__ = [
    "DType",
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "DEFAULT_FLOAT",
    "DEFAULT_INT",
    "as_dtype",
    "promote",
    "result_type",
    "scalar_dtype",
    "to_numpy",
    "from_numpy",
    "float_of",
]

DEFAULT_FLOAT = float32
"""The dtype of Python floats and of results that must be floating (true division of integers)."""
DEFAULT_INT = int64
"""The dtype of Python ints (as in PyTorch and numpy)."""
_RANK = {"b": 0, "u": 1, "i": 1, "f": 2}


def as_dtype(dtype: Any) -> DType:
    """A DType from a DType, a name ("float32"), a numpy dtype or a Python type; TypeError otherwise."""
    if dtype is bool:
        return bool_
    if dtype is int:
        return DEFAULT_INT
    if dtype is float:
        return DEFAULT_FLOAT
    try:
        return dtype_of(dtype)
    except (ValueError, TypeError):
        raise TypeError(f"unsupported dtype {dtype!r}; supported: {', '.join(DTYPES)}") from None


def promote(a: DType, b: DType) -> DType:
    """The dtype two tensor operands promote to."""
    if a == b:
        return a
    ra, rb = _RANK[a.kind], _RANK[b.kind]
    if ra != rb:
        return a if ra > rb else b
    if a.kind == "f":
        return a if a.itemsize > b.itemsize else b if b.itemsize > a.itemsize else float32
    return dtype_of(np.promote_types(a.numpy, b.numpy))


def scalar_dtype(value: Any) -> DType:
    """The dtype a Python scalar (or numpy scalar) has on its own."""
    if isinstance(value, bool | np.bool_):
        return bool_
    if isinstance(value, np.generic):
        return dtype_of(value.dtype)
    if isinstance(value, int):
        return DEFAULT_INT
    if isinstance(value, float):
        return DEFAULT_FLOAT
    raise TypeError(f"cannot use {type(value).__name__} {value!r} as a tensor value")


def result_type(tensor_dtype: DType, scalar: Any) -> DType:
    """The dtype of `tensor op scalar` where the Python scalar is weak."""
    if isinstance(scalar, np.generic):
        return promote(tensor_dtype, dtype_of(scalar.dtype))
    kind = scalar_dtype(scalar).kind
    if _RANK[kind] <= _RANK[tensor_dtype.kind]:
        return tensor_dtype
    return DEFAULT_FLOAT if kind == "f" else DEFAULT_INT


def float_of(dtype: DType) -> DType:
    """`dtype` if it is floating, else the default float (for true division, mean, exp, ...)."""
    return dtype if dtype.kind == "f" else DEFAULT_FLOAT


def to_numpy(array: np.ndarray, dtype: DType) -> np.ndarray:
    """Host data of `dtype` as stored on a device (bfloat16 as its uint16 bits, rounded to nearest even)."""
    if dtype == bfloat16:
        bits = np.asarray(array, dtype=np.float32, order="C").view(np.uint32)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        nan = np.isnan(array.astype(np.float32))
        return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)
    return np.asarray(array, dtype=dtype.numpy, order="C")


def from_numpy(raw: np.ndarray, dtype: DType) -> np.ndarray:
    """Device data read back as numpy (bfloat16 widened to float32)."""
    if dtype == bfloat16:
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw


SUPPORTED = (bool_, int8, int16, int32, int64, uint8, float16, bfloat16, float32, float64)
"""The dtypes tensors may have (devices may refuse some; see `tinyhw_tensor.runtime.check_dtype`)."""
