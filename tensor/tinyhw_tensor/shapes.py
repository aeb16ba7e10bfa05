"""Shape arithmetic shared by the tensor operations: axes, broadcasting, reshape sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["AxisError", "normalize_axis", "normalize_axes", "broadcast_shapes", "resolve_shape", "as_shape"]


class AxisError(IndexError, ValueError):
    """An axis is out of range for a tensor's number of dims (an IndexError and a ValueError, like numpy's)."""


def normalize_axis(axis: int, ndim: int) -> int:
    """`axis` in [0, ndim) (negative counts from the end); AxisError when out of range."""
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise AxisError(f"axis {axis} is out of bounds for a tensor of dimension {ndim}")
    return axis % ndim


def normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Sorted distinct axes from an int, a sequence, or None (all); ValueError on repeats."""
    if axis is None:
        return tuple(range(ndim))
    axes = [normalize_axis(a, ndim) for a in ((axis,) if isinstance(axis, int) else axis)]
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(axes))


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy's broadcast of `shapes`; ValueError naming them when they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be broadcast together")
        out.append(big.pop() if big else 1)
    return tuple(out)


def as_shape(args: tuple[Any, ...]) -> tuple[int, ...]:
    """A shape from `f(2, 3)` or `f((2, 3))` style arguments."""
    if len(args) == 1 and isinstance(args[0], Sequence):
        args = tuple(args[0])
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in args):
        raise TypeError(f"a shape must be ints, got {args}")
    return tuple(int(s) for s in args)


def resolve_shape(old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    """`new` with one -1 inferred so it holds as many elements as `old`; ValueError otherwise."""
    size = math.prod(old)
    unknown = [i for i, s in enumerate(new) if s == -1]
    if len(unknown) > 1 or any(s < -1 for s in new):
        raise ValueError(f"invalid shape {new}: at most one -1 and no other negative sizes")
    if unknown:
        known = math.prod(s for s in new if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape tensor of shape {old} ({size} elements) into shape {new}")
        new = tuple(size // known if s == -1 else s for s in new)
    if math.prod(new) != size:
        raise ValueError(f"cannot reshape tensor of shape {old} ({size} elements) into shape {new}")
    return new
