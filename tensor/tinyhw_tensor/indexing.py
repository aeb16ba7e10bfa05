"""Indexing: `t[...]` with numpy's rules, and `gather`.

Ints, slices (any step, negative too), None and Ellipsis are *basic* indexing: one shrink, flip,
step and reshape of the view, no data moved. Integer tensors, lists and arrays are *advanced*
indexing: they broadcast together, and their dims replace the indexed ones in place when those
are adjacent, else go first (numpy's rule); the values are read through the `gather` primitive,
fused into whatever kernel consumes them. Bool masks become the integer indices of their true
elements (this reads the mask back to the host, since the result's shape depends on it).

Out-of-range ints and host (list or numpy) indices raise IndexError; indices held in a device
tensor are not checked on the host — an out-of-range one reads 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import graph
from tinyhw_tensor.graph import Node
from tinyhw_tensor.shapes import broadcast_shapes, normalize_axis

if TYPE_CHECKING:
    from tinyhw_tensor.tensor import Tensor

__all__ = ["IndexingOps"]


def _is_advanced(key: Any) -> bool:
    from tinyhw_tensor.tensor import Tensor

    return isinstance(key, Tensor | list | np.ndarray)


def _expand_key(key: Any, ndim: int) -> list[Any]:
    """The key as a list with Ellipsis expanded and bool masks turned into integer indices."""
    key = list(key) if isinstance(key, tuple) else [key]
    expanded = []
    for k in key:
        mask = _as_mask(k)
        expanded.extend([k] if mask is None else list(np.nonzero(mask)))
    used = sum(1 for k in expanded if k is not None and k is not Ellipsis)
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    ellipses = [i for i, k in enumerate(expanded) if k is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    at = ellipses[0] if ellipses else len(expanded)
    return expanded[:at] + [slice(None)] * (ndim - used) + expanded[at + 1 :]


def _as_mask(k: Any) -> np.ndarray | None:
    """A bool index as a numpy array (read back from the device if needed), else None."""
    from tinyhw_tensor.tensor import Tensor

    if isinstance(k, Tensor) and k.dtype == dt.bool_:
        return k.numpy()
    if isinstance(k, np.ndarray | list) and np.asarray(k).dtype == bool:
        return np.asarray(k)
    return None


def _slice_bounds(s: slice, size: int) -> tuple[tuple[int, int], bool, int]:
    """(shrink bounds, flip, step) selecting slice `s` of a dim of `size`."""
    start, stop, step = s.indices(size)
    n = len(range(start, stop, step))
    if n == 0:
        return (0, 0), False, 1
    if step > 0:
        return (start, start + (n - 1) * step + 1), False, step
    return (start + (n - 1) * step, start + 1), True, -step


def _host_index(k: Any, size: int, axis: int) -> np.ndarray:
    """A list/array index checked against `size` (IndexError when out of range)."""
    array = np.asarray(k)
    if array.dtype.kind not in "iu" and array.size:
        raise IndexError(f"arrays used as indices must be of integer or bool type, got {array.dtype}")
    array = array.astype(np.int64)
    bad = array[(array < -size) | (array >= size)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with size {size}")
    return array


class IndexingOps:
    """Indexing methods of Tensor (mixin; see the module docstring)."""

    __slots__ = ()
    node: Node

    def __getitem__(self, key: Any) -> Tensor:
        bounds, flips, steps, shape, advanced = [], [], [], [], []
        dims = iter(range(self.ndim))
        for k in _expand_key(key, self.ndim):
            if k is None:
                shape.append(1)
                continue
            d = next(dims)
            b, flip, step, size = _dim_index(k, self.shape[d], d)
            bounds.append(b)
            steps.append(step)
            flips += [d] if flip else []
            advanced += [(len(shape), d, k)] if _is_advanced(k) else []
            shape += [size] if size is not None else []
        x = self._shrink(bounds).flip(tuple(flips))
        if any(s != 1 for s in steps):
            x = x._move("step", tuple(steps))
        x = x.reshape(tuple(shape))
        return x._advanced(advanced) if advanced else x

    def _advanced(self, advanced: list[tuple[int, int, Any]]) -> Tensor:
        """Apply advanced indices: (dim of self, original axis, index) triples."""
        from tinyhw_tensor.tensor import Tensor

        dims = [d for d, _, _ in advanced]
        index = [k if isinstance(k, Tensor) else Tensor(_host_index(k, self.shape[d], a), device=self.device)
                 for d, a, k in advanced]  # fmt: skip
        sizes = [self.shape[d] for d in dims]
        flat = _flat_index(index, sizes)
        rest = [d for d in range(self.ndim) if d not in dims]
        data = self.permute(dims + rest).reshape((math.prod(sizes),) + tuple(self.shape[d] for d in rest))
        out = data._take(flat)
        if dims[0] == 0 or dims != list(range(dims[0], dims[0] + len(dims))):
            return out  # numpy: the indexed dims go first unless they are adjacent
        lead, k = dims[0], flat.ndim
        return out.permute(list(range(k, k + lead)) + list(range(k)) + list(range(k + lead, out.ndim)))

    def _take(self, index: Tensor) -> Tensor:
        """self[index] along dim 0 for an integer tensor `index` (result: index.shape + self.shape[1:])."""
        lead, rest = index.shape, self.shape[1:]
        data = self.reshape((1,) * len(lead) + self.shape).expand(lead + self.shape)
        at = index.reshape(lead + (1,) * (len(rest) + 1)).expand(lead + (1,) + rest)
        out = self._wrap(graph.gather(data.node, at.node, len(lead)))
        return out.reshape(lead + rest)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """PyTorch's gather: out[i][j] = self[index[i][j]][j] for dim 0 (likewise for other dims).
        `index` has self's number of dims and sizes <= self's in the other dims."""
        d = normalize_axis(dim, self.ndim)
        if index.ndim != self.ndim or any(i > s for a, (i, s) in enumerate(zip(index.shape, self.shape)) if a != d):
            raise ValueError(f"gather index of shape {index.shape} does not fit data of shape {self.shape} at dim {d}")
        if index.dtype.kind not in "iu":
            raise TypeError(f"gather index must be an integer tensor, got {index.dtype}")
        data = self._shrink([(0, s if a == d else i) for a, (i, s) in enumerate(zip(index.shape, self.shape))])
        return self._wrap(graph.gather(data.node, index.node, d))


def _dim_index(k: Any, size: int, axis: int) -> tuple[tuple[int, int], bool, int, int | None]:
    """(shrink bounds, flip, step, size in the result or None when the dim goes) for key `k` of a dim."""
    if _is_advanced(k):
        return (0, size), False, 1, size
    if isinstance(k, slice):
        bounds, flip, step = _slice_bounds(k, size)
        return bounds, flip, step, -(-(bounds[1] - bounds[0]) // step)
    i = _int_index(k, size, axis)
    return (i, i + 1), False, 1, None


def _flat_index(index: list[Tensor], sizes: list[int]) -> Tensor:
    """Integer index tensors (negative ones wrapped) broadcast together and combined row-major."""
    for t in index:
        if t.dtype.kind not in "iu":
            raise IndexError(f"tensors used as indices must be integer or bool, got {t.dtype}")
    shape = broadcast_shapes(*(t.shape for t in index))
    flat = None
    for t, size in zip(index, sizes):
        t = t.cast(dt.int32)
        t = t.where(t >= 0, t + size).expand(shape)
        flat = t if flat is None else flat * size + t
    return flat


def _int_index(k: Any, size: int, axis: int) -> int:
    """An int index normalised into [0, size); IndexError when out of range."""
    if isinstance(k, bool):
        raise IndexError("a bool scalar is not a valid index; use a bool tensor as a mask")
    try:
        i = int(k.__index__())
    except (AttributeError, TypeError):
        raise IndexError(f"only integers, slices, None, ..., and integer or bool tensors are valid indices, "
                         f"got {type(k).__name__}") from None  # fmt: skip
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
    return i % size
