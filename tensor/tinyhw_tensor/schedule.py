"""The scheduler: which nodes of a lazy graph become kernels, and in what order.

One kernel computes one realized node. Everything between it and the buffers it reads is fused
into it: elementwise chains, views (as index arithmetic), gathers, and at most one reduction,
whose elementwise producers are fused into its input and whose elementwise consumers (in the
reduction's own output shape, with no view between) are fused into its output. A node is
realized — becomes a kernel boundary — when it is

- a root being realized, or a `contiguous` node;
- a reduction seen through a view (other than a plain reshape) or a gather (its result is
  re-indexed, e.g. broadcast back), inside another reduction's input, next to a second
  reduction in one output, or used by more than one consumer (so it is computed once).

Elementwise nodes are never realized on their own: where several kernels use one, each
recomputes it, which costs less than a round trip through memory.
"""

from __future__ import annotations

from tinyhw_tensor.graph import ELEMENTWISE, Node, is_reshape

__all__ = ["schedule"]


MAX_DEPTH = 96
"""Longest chain of operations fused into one kernel; a deeper graph is cut (realized) every
MAX_DEPTH levels, which bounds the size of kernels and the recursion that builds them."""


def schedule(roots: list[Node]) -> list[Node]:
    """The nodes to realize for `roots`, dependencies first (already realized ones left out)."""
    if len(roots) == 1 and roots[0].op in ELEMENTWISE and all(s.op in ("buffer", "const") for s in roots[0].src):
        return [roots[0]]  # the common eager case, answered without a walk
    nodes, deep = _unrealized(roots)
    realize = {id(n): n for n in roots if not n.realized}
    realize.update((id(n), n) for n in deep)
    if any(n.op in ("reduce", "contiguous") for n in nodes):
        consumers = _count_consumers(nodes)
        realize.update((id(n), n) for n in nodes if n.op == "contiguous")
        while _mark_boundaries(realize, consumers):
            pass
    return [n for n in nodes if id(n) in realize]


def _unrealized(roots: list[Node]) -> tuple[list[Node], list[Node]]:
    """Every unrealized node reachable from `roots` in post-order (sources before users), and the
    nodes where chains longer than MAX_DEPTH are cut."""
    order: list[Node] = []
    depth: dict[int, int] = {}
    deep: list[Node] = []
    stack: list[tuple[Node, bool]] = [(r, False) for r in reversed(roots) if r.op != "buffer"]
    while stack:
        node, done = stack.pop()
        if done:
            d = 1 + max((depth.get(id(s), 0) for s in node.src), default=0)
            if d >= MAX_DEPTH:
                deep.append(node)
                d = 0
            depth[id(node)] = d
            order.append(node)
        elif id(node) not in depth:
            depth[id(node)] = 0  # visited; the final depth is set once the sources are done
            stack.append((node, True))
            stack.extend((s, False) for s in reversed(node.src) if s.op != "buffer" and id(s) not in depth)
    return order, deep


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
    """Reductions reachable from `root`'s kernel that must become their own kernels."""
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
        keep = output_space and (node.op in ELEMENTWISE or is_reshape(node))
        stack.extend((s, keep) for s in node.src)
