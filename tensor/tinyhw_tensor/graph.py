"""The lazy graph: a tensor is a `Node` — a small primitive operation on other nodes, or data.

Primitives (every Tensor operation is built from these):

| op | sources | arg | meaning |
| --- | --- | --- | --- |
| buffer | — | — | realized data on a device (`storage`), contiguous in `shape` |
| const | — | Python value | the same value everywhere in `shape` |
| arange | — | (start, step) | `start + step * i` over a 1-D shape |
| UNARY_OPS / BINARY_OPS | 1 or 2 nodes of `shape` | — | the kernel IR's elementwise ops |
| where | cond, a, b | — | elementwise select |
| cast | node | — | elementwise conversion to `dtype` |
| reduce | node | (kind, axes) | kind in REDUCE_KINDS over `axes`; reduced dims kept as size 1 |
| view | node | ShapeTracker | movement (reshape, permute, expand, shrink, pad, flip, step) |
| gather | data, index | axis | out[p] = data[p with p[axis] = index[p]]; shapes equal except at `axis` |
| contiguous | node | — | the same values, always realized into their own buffer |

Realizing a node turns it into a buffer node in place (`realize_into`), dropping its sources so
the graph behind it can be freed; every tensor that shares the node sees the data.
"""

from __future__ import annotations

import math
from typing import Any

from tinyhw.kernel.dtypes import DType, bool_
from tinyhw.kernel.ir import BINARY_OPS, COMPARISONS, UNARY_OPS
from tinyhw_tensor.view import ShapeTracker, contiguous_strides

__all__ = [
    "Node",
    "REDUCE_KINDS",
    "ELEMENTWISE",
    "const",
    "elementwise",
    "view",
    "is_reshape",
    "reduce",
    "gather",
    "arange",
]

REDUCE_KINDS = ("sum", "max", "min", "prod")
"""Reductions the graph knows: kind -> kernel IR binary op in `tinyhw_tensor.lower`."""
ELEMENTWISE = UNARY_OPS | BINARY_OPS | {"where", "cast"}
"""Ops computed element by element in one index space (fusable without index arithmetic)."""


class Node:
    """One lazy value: `op` applied to `src` with `arg`, of `dtype` and `shape` on `device`.

    `storage` holds the device data once realized (None before, and for size-0 buffers).
    Nodes are immutable except for being realized in place.
    """

    __slots__ = ("op", "src", "arg", "dtype", "shape", "device", "storage", "__weakref__")

    def __init__(self, op: str, src: tuple[Node, ...], arg: Any, dtype: DType, shape: tuple[int, ...], device: Any):
        self.op, self.src, self.arg, self.dtype, self.shape, self.device = op, src, arg, dtype, shape, device
        self.storage: Any = None

    @property
    def realized(self) -> bool:
        """True for data on a device."""
        return self.op == "buffer"

    def realize_into(self, storage: Any) -> None:
        """Become a buffer node holding `storage`; the sources are released."""
        self.op, self.src, self.arg, self.storage = "buffer", (), None, storage

    def __repr__(self) -> str:
        return f"<Node {self.op} {self.dtype} {self.shape}>"


def buffer(storage: Any, dtype: DType, shape: tuple[int, ...], device: Any) -> Node:
    """A realized node over `storage` (a runtime Storage, or None when size 0)."""
    node = Node("buffer", (), None, dtype, shape, device)
    node.storage = storage
    return node


def const(value: Any, dtype: DType, shape: tuple[int, ...], device: Any) -> Node:
    """`value` (converted to `dtype`) everywhere in `shape`."""
    return Node("const", (), _normalise(value, dtype), dtype, shape, device)


def _normalise(value: Any, dtype: DType) -> Any:
    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iu":
        bits = 8 * dtype.itemsize
        value = int(value) & ((1 << bits) - 1)
        return value - (1 << bits) if dtype.kind == "i" and value >= 1 << (bits - 1) else value
    return float(value)


def arange(start: float, step: float, n: int, dtype: DType, device: Any) -> Node:
    """start, start + step, ... (n values) of `dtype`."""
    return Node("arange", (), (start, step), dtype, (n,), device)


def elementwise(op: str, *src: Node, dtype: DType | None = None) -> Node:
    """An elementwise op on nodes of one shape; comparisons give bool, cast gives `dtype`."""
    if op == "cast":
        if src[0].dtype == dtype:
            return src[0]
        if src[0].op == "const":
            return const(src[0].arg, dtype, src[0].shape, src[0].device)
    out = bool_ if op in COMPARISONS else dtype if op == "cast" else src[-1].dtype
    return Node(op, src, None, out, src[0].shape, src[0].device)


