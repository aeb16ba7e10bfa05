"""Reductions (sum, max, min, prod and what is built on them: mean, var, softmax, argmax, cumsum)
and matmul, which is a broadcast multiply summed over the shared axis.

`axis` (PyTorch: `dim`, accepted too) is an int, a sequence of ints, or None for all dims;
`keepdim` keeps reduced dims as size 1. Sums and products of bool and integer tensors are int64,
as in numpy and PyTorch. A reduction of many elements to very few outputs is split in two
stages, so every core gets a share of the work.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import graph
from tinyhw_tensor.graph import Node
from tinyhw_tensor.shapes import broadcast_shapes, normalize_axes, normalize_axis

if TYPE_CHECKING:
    from tinyhw_tensor.tensor import Tensor

__all__ = ["ReduceOps", "matmul"]

Axis = int | Sequence[int] | None
SPLIT_MIN = 1 << 16
"""Reductions of at least this many elements per output are split in two stages when the output
is too small to give every core work."""
SPLIT_FACTORS = (256, 128, 64, 32, 16, 8)


def _pick_axis(axis: Axis, dim: Axis) -> Axis:
    if dim is not None:
        if axis is not None:
            raise TypeError("give axis or dim, not both")
        return dim
    return axis


def _split_plan(shape: tuple[int, ...], axes: tuple[int, ...], cores: int) -> tuple[int, int] | None:
    """(axis, factor) splitting a big reduction with a small output in two stages, or None."""
    outputs = math.prod(s for d, s in enumerate(shape) if d not in axes)
    if outputs >= 2 * cores or math.prod(shape[d] for d in axes) // max(outputs, 1) < SPLIT_MIN:
        return None
    for axis in sorted(axes, key=lambda d: -shape[d]):
        for factor in SPLIT_FACTORS:
            if shape[axis] % factor == 0 and shape[axis] // factor >= 256:
                return axis, factor
    return None


def _reduce_node(node: Node, kind: str, axes: tuple[int, ...]) -> Node:
    """graph.reduce, split in two stages when `_split_plan` says so."""
    plan = _split_plan(node.shape, axes, node.device.info.compute_units)
    if plan is None:
        return graph.reduce(node, kind, axes)
    a, k = plan
    split = graph.movement(node, "reshape", node.shape[:a] + (k, node.shape[a] // k) + node.shape[a + 1 :])
    inner = tuple(d + (d > a) for d in axes if d != a) + (a + 1,)
    partial = graph.reduce(split, kind, inner)
    total = graph.reduce(partial, kind, (a,))
    out_shape = tuple(1 if d in axes else s for d, s in enumerate(node.shape))
    return graph.movement(total, "reshape", out_shape)


class ReduceOps:
    """Reduction methods of Tensor (mixin; see the module docstring)."""

    __slots__ = ()
    node: Node

    def _reduce(self, kind: str, axis: Axis, keepdim: bool) -> Tensor:
        axes = normalize_axes(axis, self.ndim)
        x = self
        if kind in ("sum", "prod") and self.dtype.kind in "biu":
            x = self.cast(dt.int64)
        if not axes:
            return x
        out_shape = tuple(1 if d in axes else s for d, s in enumerate(self.shape))
        if any(self.shape[d] == 0 for d in axes):
            if kind in ("max", "min"):
                raise ValueError(f"{kind} of an empty axis has no identity (shape {self.shape}, axis {axis})")
            out = self._wrap(graph.const(int(kind == "prod"), x.dtype, out_shape, x.device))
        else:
            out = self._wrap(_reduce_node(x.node, kind, axes))
        return out if keepdim else out.reshape(tuple(s for d, s in enumerate(self.shape) if d not in axes))

    def sum(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """Sum over `axis` (int64 for bool and integer tensors)."""
        return self._reduce("sum", _pick_axis(axis, dim), keepdim)

    def prod(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """Product over `axis` (int64 for bool and integer tensors)."""
        return self._reduce("prod", _pick_axis(axis, dim), keepdim)

    def max(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """Maximum over `axis` (values only; see argmax). ValueError for an empty axis."""
        return self._reduce("max", _pick_axis(axis, dim), keepdim)

    def min(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """Minimum over `axis` (values only; see argmin). ValueError for an empty axis."""
        return self._reduce("min", _pick_axis(axis, dim), keepdim)

    def any(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """True where any element over `axis` is nonzero."""
        return self.cast(dt.bool_)._reduce("max", _pick_axis(axis, dim), keepdim)

    def all(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """True where every element over `axis` is nonzero."""
        return self.cast(dt.bool_)._reduce("min", _pick_axis(axis, dim), keepdim)

    def _count(self, axis: Axis) -> int:
        return math.prod(self.shape[d] for d in normalize_axes(axis, self.ndim))

    def mean(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """Arithmetic mean over `axis` (float32 for integer tensors); NaN for an empty axis."""
        axis = _pick_axis(axis, dim)
        x = self.cast(dt.float_of(self.dtype))
        n = self._count(axis)
        return x.sum(axis, keepdim) / n if n else x.sum(axis, keepdim) / 0.0

    def var(self, axis: Axis = None, keepdim: bool = False, correction: int | None = None, *, ddof: int | None = None,
            dim: Axis = None) -> Tensor:  # fmt: skip
        """Variance over `axis`, dividing by N - correction (default 1, like PyTorch; numpy's `ddof` works too)."""
        axis = _pick_axis(axis, dim)
        correction = ddof if ddof is not None else 1 if correction is None else correction
        x = self.cast(dt.float_of(self.dtype))
        deviation = x - x.mean(axis, keepdim=True)
        return (deviation * deviation).sum(axis, keepdim) / max(self._count(axis) - correction, 0)

    def std(self, axis: Axis = None, keepdim: bool = False, correction: int | None = None, *, ddof: int | None = None,
            dim: Axis = None) -> Tensor:  # fmt: skip
        """Standard deviation: sqrt of `var` with the same arguments."""
        return self.var(axis, keepdim, correction, ddof=ddof, dim=dim).sqrt()

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """exp(x) / sum(exp(x)) along `axis`, computed stably (x - max first)."""
        axis = axis if dim is None else dim
        x = self.cast(dt.float_of(self.dtype))
        e = (x - x.max(axis, keepdim=True)).exp()
        return e / e.sum(axis, keepdim=True)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """log(softmax(x)) along `axis`, computed stably."""
        axis = axis if dim is None else dim
        x = self.cast(dt.float_of(self.dtype))
        shifted = x - x.max(axis, keepdim=True)
        return shifted - shifted.exp().sum(axis, keepdim=True).log()

    def logsumexp(self, axis: Axis = None, keepdim: bool = False, *, dim: Axis = None) -> Tensor:
        """log(sum(exp(x))) over `axis`, computed stably."""
        axis = _pick_axis(axis, dim)
        x = self.cast(dt.float_of(self.dtype))
        m = x.max(axis, keepdim=True)
        m = m.where(m.isinf().logical_not(), 0.0)
        out = (x - m).exp().sum(axis, keepdim=True).log() + m
        return out if keepdim else out.squeeze(normalize_axes(axis, self.ndim))

    def _arg(self, kind: str, axis: int | None, keepdim: bool) -> Tensor:
        if axis is None:
            out = self.flatten()._arg(kind, 0, False)
            return out.reshape((1,) * self.ndim) if keepdim else out
        d = normalize_axis(axis, self.ndim)
        n = self.shape[d]
        if n == 0:
            raise ValueError(f"arg{kind} of an empty axis (shape {self.shape}, axis {axis})")
        best = self._reduce(kind, d, True)
        countdown = self._wrap(graph.arange(n, -1, n, dt.int64, self.device)).reshape(
            tuple(n if i == d else 1 for i in range(self.ndim))
        )
        first = countdown.where(self == best, 0).max(d, keepdim)
        return n - first

    def argmax(self, axis: int | None = None, keepdim: bool = False, *, dim: int | None = None) -> Tensor:
        """Index (int64) of the first maximum along `axis` (of the flattened tensor when None)."""
        return self._arg("max", _pick_axis(axis, dim), keepdim)

    def argmin(self, axis: int | None = None, keepdim: bool = False, *, dim: int | None = None) -> Tensor:
        """Index (int64) of the first minimum along `axis` (of the flattened tensor when None)."""
        return self._arg("min", _pick_axis(axis, dim), keepdim)

    def cumsum(self, axis: int = 0, *, dim: int | None = None) -> Tensor:
        """Running sum along `axis` (int64 for bool and integer tensors)."""
        d = normalize_axis(axis if dim is None else dim, self.ndim)
        n = self.shape[d]
        x = self.transpose(d, -1) if d != self.ndim - 1 else self
        index = self._wrap(graph.arange(0, 1, n, dt.int32, self.device))
        below = index.reshape(1, n) <= index.reshape(n, 1)
        rows = x.unsqueeze(-2).expand(x.shape[:-1] + (n, n))
        out = rows.where(below, 0).sum(-1) if n else x.cast(dt.int64 if x.dtype.kind in "biu" else x.dtype)
        return out.transpose(d, -1) if d != self.ndim - 1 else out

    def matmul(self, other: Tensor) -> Tensor:
        """Matrix product with numpy's rules: 1-D operands are vectors, leading dims broadcast."""
        return matmul(self, other)

    def __matmul__(self, other: Tensor) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return matmul(other, self)

    def dot(self, other: Tensor) -> Tensor:
        """Inner product of two 1-D tensors (matmul otherwise)."""
        return matmul(self, other)


MATMUL_BLOCK = 256
"""Inner (K) block of a large matmul: one block of the right operand's columns stays in L1 cache."""
MATMUL_PACK = 1 << 22
"""Float matmuls of at least this many multiply-adds (M*N*K, times the batch) first copy the right
operand into panels of `_panel_width` columns, each contiguous along K, so the kernel reads it
sequentially and vectorises across columns."""
MATMUL_PACK_REALIZED = 1 << 20
"""The same for a right operand that views realized data (a weight): its panels are packed once
and kept (see `_panels`), so packing pays off for smaller products."""


def _panel_width(dtype: dt.DType) -> int:
    """Columns per packed panel: the lanes kernels vectorise `dtype` products with (64 bytes; 16-bit
    floats compute in float32)."""
    return 64 // max(4, dtype.itemsize)


def _blocked_product_sum(x: Tensor, yt: Tensor) -> Tensor:
    """sum over K of x (..., M, K) times yt (..., N, K); a long K is summed in blocks of MATMUL_BLOCK,
    each block's partial products first (one kernel), then the partials (a second)."""
    m, k, n = x.shape[-2], x.shape[-1], yt.shape[-2]
    dtype = dt.promote(x.dtype, yt.dtype)
    w = _panel_width(dtype)
    work = math.prod(broadcast_shapes(x.shape[:-2], yt.shape[:-2])) * m * n * k
    realized = yt.node.realized or (yt.node.op == "view" and yt.node.src[0].realized)
    if dtype.kind == "f" and n % w == 0 and work >= (MATMUL_PACK_REALIZED if realized else MATMUL_PACK):
        return _packed_product_sum(x, yt, w)
    big = k >= 2 * MATMUL_BLOCK and k % MATMUL_BLOCK == 0 and m * n >= 1 << 16
    if not big:
        return (x.unsqueeze(-2) * yt.unsqueeze(-3)).sum(-1)
    blocks = (k // MATMUL_BLOCK, MATMUL_BLOCK)
    xb = x.reshape(x.shape[:-1] + blocks).unsqueeze(-3)  # (..., M, 1, nb, kb)
    yb = yt.reshape(yt.shape[:-1] + blocks).unsqueeze(-4)  # (..., 1, N, nb, kb)
    partial = (xb * yb).permute(*range(xb.ndim - 4), -2, -4, -3, -1).sum(-1)  # (..., nb, M, N)
    return partial.sum(-3)


def _packed_product_sum(x: Tensor, yt: Tensor, w: int) -> Tensor:
    """`_blocked_product_sum` with yt first packed into panels (..., N/w, K, w): the product is
    (..., M, N/w, w, K), so the kernel's tile takes rows of M and panels of N/w. K is not blocked:
    the tile's panels (K x tile width) stay in L2 while rows of x stream past them."""
    k, n = x.shape[-1], yt.shape[-2]
    panels = _panels(yt.reshape(yt.shape[:-2] + (n // w, w, k)).transpose(-1, -2))  # (..., N/w, K, w)
    xb = x.reshape(x.shape[:-1] + (1, 1, k))  # (..., M, 1, 1, K)
    product = xb * panels.transpose(-1, -2).unsqueeze(-4)  # (..., M, N/w, w, K)
    out = product.sum(-1)
    return out.reshape(out.shape[:-2] + (n,))


_packed: weakref.WeakKeyDictionary[Any, dict[Any, Node]] = weakref.WeakKeyDictionary()
"""Panels already packed from realized data: storage -> {the view packed: the realized panels}."""


def _panels(view: Tensor) -> Tensor:
    """`view` (panels seen in a right operand) stored contiguously. When it views realized data (a
    weight), it is packed now, once: data never changes, so the panels are kept as long as it lives."""
    node = view.node
    if node.op != "view" or not node.src[0].realized:
        return view.contiguous()
    kept = _packed.setdefault(node.src[0].storage, {})
    if (panels := kept.get(node.arg)) is None:
        panels = kept[node.arg] = view.contiguous().realize().node
    return view._wrap(panels)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b: (..., M, K) @ (..., K, N) -> (..., M, N), as a broadcast multiply summed over K."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs tensors of at least 1 dim, got shapes {a.shape} and {b.shape}")
    x = a.unsqueeze(0) if a.ndim == 1 else a
    y = b.unsqueeze(-1) if b.ndim == 1 else b
    if x.shape[-1] != y.shape[-2]:
        raise ValueError(f"matmul shape mismatch: {a.shape} @ {b.shape} (inner sizes {x.shape[-1]} != {y.shape[-2]})")
    out = _blocked_product_sum(x, y.mT)
    if out.dtype != (dtype := dt.promote(a.dtype, b.dtype)):
        out = out.cast(dtype)
    if a.ndim == 1:
        out = out.squeeze(-2)
    return out.squeeze(-1) if b.ndim == 1 else out
