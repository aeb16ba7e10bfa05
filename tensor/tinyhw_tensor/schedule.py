"""The scheduler: which nodes of a lazy graph become kernels, and in what order.

One kernel computes one realized node. Everything between it and the buffers it reads is fused
into it: elementwise chains, views (as index arithmetic), gathers, and at most one reduction,
whose elementwise producers are fused into its input and whose elementwise consumers (in the
reduction's own output shape, with no view between) are fused into its output. A node is
realized — becomes a kernel boundary — when it is

- a root being realized, or a `contiguous` node, or where a fused chain grows past MAX_DEPTH;
- a reduction seen through a view (other than a plain reshape) or a gather (its result is
  re-indexed, e.g. broadcast back), inside another reduction's input, next to a second
  reduction in one output, or used by more than one consumer (so it is computed once);
- an elementwise node that a reduction's input reads through a broadcasting view (matmul's
  operands): the reduction would recompute each element once per broadcast copy — for a
  layer norm or a GELU feeding a matmul, once per output column — where storing it costs one
  pass. Only costly graphs stay under such a view (`graph.movement` pushes cheap ones down).
  So is one that computes on a reduction's result and is broadcast back anywhere (a mean, a
  layer norm's 1 / sqrt(var + eps)): it is computed once per row, in the reduction's kernel.

Otherwise elementwise nodes are not realized on their own: where several kernels use one, each
recomputes it, which costs less than a round trip through memory.
"""

from __future__ import annotations

from tinyhw_tensor.graph import ELEMENTWISE, Node, is_reshape
from tinyhw_tensor.lower import fused_reduction

__all__ = ["schedule"]


MAX_DEPTH = 96
"""Longest chain of operations fused into one kernel (counted from the kernel's inputs, so chains
split by other boundaries are not cut again); a deeper chain is cut (realized) every MAX_DEPTH
levels, which bounds the size of kernels and the recursion that builds them. A cut never falls on
a broadcast — a node all of whose data sources are views re-reading elements, like matmul's product:
storing that would materialise [M, N, K] values — but on the next node above it."""


def schedule(roots: list[Node]) -> list[Node]:
    """The nodes to realize for `roots`, dependencies first (already realized ones left out)."""
    if len(roots) == 1 and roots[0].op in ELEMENTWISE and all(s.op in ("buffer", "const") for s in roots[0].src):
        return [roots[0]]  # the common eager case, answered without a walk
    nodes = _unrealized(roots)
    realize = {id(n): n for n in roots if not n.realized}
    consumers = _count_consumers(nodes) if any(n.op in ("reduce", "contiguous") for n in nodes) else None
    if consumers is not None:
        realize.update((id(n), n) for n in nodes if n.op == "contiguous")
        while _mark_boundaries(realize, consumers):
            pass
    deep = _deep_cuts(nodes, realize)
    if deep:
        realize.update((id(n), n) for n in deep)
        while consumers is not None and _mark_boundaries(realize, consumers):
            pass
    return [n for n in nodes if id(n) in realize]


def _unrealized(roots: list[Node]) -> list[Node]:
    """Every unrealized node reachable from `roots` in post-order (sources before users)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in reversed(roots) if r.op != "buffer"]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((s, False) for s in reversed(node.src) if s.op != "buffer" and id(s) not in seen)
    return order


def _deep_cuts(nodes: list[Node], realize: dict[int, Node]) -> list[Node]:
    """The nodes (in post-order) where a chain of fused operations reaches MAX_DEPTH (see MAX_DEPTH)."""
    depth: dict[int, int] = {}
    broadcast: set[int] = set()
    cuts: list[Node] = []
    for node in nodes:
        if _is_broadcast(node, broadcast):
            broadcast.add(id(node))
        d = 1 + max((depth.get(id(s), 0) for s in node.src), default=0)
        if d >= MAX_DEPTH and id(node) not in broadcast:
            cuts.append(node)
            d = 0
        depth[id(node)] = 0 if id(node) in realize else d
    return cuts


def _is_broadcast(node: Node, broadcast: set[int]) -> bool:
    """A view that re-reads elements, or an elementwise node all of whose non-constant sources are broadcasts."""
    if node.op == "view":
        return _rereads(node)
    data = [s for s in node.src if s.op != "const"]
    return node.op in ELEMENTWISE and bool(data) and all(id(s) in broadcast for s in data)


def _count_consumers(nodes: list[Node]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for node in nodes:
        for s in node.src:
            counts[id(s)] = counts.get(id(s), 0) + 1
    return counts


def _mark_boundaries(realize: dict[int, Node], consumers: dict[int, int]) -> bool:
    """Add the reductions that cannot be fused where they are used; True if any was added."""
    added = False
    for root in list(realize.values()):
        fused: list[Node] = []
        start = root.src[0] if root.op == "contiguous" else root
        for node in _reductions_to_realize(start, realize, consumers, fused):
            if id(node) not in realize:
                realize[id(node)] = node
                added = True
    return added


def _reductions_to_realize(root: Node, realize: dict[int, Node], consumers: dict[int, int], fused: list[Node]):
    """Reductions (and broadcast elementwise inputs of reductions) reachable from `root`'s kernel
    that must become their own kernels."""
    stack: list[tuple[Node, bool]] = [(root, True)]
    seen: set[tuple[int, bool]] = set()
    while stack:
        node, output_space = stack.pop()
        if (id(node), output_space) in seen or node.realized or (node is not root and id(node) in realize):
            continue
        seen.add((id(node), output_space))
        if node.op == "reduce":
            if node is root or (output_space and not fused and consumers.get(id(node), 0) <= 1):
                fused.append(node)
                stack.append((node.src[0], False))
            elif node not in fused:
                yield node
            continue
        src = node.src[0] if node.op == "view" else None
        if (
            src is not None
            and src.op in ELEMENTWISE
            and _rereads(node)
            and not (output_space and fused_reduction(src) is None)
        ):
            yield src
            continue
        keep = output_space and (node.op in ELEMENTWISE or is_reshape(node))
        stack.extend((s, keep) for s in node.src)


def _rereads(node: Node) -> bool:
    """True for a view that reads some element of its source more than once (stride 0 over a dim)."""
    return node.op == "view" and any(st == 0 and n > 1 for v in node.arg.views for n, st in zip(v.shape, v.strides))