def view(node: Node, tracker: ShapeTracker) -> Node:
    """`node` seen through `tracker` (whose views start from node's contiguous shape)."""
    if tracker.is_identity and tracker.shape == node.shape:
        return node
    if math.prod(node.shape) == 0:  # nothing to read: every element is padding
        return const(0, node.dtype, tracker.shape, node.device)
    if node.op == "const" and all(v.mask is None for v in tracker.views):
        return const(node.arg, node.dtype, tracker.shape, node.device)
    return Node("view", (node,), tracker, node.dtype, tracker.shape, node.device)


def is_reshape(node: Node) -> bool:
    """True for a view that only reshapes its source (same elements in the same order)."""
    if node.op != "view" or len(node.arg.views) != 1:
        return False
    v = node.arg.views[0]
    return v.offset == 0 and v.mask is None and v.strides == contiguous_strides(v.shape)


PUSH_LIMIT = 64
"""Largest elementwise graph a movement is pushed through to its leaves (see `movement`)."""
COSTLY_OPS = frozenset({"exp", "exp2", "log", "log2", "sin", "cos", "tanh", "erf", "pow", "sqrt", "rsqrt", "recip",
                        "div", "mod"})  # fmt: skip
"""Elementwise ops that cost much more than a load (see `movement`)."""


def movement(node: Node, method: str, arg: Any) -> Node:
    """Apply ShapeTracker `method` (reshape, permute, expand, ...) to `node`, composing with its view.

    A movement of an elementwise result moves its operands instead (all but pad, whose zeros an
    operation would not keep): f(x).T is f(x.T). Views then sit on the leaves, where a kernel
    reads them with plain strided — often vector — loads. A reshape or an expand is pushed only
    through a graph that costs no more than a load (one data leaf, no COSTLY_OPS op: a cast, a
    scaling). Above any other the view stays over f(x): a reshape costs no index arithmetic
    there, every user shares the one graph instead of a copy of it, and before a reduction that
    reads f(x) through an expand many times the scheduler stores f(x) once (see schedule)
    instead of recomputing it per broadcast copy.
    """
    if method != "pad" and node.op in ELEMENTWISE:
        size, leaves, costly = _elementwise_size(node)
        if size <= PUSH_LIMIT and (method not in ("reshape", "expand") or (leaves <= 1 and not costly)):
            return _push(node, method, arg, {})
    return _leaf_movement(node, method, arg)


def _leaf_movement(node: Node, method: str, arg: Any) -> Node:
    if node.op == "view":
        base, tracker = node.src[0], node.arg
    else:
        base, tracker = node, ShapeTracker.identity(node.shape)
    return view(base, getattr(tracker, method)(arg))


def _push(node: Node, method: str, arg: Any, memo: dict[int, Node]) -> Node:
    """`movement` applied to the leaves of `node`'s elementwise graph, which is rebuilt on top."""
    if (done := memo.get(id(node))) is not None:
        return done
    if node.op in ELEMENTWISE:
        src = tuple(_push(s, method, arg, memo) for s in node.src)
        moved = Node(node.op, src, node.arg, node.dtype, src[0].shape, node.device)
    else:
        moved = _leaf_movement(node, method, arg)
    memo[id(node)] = moved
    return moved


def _elementwise_size(node: Node) -> tuple[int, int, bool]:
    """Elementwise nodes in `node`'s graph down to its leaves (counting stops past PUSH_LIMIT), the
    distinct leaves other than constants it reads, and whether one of its ops is in COSTLY_OPS."""
    seen, leaves, stack, costly = set(), set(), [node], False
    while stack and len(seen) <= PUSH_LIMIT:
        n = stack.pop()
        if n.op not in ELEMENTWISE:
            if n.op != "const":
                leaves.add(id(n))
        elif id(n) not in seen:
            seen.add(id(n))
            costly = costly or n.op in COSTLY_OPS
            stack.extend(n.src)
    return len(seen), len(leaves), costly


def reduce(node: Node, kind: str, axes: tuple[int, ...]) -> Node:
    """Reduce `node` over `axes` (kept as size 1) with `kind`, in node's dtype."""
    shape = tuple(1 if d in axes else s for d, s in enumerate(node.shape))
    return Node("reduce", (node,), (kind, tuple(sorted(axes))), node.dtype, shape, node.device)


def gather(data: Node, index: Node, axis: int) -> Node:
    """data indexed along `axis` by the integer node `index` (same shape as the result)."""
    if math.prod(data.shape) == 0:  # every index is out of range
        return const(0, data.dtype, index.shape, data.device)
    return Node("gather", (data, index), axis, data.dtype, index.shape, data.device)


def contiguous(node: Node) -> Node:
    """`node`'s values, realized into their own buffer when scheduled."""
    return Node("contiguous", (node,), None, node.dtype, node.shape, node.device)
