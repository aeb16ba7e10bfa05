"""Movement: reshape, permute, expand, pad, flip, and joining/splitting — all views, never copies.

Each operation composes a ShapeTracker onto the tensor's node (`graph.movement`); the data is
only re-indexed when a kernel reads it. `cat` pads every part to the full size and adds them,
which fuses into one kernel whose loads are masked to each part's region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import graph
from tinyhw_tensor.graph import Node
from tinyhw_tensor.shapes import as_shape, normalize_axes, normalize_axis, resolve_shape

if TYPE_CHECKING:
    from tinyhw_tensor.tensor import Tensor

__all__ = ["MovementOps", "cat", "stack"]


class MovementOps:
    """Movement methods of Tensor (mixin; see the module docstring)."""

    __slots__ = ()
    node: Node

    def _move(self, method: str, arg: Any) -> Tensor:
        return self._wrap(graph.movement(self.node, method, arg))

    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in `shape` (one size may be -1: inferred); ValueError on a size mismatch."""
        new = resolve_shape(self.shape, as_shape(shape))
        return self if new == self.shape else self._move("reshape", new)

    def view(self, *shape: Any) -> Tensor:
        """PyTorch's name for `reshape` (always a view here)."""
        return self.reshape(*shape)

    def permute(self, *dims: Any) -> Tensor:
        """Dims reordered: dim i of the result is dim dims[i] of self."""
        order = tuple(normalize_axis(d, self.ndim) for d in as_shape(dims))
        if sorted(order) != list(range(self.ndim)):
            raise ValueError(f"permute needs a permutation of {self.ndim} dims, got {as_shape(dims)}")
        return self if order == tuple(range(self.ndim)) else self._move("permute", order)

    def transpose(self, dim0: int = 0, dim1: int = 1) -> Tensor:
        """Dims `dim0` and `dim1` swapped."""
        order = list(range(self.ndim))
        a, b = normalize_axis(dim0, self.ndim), normalize_axis(dim1, self.ndim)
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        """All dims reversed (the matrix transpose for 2-D)."""
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The last two dims swapped (batched matrix transpose)."""
        return self.transpose(-2, -1)

    def expand(self, *shape: Any) -> Tensor:
        """Size-1 dims (and new leading dims) broadcast to `shape`; -1 keeps a size. A view."""
        new = as_shape(shape)
        if len(new) < self.ndim:
            raise ValueError(f"cannot expand shape {self.shape} to {new}: fewer dims")
        lead = len(new) - self.ndim
        new = new[:lead] + tuple(s if n == -1 else n for s, n in zip(self.shape, new[lead:]))
        for s, n in zip(self.shape, new[lead:]):
            if s != n and s != 1:
                raise ValueError(f"cannot expand shape {self.shape} to {new}")
        from tinyhw_tensor.elementwise import expand_to

        return self._wrap(expand_to(self.node, new))

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        """numpy's broadcast_to: `expand` to `shape`."""
        return self.expand(tuple(shape))

    def squeeze(self, axis: int | Sequence[int] | None = None) -> Tensor:
        """Size-1 dims removed (all, or those of `axis`; others named are left alone, as in PyTorch)."""
        axes = normalize_axes(axis, self.ndim)
        return self.reshape(tuple(s for d, s in enumerate(self.shape) if not (d in axes and s == 1)))

    def unsqueeze(self, dim: int) -> Tensor:
        """A size-1 dim inserted at `dim` (in [-ndim-1, ndim])."""
        d = normalize_axis(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dims start_dim..end_dim merged into one."""
        if self.ndim == 0:
            return self.reshape(1)
        a, b = normalize_axis(start_dim, self.ndim), normalize_axis(end_dim, self.ndim)
        return self.reshape(self.shape[:a] + (math.prod(self.shape[a : b + 1]),) + self.shape[b + 1 :])

    def _shrink(self, bounds: Sequence[tuple[int, int]]) -> Tensor:
        bounds = tuple(bounds)
        if all(b == (0, s) for b, s in zip(bounds, self.shape)):
            return self
        return self._move("shrink", bounds)

    def pad(self, widths: Sequence[Any], value: Any = 0) -> Tensor:
        """`value` added around the data: `widths` holds a (before, after) pair per dim from the first
        (numpy's form; None or a shorter list leaves the rest), or a flat list of ints in PyTorch's
        F.pad form (pairs from the *last* dim). Negative widths crop."""
        pairs = _pad_pairs(widths, self.ndim)
        crop = tuple((max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(pairs, self.shape))
        x = self._shrink(crop)
        grow = tuple((max(b, 0), max(a, 0)) for b, a in pairs)
        if all(g == (0, 0) for g in grow):
            return x
        padded = x._move("pad", grow)
        if value == 0:
            return padded
        inside = graph.movement(graph.const(True, dt.bool_, x.shape, x.device), "pad", grow)
        return padded.where(self._wrap(inside), value)

    def flip(self, axis: int | Sequence[int] | None = None) -> Tensor:
        """The order of elements reversed along `axis` (all dims when None)."""
        axes = tuple(a for a in normalize_axes(axis, self.ndim) if self.shape[a] > 1)
        return self._move("flip", axes) if axes else self

    def repeat(self, *repeats: Any) -> Tensor:
        """The tensor tiled `repeats[i]` times along dim i (PyTorch's repeat, numpy's tile)."""
        reps = as_shape(repeats)
        if len(reps) < self.ndim:
            raise ValueError(f"repeat needs at least {self.ndim} counts for shape {self.shape}, got {reps}")
        shape = (1,) * (len(reps) - self.ndim) + self.shape
        x = self.reshape(tuple(v for s in shape for v in (1, s)))
        x = x.expand(tuple(v for r, s in zip(reps, shape) for v in (r, s)))
        return x.reshape(tuple(r * s for r, s in zip(reps, shape)))

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """Views of consecutive pieces along `dim`: of `split_size` each (the last may be smaller), or of
        the given sizes (which must add up to the dim's size)."""
        d = normalize_axis(dim, self.ndim)
        size = self.shape[d]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            if step <= 0:
                raise ValueError(f"split size must be positive, got {step}")
            sizes = [min(step, size - s) for s in range(0, size, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != size or any(s < 0 for s in sizes):
                raise ValueError(f"split sizes {sizes} do not add up to dim {d}'s size {size}")
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        full = [(0, s) for s in self.shape]
        return tuple(self._shrink(full[:d] + [(b, b + n)] + full[d + 1 :]) for b, n in zip(starts, sizes))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """`split` into `chunks` pieces of equal size (the last may be smaller)."""
        size = self.shape[normalize_axis(dim, self.ndim)]
        return self.split(max(1, -(-size // chunks)), dim)


def _pad_pairs(widths: Sequence[Any], ndim: int) -> list[tuple[int, int]]:
    """Per-dim (before, after) pairs from numpy-style pairs or a flat PyTorch F.pad list."""
    widths = list(widths)
    if widths and all(isinstance(w, int) for w in widths):
        if len(widths) % 2 or len(widths) // 2 > ndim:
            raise ValueError(f"a flat pad list needs an even number of ints, at most {2 * ndim}, got {widths}")
        pairs = [(widths[i], widths[i + 1]) for i in range(0, len(widths), 2)]
        return [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]
    if len(widths) > ndim:
        raise ValueError(f"{len(widths)} pad pairs for a tensor of {ndim} dims")
    pairs = [(0, 0) if w is None else (int(w[0]), int(w[1])) for w in widths]
    return pairs + [(0, 0)] * (ndim - len(pairs))


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors joined along `dim`; all other sizes must match (ValueError naming the shapes)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    first = tensors[0]
    d = normalize_axis(dim, first.ndim)
    for t in tensors:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != d):
            raise ValueError(f"cat along dim {d} needs equal other sizes, got shapes {[x.shape for x in tensors]}")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = dt.promote(dtype, t.dtype)
    total, out = sum(t.shape[d] for t in tensors), None
    start = 0
    for t in tensors:
        widths = [(0, 0)] * first.ndim
        widths[d] = (start, total - start - t.shape[d])
        part = t.cast(dtype).pad(widths)
        out = part if out is None else (out | part if dtype == dt.bool_ else out + part)
        start += t.shape[d]
    return out


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Tensors of one shape joined along a new dim `dim`."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {[t.shape for t in tensors]}")
    d = normalize_axis(dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)
