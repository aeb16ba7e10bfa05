"""Views: movement operations as index arithmetic, never as copies.

A `View` maps a multi-index over its `shape` to a flat element offset into contiguous data,
`offset + sum(index[d] * strides[d])`, valid only inside `mask` (one half-open range per dim;
reads outside it give 0, which is how padding works). Reshape, permute, expand, shrink, pad,
flip and stepping all produce a new View. A `ShapeTracker` is a stack of Views, the last one
outermost: when a reshape of a non-contiguous view cannot be written as one View, a new one is
pushed and the flat offset of the outer view is unflattened into the inner view's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyhw.kernel.ir import Value

__all__ = ["View", "ShapeTracker", "contiguous_strides", "unflatten", "flatten"]

Shape = tuple[int, ...]
Mask = tuple[tuple[int, int], ...] | None


def contiguous_strides(shape: Shape) -> Shape:
    """Row-major strides of `shape` in elements (0 for size-1 dims)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step if size != 1 else 0)
        step *= size
    return tuple(reversed(strides))


def _canonical(shape: Shape, strides: Shape, mask: Mask) -> tuple[Shape, Mask]:
    strides = tuple(0 if s == 1 else st for s, st in zip(shape, strides))
    if mask is None:
        return strides, None
    if any(lo >= hi for lo, hi in mask):
        return strides, tuple((0, 0) for _ in shape)
    if all(lo == 0 and hi == s for (lo, hi), s in zip(mask, shape)):
        return strides, None
    return strides, mask


