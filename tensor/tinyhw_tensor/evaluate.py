"""Evaluating fused graph nodes as kernel IR values at an index.

`Evaluator.value(node, idx, shape, gate, lane)` is `node`'s value at `idx`, a tuple of IR index
values over `shape` — the node's own shape or any reshape of it (the kernel's merged index
space), since contiguous offsets are the same. Views turn the index into a flat offset and a
validity mask (`ShapeTracker.expr`); masks gate every load beneath them, so nothing outside a
buffer is read. float16 and bfloat16 compute in float32 and round after every operation, as
numpy does.

With `lane=(d, w)` the result covers `w` consecutive positions of dim `d` (idx[d] is the first):
a vector of `w` lanes, or a scalar where the value is the same in every lane (a broadcast
operand). Loads contiguous along `d` become one vector load; anything else is evaluated lane by
lane and assembled.
"""

from __future__ import annotations

from typing import Any

from tinyhw.kernel.dtypes import DType, bfloat16, float16, float32, int32
from tinyhw.kernel.ir import UNARY_OPS, Buf, Value, binary, const, load, unary, vectorize, where
from tinyhw_tensor.graph import Node, is_reshape
from tinyhw_tensor.view import contiguous_strides, flatten, unflatten

__all__ = ["Evaluator", "compute_dtype", "splat"]

HALF = (float16, bfloat16)
Lane = tuple[int, int] | None


def compute_dtype(dtype: DType, lanes: int = 1) -> DType:
    """The dtype kernels compute `dtype` values in (float32 for 16-bit floats), as a `lanes` vector."""
    return (float32 if dtype in HALF else dtype).vec(lanes)


def splat(v: Value, lanes: int) -> Value:
    """`v` in every one of `lanes` lanes (unchanged when it is a vector already)."""
    if v.dtype.count == lanes:
        return v
    return const(v.value, v.dtype.vec(lanes)) if v.op == "const" else vectorize(*[v] * lanes)


def _round(v: Value, dtype: DType) -> Value:
    if dtype not in HALF:
        return v
    return v.cast(dtype.vec(v.dtype.count)).cast(float32.vec(v.dtype.count))


def _and(a: Value | None, b: Value | None) -> Value | None:
    if a is None or (b is not None and a.op == "const"):
        a, b = b, a
    if b is None or (b.op == "const" and b.value):
        return a
    return a & b


def _space(node_shape: tuple[int, ...], idx: tuple[Value, ...], shape: tuple[int, ...]) -> tuple[Value, ...]:
    """`idx` over `shape` as an index over `node_shape` (a reshape of it)."""
    return idx if shape == node_shape else unflatten(flatten(idx, shape), node_shape)


