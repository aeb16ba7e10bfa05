"""The Tensor: a numpy-like, lazily evaluated array on a tinyhw device.

Operations build a graph (`tinyhw_tensor.graph`) and return at once; nothing runs until values
are needed (`numpy()`, `tolist()`, `item()`, `repr`, `realize()`). Then the scheduler fuses the
graph into as few kernels as it can and the runtime launches them. A Tensor never changes:
every operation returns a new one, and views share their source's data.

The methods live in mixins, one concept per module: elementwise arithmetic and math
(`elementwise`), reductions and matmul (`reduce`), movement and joining (`movement`), indexing
(`indexing`). Creation functions are in `creation`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import tinyhw
from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import graph, runtime
from tinyhw_tensor.elementwise import ElementwiseOps
from tinyhw_tensor.indexing import IndexingOps
from tinyhw_tensor.movement import MovementOps
from tinyhw_tensor.reduce import ReduceOps

__all__ = ["Tensor"]


def _device(device: Any) -> tinyhw.Device:
    if device is None:
        return runtime.default_device()
    return device if isinstance(device, tinyhw.Device) else tinyhw.Device(str(device))


def _host_array(data: Any, dtype: dt.DType | None) -> tuple[np.ndarray, dt.DType]:
    """`data` as a numpy array and the tensor dtype it gets (Python floats: float32, ints: int64)."""
    array = np.asarray(data)
    if dtype is not None:
        return array, dtype
    if array.dtype == object:
        raise TypeError(f"cannot make a tensor from {type(data).__name__} holding non-numbers")
    if not isinstance(data, np.ndarray | np.generic) and array.dtype.kind == "f":
        return array, dt.DEFAULT_FLOAT
    return array, dt.as_dtype(array.dtype)


class Tensor(ElementwiseOps, ReduceOps, MovementOps, IndexingOps):
    """A lazily evaluated n-dimensional array of one dtype on one tinyhw device.

    `Tensor(data, dtype=None, device=None)`: `data` is a numpy array, a (nested) list, a Python
    or numpy scalar, or a Tensor. numpy arrays keep their dtype; Python floats become float32,
    ints int64, bools bool; `dtype` converts. `device` is a tinyhw.Device or a name ("cpu");
    default: `tinyhw.Device()`. Python scalars stay lazy constants; arrays are copied to the
    device at once, so the caller may reuse them.
    """

    __slots__ = ("node",)
    __hash__ = object.__hash__  # == is elementwise; tensors hash by identity, like PyTorch's
    node: graph.Node

    def __init__(self, data: Any, dtype: Any = None, device: Any = None) -> None:
        dtype = None if dtype is None else dt.as_dtype(dtype)
        if isinstance(data, Tensor):
            moved = data.to(device) if device is not None else data
            self.node = (moved.cast(dtype) if dtype is not None else moved).node
            return
        dev = _device(device)
        if isinstance(data, bool | int | float) and not isinstance(data, np.generic):
            dtype = dtype or dt.scalar_dtype(data)
            runtime.check_dtype(dev, dtype)
            self.node = graph.const(data, dtype, (), dev)
            return
        array, dtype = _host_array(data, dtype)
        runtime.check_dtype(dev, dtype)
        self.node = graph.buffer(runtime.upload(array, dtype, dev), dtype, tuple(array.shape), dev)

    @classmethod
    def _wrap(cls, node: graph.Node) -> Tensor:
        """A Tensor for an existing graph node (no copy)."""
        tensor = object.__new__(cls)
        tensor.node = node
        return tensor

    # -- properties --

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of every dim."""
        return self.node.shape

    @property
    def dtype(self) -> dt.DType:
        """The element type."""
        return self.node.dtype

    @property
    def device(self) -> tinyhw.Device:
        """The tinyhw device holding the data."""
        return self.node.device

    @property
    def ndim(self) -> int:
        """Number of dims."""
        return len(self.node.shape)

    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.node.shape)

    @property
    def size(self) -> int:
        """Number of elements (numpy's `size`)."""
        return self.numel()

    def __len__(self) -> int:
        if not self.node.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.node.shape[0]

    # -- evaluation and conversion --

    def realize(self) -> Tensor:
        """Compute the values now (enqueued on the device; returns without waiting). Returns self."""
        runtime.realize([self.node])
        return self

    def numpy(self) -> np.ndarray:
        """The values as a new numpy array (bfloat16 as float32); waits for the device."""
        if self.node.op == "const":
            return dt.from_numpy(dt.to_numpy(np.full(self.shape, self.node.arg), self.dtype), self.dtype)
        self.realize()
        return runtime.download(self.node)

    def tolist(self) -> Any:
        """The values as (nested) Python lists, or a Python scalar for a 0-d tensor."""
        return self.numpy().tolist()

    def item(self) -> Any:
        """The value of a one-element tensor as a Python scalar; ValueError otherwise."""
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def to(self, device: Any) -> Tensor:
        """This tensor on `device` (itself when it is there already)."""
        dev = _device(device)
        if dev is self.device:
            return self
        runtime.check_dtype(dev, self.dtype)
        return Tensor(self.numpy(), dtype=self.dtype, device=dev)

    def cast(self, dtype: Any) -> Tensor:
        """The values converted to `dtype` (floats to ints truncate toward zero; to bool means != 0)."""
        dtype = dt.as_dtype(dtype)
        runtime.check_dtype(self.device, dtype)
        return self._wrap(graph.elementwise("cast", self.node, dtype=dtype))

    def astype(self, dtype: Any) -> Tensor:
        """numpy's name for `cast`."""
        return self.cast(dtype)

    def contiguous(self) -> Tensor:
        """The same values in a buffer of their own, row-major (a no-op for realized contiguous data)."""
        return self if self.node.realized else self._wrap(graph.contiguous(self.node))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError(f"only one-element integer tensors can be used as an index, not {self.dtype} {self.shape}")
        return int(self.item())

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}, device={self.device.name})"
