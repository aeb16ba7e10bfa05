"""Creating tensors: constants, ranges, identity matrices, and random values.

Constant tensors (zeros, ones, full, empty) and ranges (arange, linspace, eye) are lazy graph
leaves — no memory is used until a kernel writes a result, and they fuse into the kernels that
read them. Random tensors are drawn on the host from a numpy Generator that `manual_seed`
reseeds, then copied to the device.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import graph, runtime
from tinyhw_tensor.shapes import as_shape
from tinyhw_tensor.tensor import Tensor, _device

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "manual_seed",
]

_generator = [np.random.default_rng()]


def manual_seed(seed: int) -> None:
    """Reseed the generator behind rand, randn and randint (results are then reproducible)."""
    _generator[0] = np.random.default_rng(seed)


def full(shape: Any, value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """A tensor of `shape` filled with `value` (dtype: from the value, Python floats as float32)."""
    dtype = dt.as_dtype(dtype) if dtype is not None else dt.scalar_dtype(value)
    dev = _device(device)
    runtime.check_dtype(dev, dtype)
    return Tensor._wrap(graph.const(value, dtype, as_shape((shape,) if isinstance(shape, int) else tuple(shape)), dev))


def zeros(*shape: Any, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`."""
    return full(as_shape(shape), 0, dtype, device)


def ones(*shape: Any, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """A tensor of ones."""
    return full(as_shape(shape), 1, dtype, device)


def empty(*shape: Any, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """A tensor whose values are unspecified (here: zeros, which cost nothing until used)."""
    return zeros(*shape, dtype=dtype, device=device)


def zeros_like(t: Tensor, dtype: Any = None) -> Tensor:
    """Zeros of t's shape, dtype (unless given) and device."""
    return full(t.shape, 0, dtype or t.dtype, t.device)


def ones_like(t: Tensor, dtype: Any = None) -> Tensor:
    """Ones of t's shape, dtype (unless given) and device."""
    return full(t.shape, 1, dtype or t.dtype, t.device)


def full_like(t: Tensor, value: Any, dtype: Any = None) -> Tensor:
    """`value` in t's shape, dtype (unless given) and device."""
    return full(t.shape, value, dtype or t.dtype, t.device)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None, device: Any = None) -> Tensor:
    """start, start + step, ... up to but excluding stop (`arange(n)` is 0..n-1); int64 for int
    arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange step must not be zero")
    ints = all(isinstance(v, int) for v in (start, stop, step))
    dtype = dt.as_dtype(dtype) if dtype is not None else dt.DEFAULT_INT if ints else dt.DEFAULT_FLOAT
    n = max(0, math.ceil((stop - start) / step))
    dev = _device(device)
    runtime.check_dtype(dev, dtype)
    return Tensor._wrap(graph.arange(start, step, n, dtype, dev))


def linspace(start: float, stop: float, num: int, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """`num` evenly spaced values from start to stop, both included."""
    step = (stop - start) / (num - 1) if num > 1 else 0.0
    return arange(0, num, 1, dtype=dt.as_dtype(dtype), device=device) * step + start if num else zeros(0, dtype=dtype)


def eye(n: int, m: int | None = None, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """The n x m identity matrix (ones on the diagonal)."""
    m = n if m is None else m
    rows = arange(n, dtype=dt.int32, device=device).reshape(n, 1)
    cols = arange(m, dtype=dt.int32, device=device).reshape(1, m)
    return (rows == cols).cast(dtype)


def rand(*shape: Any, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """Uniform random values in [0, 1)."""
    return Tensor(_generator[0].random(as_shape(shape), dtype=np.float32), dtype=dtype, device=device)


def randn(*shape: Any, dtype: Any = dt.float32, device: Any = None) -> Tensor:
    """Standard normal random values."""
    return Tensor(_generator[0].standard_normal(as_shape(shape), dtype=np.float32), dtype=dtype, device=device)


def randint(low: int, high: int, shape: Any, dtype: Any = dt.int64, device: Any = None) -> Tensor:
    """Uniform random integers in [low, high)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor(_generator[0].integers(low, high, shape), dtype=dtype, device=device)