class Evaluator:
    """Values of the nodes of one kernel; `bufs` maps input nodes (by id) to their buffer parameters.

    `fused` is (reduction node, accumulator value) once the kernel's reduction loop is built.
    """

    def __init__(self, bufs: dict[int, Buf]) -> None:
        self.bufs = bufs
        self.memo: dict[tuple, Value] = {}
        self.fused: tuple[Node, Value] | None = None

    def value(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: Lane = None) -> Value:
        """`node`'s value (in its compute dtype) at `idx` over `shape`; loads only where `gate`."""
        key = (id(node), idx, shape, gate, lane)
        found = self.memo.get(key)
        if found is None:
            op = node.op if node.op in _RULES else "elementwise"
            if lane is None:
                found = _RULES[op](self, node, idx, shape, gate)
            else:
                found = _VECTOR_RULES.get(op, Evaluator._per_lane)(self, node, idx, shape, gate, lane)
            self.memo[key] = found
        return found

    # -- scalar rules --

    def _load(self, node: Node, flat: Value, gate: Value | None, lanes: int = 1) -> Value:
        buf = self.bufs[id(node)]
        return load(buf, flat, mask=gate, dtype=buf.dtype.vec(lanes)).cast(compute_dtype(node.dtype, lanes))

    def _buffer(self, node: Node, idx: tuple, shape: tuple, gate: Value | None) -> Value:
        return self._load(node, flatten(idx, shape), gate)

    def _const(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: Lane = None) -> Value:
        return const(node.arg, compute_dtype(node.dtype))

    def _arange(self, node: Node, idx: tuple, shape: tuple, gate: Value | None) -> Value:
        (i,), (start, step) = _space(node.shape, idx, shape), node.arg
        return _round(i.cast(compute_dtype(node.dtype)) * step + start, node.dtype)

    def _view(self, node: Node, idx: tuple, shape: tuple, gate: Value | None) -> Value:
        if is_reshape(node):  # the same flat index space as its source
            return self.value(node.src[0], idx, shape, gate)
        tracker = node.arg if shape == node.shape else node.arg.reshape(shape)
        flat, valid = tracker.expr(idx)
        valid = None if valid is not None and valid.op == "const" and valid.value else valid
        src, inner = node.src[0], _and(gate, valid)
        if src.op == "buffer":
            return self._load(src, flat, inner)
        value = self.value(src, unflatten(flat, src.shape), src.shape, inner)
        return value if valid is None else where(valid, value, const(0, value.dtype))

    def _gather(self, node: Node, idx: tuple, shape: tuple, gate: Value | None) -> Value:
        data, index, axis = node.src[0], node.src[1], node.arg
        full = _space(node.shape, idx, shape)
        n = data.shape[axis]
        i = self.value(index, full, node.shape, gate).cast(int32)
        i = where(i < 0, i + n, i)
        ok = (i >= 0) & (i < n)
        value = self.value(data, full[:axis] + (i,) + full[axis + 1 :], data.shape, _and(gate, ok))
        return where(ok, value, const(0, value.dtype))

    def _reduction(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: Lane = None) -> Value:
        if self.fused is None or self.fused[0] is not node:
            raise RuntimeError(f"internal error: unscheduled reduction {node} in a kernel")
        return _round(self.fused[1], node.dtype)

    def _elementwise(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: Lane = None) -> Value:
        args = [self.value(s, idx, shape, gate, lane) for s in node.src]
        lanes = max(a.dtype.count for a in args)
        args = [splat(a, lanes) for a in args]
        if node.op == "cast":
            return _round(args[0].cast(compute_dtype(node.dtype, lanes)), node.dtype)
        if node.op == "where":
            return where(*args)
        result = unary(node.op, args[0]) if node.op in UNARY_OPS else binary(node.op, *args)
        return _round(result, node.dtype)

    # -- vector rules (lane = (dim, lanes)) --

    def _per_lane(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: tuple[int, int]) -> Value:
        d, lanes = lane
        values = [self.value(node, idx[:d] + (idx[d] + i,) + idx[d + 1 :], shape, gate) for i in range(lanes)]
        first = values[0]
        return first if all(v == first for v in values[1:]) else vectorize(*values)

    def _strided_load(self, node: Node, flat: Value, stride: int, gate: Value | None, lanes: int) -> Value:
        if stride == 0:
            return self._load(node, flat, gate)
        if stride == 1:
            return self._load(node, flat, gate, lanes)
        return vectorize(*(self._load(node, flat + i * stride, gate) for i in range(lanes)))

    def _vector_buffer(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: tuple[int, int]) -> Value:
        stride = contiguous_strides(shape)[lane[0]]
        return self._strided_load(node, flatten(idx, shape), stride, gate, lane[1])

    def _vector_view(self, node: Node, idx: tuple, shape: tuple, gate: Value | None, lane: tuple[int, int]) -> Value:
        if is_reshape(node):
            return self.value(node.src[0], idx, shape, gate, lane)
        tracker = node.arg if shape == node.shape else node.arg.reshape(shape)
        view, (d, lanes) = tracker.views[-1], lane
        if len(tracker.views) > 1 or (view.mask is not None and view.mask[d] != (0, view.shape[d])):
            return self._per_lane(node, idx, shape, gate, lane)
        flat, valid = tracker.expr(idx)  # the same validity in every lane
        src, inner = node.src[0], _and(gate, valid)
        if src.op == "buffer":
            return self._strided_load(src, flat, view.strides[d], inner, lanes)
        if view.strides[d] != 0:
            return self._per_lane(node, idx, shape, gate, lane)
        value = self.value(src, unflatten(flat, src.shape), src.shape, inner)
        return value if valid is None else where(valid, value, const(0, value.dtype))


_RULES: dict[str, Any] = {
    "buffer": Evaluator._buffer,
    "const": Evaluator._const,
    "arange": Evaluator._arange,
    "view": Evaluator._view,
    "gather": Evaluator._gather,
    "reduce": Evaluator._reduction,
    "elementwise": Evaluator._elementwise,
}
_VECTOR_RULES: dict[str, Any] = {
    "buffer": Evaluator._vector_buffer,
    "const": Evaluator._const,
    "view": Evaluator._vector_view,
    "reduce": Evaluator._reduction,
    "elementwise": Evaluator._elementwise,
}