@dataclass(frozen=True, slots=True)
class View:
    """One strided, optionally masked window onto contiguous data (see the module docstring)."""

    shape: Shape
    strides: Shape
    offset: int = 0
    mask: Mask = None

    @staticmethod
    def make(shape: Shape, strides: Shape, offset: int = 0, mask: Mask = None) -> View:
        """A View in canonical form (size-1 strides zero, trivial masks dropped)."""
        strides, mask = _canonical(shape, strides, mask)
        return View(shape, strides, offset, mask)

    @staticmethod
    def identity(shape: Shape) -> View:
        """The contiguous view of `shape`."""
        return View(shape, contiguous_strides(shape))

    @property
    def is_identity(self) -> bool:
        """True when this view is plain contiguous data from offset 0."""
        return self.offset == 0 and self.mask is None and self.strides == contiguous_strides(self.shape)

    @property
    def empty(self) -> bool:
        """True when no element is valid (a fully masked view)."""
        return self.mask is not None and any(lo >= hi for lo, hi in self.mask)

    def _mask_or_full(self) -> tuple[tuple[int, int], ...]:
        return self.mask if self.mask is not None else tuple((0, s) for s in self.shape)

    def permute(self, order: Shape) -> View:
        """Dims reordered: new dim i is old dim order[i]."""
        mask = None if self.mask is None else tuple(self.mask[o] for o in order)
        return View(tuple(self.shape[o] for o in order), tuple(self.strides[o] for o in order), self.offset, mask)

    def expand(self, shape: Shape) -> View:
        """Size-1 dims broadcast to `shape` (stride 0)."""
        mask = None
        if self.mask is not None:
            mask = tuple(
                m if s == n else ((0, n) if m[1] > m[0] else (0, 0)) for m, s, n in zip(self.mask, self.shape, shape)
            )
        return View.make(
            shape, tuple(st if s == n else 0 for st, s, n in zip(self.strides, self.shape, shape)), self.offset, mask
        )

    def shrink(self, bounds: tuple[tuple[int, int], ...]) -> View:
        """The sub-box [start, end) of every dim."""
        offset = self.offset + sum(b * st for (b, _), st in zip(bounds, self.strides))
        shape = tuple(e - b for b, e in bounds)
        mask = None
        if self.mask is not None:
            mask = tuple((min(max(lo - b, 0), n), min(max(hi - b, 0), n))
                         for (lo, hi), (b, _), n in zip(self.mask, bounds, shape))  # fmt: skip
        return View.make(shape, self.strides, offset, mask)

    def pad(self, widths: tuple[tuple[int, int], ...]) -> View:
        """`before` and `after` invalid (zero) elements added around every dim."""
        offset = self.offset - sum(b * st for (b, _), st in zip(widths, self.strides))
        shape = tuple(s + b + a for s, (b, a) in zip(self.shape, widths))
        mask = tuple((lo + b, hi + b) for (lo, hi), (b, _) in zip(self._mask_or_full(), widths))
        return View.make(shape, self.strides, offset, mask)

    def flip(self, axes: tuple[int, ...]) -> View:
        """The order of elements reversed along `axes`."""
        offset = self.offset + sum((self.shape[a] - 1) * self.strides[a] for a in axes)
        strides = tuple(-st if d in axes else st for d, st in enumerate(self.strides))
        mask = None
        if self.mask is not None:
            mask = tuple((s - hi, s - lo) if d in axes else (lo, hi)
                         for d, ((lo, hi), s) in enumerate(zip(self.mask, self.shape)))  # fmt: skip
        return View.make(self.shape, strides, offset, mask)

    def step(self, steps: Shape) -> View:
        """Every steps[d]-th element of each dim (steps > 0)."""
        shape = tuple(-(-s // k) for s, k in zip(self.shape, steps))
        mask = None
        if self.mask is not None:
            mask = tuple((-(-lo // k), -(-hi // k)) for (lo, hi), k in zip(self.mask, steps))
        return View.make(shape, tuple(st * k for st, k in zip(self.strides, steps)), self.offset, mask)

    def reshape(self, shape: Shape) -> View | None:
        """The same elements under `shape` (equal size) as one View, or None when that is impossible."""
        if shape == self.shape:
            return self
        if self.empty or math.prod(shape) == 0:
            return View.make(shape, (0,) * len(shape), 0, None if not self.empty else tuple((0, 0) for _ in shape))
        if self.mask is None and self.strides == contiguous_strides(self.shape):
            return View(shape, contiguous_strides(shape), self.offset)
        return _reshape_strided(self, shape)

    def expr(self, index: tuple[Value, ...]) -> tuple[Value, Value | None]:
        """(flat offset, validity or None) of the element at `index` (kernel IR values over `shape`)."""
        from tinyhw.kernel.dtypes import int32
        from tinyhw.kernel.ir import const

        flat = const(self.offset, int32)
        for i, st in zip(index, self.strides):
            if st != 0:
                flat = flat + i * st
        valid = None
        if self.mask is not None:
            for i, (lo, hi), s in zip(index, self.mask, self.shape):
                if lo > 0 or hi < s:
                    check = (i >= lo) & (i < hi) if lo > 0 else i < hi
                    valid = check if valid is None else valid & check
        return flat, valid


def _reshape_strided(view: View, shape: Shape) -> View | None:
    """Reshape by grouping old and new dims of equal products; each old group must be contiguous."""
    old = [(s, st, view.mask[d] if view.mask else None) for d, (s, st) in enumerate(zip(view.shape, view.strides))]
    old = [o for o in old if o[0] != 1]
    new = [(d, s) for d, s in enumerate(shape) if s != 1]
    strides, masks = [0] * len(shape), [(0, s) for s in shape]
    for i, j in _equal_products([o[0] for o in old], [s for _, s in new]):
        if not _assign_group([old[k] for k in i], [new[k] for k in j], strides, masks):
            return None
    return View.make(shape, tuple(strides), view.offset, tuple(masks) if view.mask is not None else None)


def _equal_products(old: list[int], new: list[int]):
    """Consecutive runs (old positions, new positions) whose sizes have equal products (sizes > 1)."""
    i = j = 0
    while i < len(old):
        run_old, run_new, po, pn = [i], [j], old[i], new[j]
        while po != pn:
            if po < pn:
                i += 1
                run_old.append(i)
                po *= old[i]
            else:
                j += 1
                run_new.append(j)
                pn *= new[j]
        yield run_old, run_new
        i, j = i + 1, j + 1


def _assign_group(group_old: list, group_new: list, strides: list[int], masks: list) -> bool:
    """Fill the new strides (and mask) of one group; False when the old dims are not mergeable."""
    old_masked = [m for s, _, m in group_old if m is not None and m != (0, s)]
    if old_masked:
        if len(group_old) != 1 or len(group_new) != 1:
            return False
        masks[group_new[0][0]] = old_masked[0]
    for (_, st1, _), (s2, st2, _) in zip(group_old, group_old[1:]):
        if st1 != st2 * s2:
            return False
    stride = group_old[-1][1]
    for d, s in reversed(group_new):
        strides[d] = stride
        stride *= s
    return True


def unflatten(flat: Value, shape: Shape) -> tuple[Value, ...]:
    """The multi-index over `shape` of flat row-major offset `flat` (kernel IR values)."""
    index, step = [], 1
    for d in reversed(range(len(shape))):
        part = flat // step if step != 1 else flat
        index.append(part % shape[d] if d > 0 else part)
        step *= shape[d]
    return tuple(reversed(index))


def flatten(index: tuple[Value, ...], shape: Shape) -> Value:
    """The flat row-major offset of `index` over `shape` (kernel IR values)."""
    from tinyhw.kernel.dtypes import int32
    from tinyhw.kernel.ir import const

    flat = const(0, int32)
    for i, st in zip(index, contiguous_strides(shape)):
        if st != 0:
            flat = flat + i * st
    return flat


@dataclass(frozen=True, slots=True)
class ShapeTracker:
    """A stack of Views; the last is applied to the index first (see the module docstring)."""

    views: tuple[View, ...]
    _hash: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self.views))  # trackers key kernel caches: hash once

    def __hash__(self) -> int:
        return self._hash

    @staticmethod
    def identity(shape: Shape) -> ShapeTracker:
        """The tracker of contiguous data of `shape`."""
        return ShapeTracker((View.identity(shape),))

    @property
    def shape(self) -> Shape:
        """The shape this tracker presents."""
        return self.views[-1].shape

    @property
    def is_identity(self) -> bool:
        """True when the tracker reads its source unchanged."""
        return len(self.views) == 1 and self.views[0].is_identity

    def _replace_last(self, view: View) -> ShapeTracker:
        return ShapeTracker(self.views[:-1] + (view,))

    def reshape(self, shape: Shape) -> ShapeTracker:
        """Same elements under `shape`; pushes a new View when the last one cannot be reshaped."""
        view = self.views[-1].reshape(shape)
        if view is not None:
            return self._replace_last(view)
        return ShapeTracker(self.views + (View.identity(shape),))

    def permute(self, order: Shape) -> ShapeTracker:
        """See View.permute."""
        return self._replace_last(self.views[-1].permute(order))

    def expand(self, shape: Shape) -> ShapeTracker:
        """See View.expand."""
        return self._replace_last(self.views[-1].expand(shape))

    def shrink(self, bounds: tuple[tuple[int, int], ...]) -> ShapeTracker:
        """See View.shrink."""
        return self._replace_last(self.views[-1].shrink(bounds))

    def pad(self, widths: tuple[tuple[int, int], ...]) -> ShapeTracker:
        """See View.pad."""
        return self._replace_last(self.views[-1].pad(widths))

    def flip(self, axes: tuple[int, ...]) -> ShapeTracker:
        """See View.flip."""
        return self._replace_last(self.views[-1].flip(axes))

    def step(self, steps: Shape) -> ShapeTracker:
        """See View.step."""
        return self._replace_last(self.views[-1].step(steps))

    def expr(self, index: tuple[Value, ...]) -> tuple[Value, Value | None]:
        """(flat offset into the source, validity or None) for kernel IR `index` over `shape`."""
        flat, valid = self.views[-1].expr(index)
        for view in reversed(self.views[:-1]):
            flat, inner = view.expr(unflatten(flat, view.shape))
            valid = inner if valid is None else valid if inner is None else valid & inner
        return flat, valid
