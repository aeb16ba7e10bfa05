"""Lowering: one scheduled node and the graph fused into it, as a kernel IR Kernel.

The kernel writes the node's values, contiguous, into parameter `out`; its other parameters are
the buffers it reads, in the order `signature` lists them. It loops over the output's *index
space* — the node's shape with size-1 dims dropped and adjacent dims merged wherever every view
read directly in that space allows (so contiguous data is one flat loop) — and splits the
outermost loop over `global_size` workgroups. Elementwise kernels leave the innermost loop
contiguous and scalar for LLVM to vectorise. A fused reduction adds accumulators and inner loops
over the reduced dims, vectorised explicitly (see `Plan`), since LLVM may not reorder float sums.
Values come from `tinyhw_tensor.evaluate`.

On a SIMT device (capability feature "simt": work-items run in parallel lanes, as on GPUs) the
kernel is shaped for lanes instead: one work-item per output, `ITEMS` work-items per workgroup and
as many workgroups as needed, each work-item looping over the reduced dims alone. A reduction of
`COOPERATIVE_MIN` or more elements per output (or of `COOPERATIVE_ITEMS` or more to fewer than
`FEW_OUTPUTS` outputs) takes one workgroup per output instead: its work-items fold strided parts
of the reduced elements, then combine them through local memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tinyhw.kernel.dtypes import DType, bool_
from tinyhw.kernel.ir import Kernel, KernelBuilder, Value, binary, const
from tinyhw.kernel.llvm import host_target
from tinyhw_tensor.evaluate import Evaluator, compute_dtype, splat
from tinyhw_tensor.graph import ELEMENTWISE, Node, is_reshape
from tinyhw_tensor.view import View, flatten, unflatten

__all__ = ["Plan", "signature", "lower", "fused_reduction", "make_plan"]

ITEMS = 64
"""Work-items per workgroup of a SIMT kernel computing one output per work-item."""
COOPERATIVE_ITEMS = 256
"""Work-items per workgroup of a SIMT reduction computing one output per workgroup."""
COOPERATIVE_MIN = 2048
"""Fewest reduced elements per output for which a SIMT kernel reduces with a whole workgroup: below it, one
work-item's serial loop is short enough (lavapipe stops a shader's loops after 65535 iterations in all)."""
FEW_OUTPUTS = 4096
"""Outputs below which a SIMT kernel reduces each with a whole workgroup even when it is short: one work-item
per output would leave most of a GPU idle."""
MIN_WORK = 16384
"""Fewest elements of work (loads) a workgroup should get."""
GROUPS_PER_CORE = 4
COMBINE = {"sum": "add", "prod": "mul", "max": "max", "min": "min"}
BOOL_COMBINE = {"sum": "or", "prod": "and", "max": "or", "min": "and"}


def signature(root: Node) -> tuple[tuple, list[Node]]:
    """A hashable key for the structure of `root`'s fused graph, and the buffers it reads in order."""
    numbers: dict[int, int] = {}
    entries: list[tuple] = []
    inputs: list[Node] = []
    _number(root, numbers, entries, inputs)
    return tuple(entries), inputs


def _number(node: Node, numbers: dict[int, int], entries: list[tuple], inputs: list[Node]) -> int:
    """Append `node`'s entry (after its sources') to `entries`; its position there."""
    if node.op == "buffer":
        inputs.append(node)
        entry: tuple = ("buffer", node.dtype.name, node.shape)
    else:
        src = []
        for s in node.src:
            n = numbers.get(id(s))
            src.append(n if n is not None else _number(s, numbers, entries, inputs))
        arg = node.arg.hex() if type(node.arg) is float else node.arg
        entry = (node.op, arg, node.dtype.name, node.shape, tuple(src))
    numbers[id(node)] = n = len(entries)
    entries.append(entry)
    return n


def fused_reduction(root: Node) -> Node | None:
    """The reduction fused into `root`'s kernel: the one reached through elementwise ops and reshapes."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.op == "reduce":
            return node
        if node.op in ELEMENTWISE or is_reshape(node):
            stack.extend(node.src)
    return None


def _identity(kind: str, dtype: DType) -> Any:
    if kind in ("sum", "prod"):
        return int(kind == "prod")
    if dtype.kind == "b":
        return kind == "min"
    if dtype.kind == "f":
        return -math.inf if kind == "max" else math.inf
    bits = 8 * dtype.itemsize
    low, high = (0, (1 << bits) - 1) if dtype.kind == "u" else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return low if kind == "max" else high


@dataclass(frozen=True)
class Plan:
    """How a kernel's loops are laid out.

    out_shape, red_shape: merged output and reduced dims; groups: the reduction input's merged
    dims (lists of original dims, in order). lanes > 1 vectorises: `mode` "reduce" runs the last
    reduced dim `lanes` at a time into a vector accumulator (summed across lanes at the end);
    "output" computes `lanes` consecutive outputs of the last output dim at once, and `tile`
    ((output dim, count), ...) unrolls other output dims: a vector accumulator for every
    combination — matmul's register tile. The first tile dim (the rows) runs innermost.
    """

    out_shape: tuple[int, ...]
    red_shape: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]
    axes: tuple[int, ...]
    mode: str = "scalar"
    lanes: int = 1
    tile: tuple[tuple[int, int], ...] = ()

    def loop_layout(self) -> tuple[list[int], list[int]]:
        """(order, steps): output dims from the outermost loop in, and each dim's step per iteration."""
        steps, order = [1] * len(self.out_shape), list(range(len(self.out_shape)))
        if self.mode == "output":
            steps[-1] = self.lanes
            for d, count in self.tile:
                steps[d] = count
            if self.tile:  # the rows innermost: the lane block they share stays in cache
                order.remove(self.tile[0][0])
                order.append(self.tile[0][0])
        return order, steps

    def rows(self, base: list[Value]) -> list[tuple[Value, ...]]:
        """The output indices one iteration computes: `base`, and the tile's other corners."""
        indices = [tuple(base)]
        for d, count in reversed(self.tile):
            indices = [i[:d] + (i[d] + u,) + i[d + 1 :] for u in range(count) for i in indices]
        return indices

    def input_lane(self) -> tuple[int, int] | None:
        """The vectorised dim of the reduction input (position among `groups`) and its lanes, or None."""
        if self.mode == "reduce":
            return len(self.groups) - 1, self.lanes
        if self.mode == "output":
            return [i for i, g in enumerate(self.groups) if g[0] not in self.axes][-1], self.lanes
        return None


MAX_ELEMENTS = 2**31 - 1
"""Kernels index with int32: no tensor they read or write may hold more elements (a broadcast that is
only read through a view, like matmul's product, may)."""


def lower(root: Node, inputs: list[Node], cores: int, simt: bool = False) -> tuple[Kernel, int]:
    """The kernel computing `root` from `inputs` (as `signature` ordered them), and its global size (workgroups
    of the kernel's `local_size`). `cores` sizes the split of CPU-shaped kernels; `simt` shapes the kernel for
    a device whose work-items run in parallel lanes (see the module docstring)."""
    for node in [root, *inputs]:
        if math.prod(node.shape) > MAX_ELEMENTS:
            raise ValueError(f"tensors of more than {MAX_ELEMENTS} elements are not supported, got shape {node.shape}")
    return _Lowering(root, inputs).build(max(1, cores), simt)


class _Lowering:
    """One lowering: the plan, the builder, and the evaluator of the fused graph."""

    def __init__(self, root: Node, inputs: list[Node]) -> None:
        self.root = root.src[0] if root.op == "contiguous" else root
        self.out_dtype = root.dtype
        self.inputs = inputs
        self.red = fused_reduction(self.root)
        self.flat_output: Value | None = None  # a SIMT kernel's flat output index (its stores need no flattening)

    def build(self, cores: int, simt: bool) -> tuple[Kernel, int]:
        """The kernel and its number of workgroups."""
        p = make_plan(self.root, self.red, vectorise=not simt)
        self.cooperative = simt and self.red is not None and _cooperative(p)
        items = COOPERATIVE_ITEMS if self.cooperative else ITEMS if simt else 1
        kind = "r" if self.red is not None else "e"
        name = f"{kind}_{'_'.join(map(str, p.out_shape + p.red_shape)) or 'scalar'}"
        self.k = k = KernelBuilder(name, (items, 1, 1))
        self.out = k.buffer("out", self.out_dtype)
        self.ev = Evaluator({id(n): k.buffer(f"in{i}", n.dtype) for i, n in enumerate(self.inputs)})
        if self.cooperative:
            outputs = self._output_per_workgroup(p)
        else:
            outputs = self._output_per_item(p) if simt else self._output_loops(p, cores)
        with outputs as base:
            rows = p.rows(base)
            accs = self._reduce(p, rows) if self.red is not None else [None] * len(rows)
            with k.if_(k.local_id(0).eq(0)) if self.cooperative else contextlib.nullcontext():
                for out_idx, acc in zip(rows, accs):
                    self._store(p, out_idx, acc)
        return k.build(), self.groups

    @contextlib.contextmanager
    def _output_loops(self, p: Plan, cores: int) -> Iterator[list[Value]]:
        """CPU-shaped: loops over the outputs, the outermost split in chunks over a few workgroups per core;
        yields the first output index of an iteration (see Plan.rows)."""
        order, steps = p.loop_layout()
        counts = [p.out_shape[j] // steps[j] for j in order]
        fuse = self._fuse_first_loops(counts, cores)
        outer = [counts[0] * counts[1], *counts[2:]] if fuse else counts
        self.groups, chunk = _split(tuple(outer), math.prod(p.red_shape) * math.prod(steps), cores)
        with self._loops(outer, "o", chunk if self.groups > 1 else 0) as loop_vars:
            if fuse:
                loop_vars = (loop_vars[0] // counts[1], loop_vars[0] % counts[1], *loop_vars[1:])
            base: list = [None] * len(order)
            for var, j in zip(loop_vars, order):
                base[j] = var * steps[j] if steps[j] > 1 else var
            yield base

    @contextlib.contextmanager
    def _output_per_item(self, p: Plan) -> Iterator[list[Value]]:
        """SIMT-shaped: work-item (group id * ITEMS + local id) computes the output at that flat index."""
        total = math.prod(p.out_shape)
        self.groups = -(-total // ITEMS)
        item = self.flat_output = self.k.group_id(0) * ITEMS + self.k.local_id(0)
        with self.k.if_(item < total) if total % ITEMS else contextlib.nullcontext():
            yield list(unflatten(item, p.out_shape))

    @contextlib.contextmanager
    def _output_per_workgroup(self, p: Plan) -> Iterator[list[Value]]:
        """SIMT-shaped with a cooperative reduction: workgroup (group id) computes the output at that flat index."""
        self.groups = math.prod(p.out_shape)
        self.flat_output = self.k.group_id(0)
        yield list(unflatten(self.flat_output, p.out_shape))

    def _fuse_first_loops(self, counts: list[int], cores: int) -> bool:
        """Whether the two outermost output loops run as one, to give every core a share: when the
        first alone has too few iterations, and a loop stays inside for the vectoriser."""
        inner_loops = len(counts) - 2 + (self.red is not None)
        return bool(counts) and counts[0] < cores * GROUPS_PER_CORE and inner_loops > 0

    def _store(self, p: Plan, out_idx: tuple, acc: Value | None) -> None:
        """Store the root's value at `out_idx` (`lanes` consecutive outputs in "output" mode)."""
        self.ev.fused = (self.red, acc) if acc is not None else None
        lanes = p.lanes if p.mode == "output" else 1
        lane = (len(p.out_shape) - 1, lanes) if lanes > 1 else None
        value = splat(self.ev.value(self.root, out_idx, p.out_shape, None, lane), lanes)
        index = self.flat_output if self.flat_output is not None else flatten(out_idx, p.out_shape)
        self.k.store(self.out, index, value.cast(self.out_dtype.vec(lanes)))

    @contextlib.contextmanager
    def _loops(self, counts: list[int], name: str, chunk: int = 0):
        """Nested loops of `counts` iterations; with `chunk`, the first covers this workgroup's chunk."""
        with contextlib.ExitStack() as stack:
            idx = []
            for d, size in enumerate(counts):
                if d == 0 and chunk:
                    start = self.k.group_id(0) * chunk
                    idx.append(stack.enter_context(self.k.range((start + chunk).min(size), start, name=name)))
                else:
                    idx.append(stack.enter_context(self.k.range(size, name=name)))
            yield tuple(idx)

    def _reduce(self, p: Plan, rows: list[tuple]) -> list[Value]:
        """Accumulate the reduction for each output row in `rows`; the accumulators' final values."""
        red, lane = self.red, p.input_lane()
        kind, dtype = red.arg[0], compute_dtype(red.dtype)
        op = (BOOL_COMBINE if dtype == bool_ else COMBINE)[kind]
        lanes = p.lanes if lane is not None else 1
        accs = [self.k.accumulator("acc", splat(const(_identity(kind, dtype), dtype), lanes)) for _ in rows]
        vector_reduce = p.mode == "reduce"
        counts = list(p.red_shape)
        if vector_reduce:
            counts[-1] //= lanes
        in_shape = tuple(math.prod(red.src[0].shape[d] for d in g) for g in p.groups)
        reduced = self._strided_reduced(p.red_shape) if self.cooperative else self._loops(counts, "r")
        with reduced as red_vars:
            red_idx = red_vars[:-1] + (red_vars[-1] * lanes,) if vector_reduce else red_vars
            for acc, out_idx in zip(accs, rows):
                outer, inner = iter(out_idx), iter(red_idx)
                in_idx = tuple(next(inner) if g[0] in p.axes else next(outer) for g in p.groups)
                value = self.ev.value(red.src[0], in_idx, in_shape, None, lane)
                self.k.update(acc, binary(op, acc, splat(value, lanes)))
        if self.cooperative:
            return [self._across_items(op, acc) for acc in accs]
        if not vector_reduce:
            return accs
        return [_across_lanes(op, [acc.gep(i) for i in range(lanes)]) for acc in accs]

    @contextlib.contextmanager
    def _strided_reduced(self, red_shape: tuple[int, ...]) -> Iterator[tuple[Value, ...]]:
        """The reduced indices this work-item folds: every COOPERATIVE_ITEMS-th flat one from its local id."""
        total = math.prod(red_shape)
        with self.k.range(-(-total // COOPERATIVE_ITEMS), name="r") as step:
            flat = step * COOPERATIVE_ITEMS + self.k.local_id(0)
            with self.k.if_(flat < total) if total % COOPERATIVE_ITEMS else contextlib.nullcontext():
                yield unflatten(flat, red_shape)

    def _across_items(self, op: str, acc: Value) -> Value:
        """op over every work-item's `acc`, pairwise through local memory; the result (read it after the
        last barrier, in any work-item)."""
        k, item = self.k, self.k.local_id(0)
        partial = k.local("partial", acc.dtype, COOPERATIVE_ITEMS)
        k.store(partial, item, acc)
        k.barrier()
        half = COOPERATIVE_ITEMS // 2
        while half:
            with k.if_(item < half):
                k.store(partial, item, binary(op, partial[item], partial[item + half]))
            k.barrier()
            half //= 2
        return partial[0]


def _cooperative(p: Plan) -> bool:
    """Whether a SIMT reduction takes a whole workgroup per output: when one work-item's loop would be long,
    or when one work-item per output would leave most of the device idle."""
    reduced = math.prod(p.red_shape)
    return reduced >= COOPERATIVE_MIN or (reduced >= COOPERATIVE_ITEMS and math.prod(p.out_shape) < FEW_OUTPUTS)


def _across_lanes(op: str, values: list[Value]) -> Value:
    """op over `values`, pairwise (a tree: fewer rounding steps than a chain)."""
    while len(values) > 1:
        values = [binary(op, a, b) for a, b in zip(values[::2], values[1::2])] + values[len(values) // 2 * 2 :]
    return values[0]


def make_plan(root: Node, red: Node | None, vectorise: bool = True) -> Plan:
    """Merge dims, then (with `vectorise`) pick the vectorisation for a reduction kernel (see Plan)."""
    in_shape = red.src[0].shape if red is not None else root.shape
    axes = red.arg[1] if red is not None else ()
    out_views = _in_space(_top_views(root), red.shape if red is not None else root.shape)
    in_views = _in_space(_top_views(red.src[0]), in_shape) if red is not None else []
    groups = _merge_groups(in_shape, axes, out_views, in_views)
    sizes = [math.prod(in_shape[d] for d in g) for g in groups]
    out_shape = tuple(s for g, s in zip(groups, sizes) if g[0] not in axes)
    red_shape = tuple(s for g, s in zip(groups, sizes) if g[0] in axes)
    plan = Plan(out_shape, red_shape, tuple(map(tuple, groups)), axes)
    if red is None or in_views is None or not groups or not vectorise:
        return plan
    return _vectorise(plan, in_views, 64 // max(4, compute_dtype(red.dtype).itemsize))


def _vectorise(plan: Plan, views: list[View], width: int) -> Plan:
    """`plan` vectorised `width` lanes along the innermost reduced dim, else along the last output dim
    (with rows unrolled), when every view reads along it contiguously or not at all."""
    last, kept = plan.groups[-1], [g for g in plan.groups if g[0] not in plan.axes]
    if last[0] in plan.axes and plan.red_shape[-1] % width == 0 and _unit_stride(views, last[-1]):
        return dataclasses.replace(plan, mode="reduce", lanes=width)
    if not kept or not _unit_stride(views, kept[-1][-1]):
        return plan
    lanes = next((w for w in (width, width // 2) if plan.out_shape[-1] % w == 0), 0)
    if lanes < 4:
        return plan
    tile = _tile(plan, views, kept) if math.prod(plan.red_shape) >= 64 else ()
    return dataclasses.replace(plan, mode="output", lanes=lanes, tile=tile)


ROW_TILES = (16, 8, 4, 2)
"""Rows unrolled when no output dim reuses the broadcast operand (one vector accumulator per row)."""
BLOCK_TILES = ((8, 2), (4, 4), (4, 2), (2, 4), (2, 2), (2, 1))
"""(rows, vectors) register tiles, best first, when one does: rows x vectors accumulators, `vectors`
vector loads and `rows` broadcasts per reduction step (8x2 measured fastest with AVX-512)."""


@functools.cache
def vector_registers() -> int:
    """How many 64-byte vectors (a float32x16) the host CPU's vector registers hold: the register
    tile's accumulators, its loaded vectors and a broadcast must fit, or LLVM spills them."""
    features = host_target()[2].split(",")
    if "+avx512f" in features:
        return 32
    return 8  # 16 AVX2 registers of 32 bytes (or 32 NEON registers of 16)


def _tile(plan: Plan, views: list[View], kept: list[list[int]]) -> tuple[tuple[int, int], ...]:
    """The register tile of an output-vectorised reduction (see Plan.tile). Rows: the last output
    dim along which the vector-loaded operands do not move (matmul's M: B is reused for every row);
    vectors: one along which the broadcast operands do not move (A is reused for every vector)."""
    lane_dim, dims, budget = kept[-1][-1], range(len(kept) - 1), vector_registers()
    vector_views = [v for v in views if v.strides[lane_dim] == 1]
    scalar_views = [v for v in views if v.strides[lane_dim] == 0]

    def still(vs: list[View], p: int) -> bool:
        return all(v.strides[d] == 0 for v in vs for d in kept[p])

    rows = next((p for p in reversed(dims) if still(vector_views, p)), dims[-1] if dims else None)
    if rows is None:
        return ()
    cols = next((p for p in reversed(dims) if p != rows and still(scalar_views, p)), None)
    size = plan.out_shape
    if cols is not None:
        for r, v in BLOCK_TILES:
            if r * v + v + 1 <= budget and size[rows] % r == 0 and size[cols] % v == 0:
                return ((rows, r), (cols, v))
    r = next((r for r in ROW_TILES if r + 2 <= budget and size[rows] % r == 0), 1)
    return ((rows, r),) if r > 1 else ()


def _unit_stride(views: list[View], dim: int) -> bool:
    """True when every view reads consecutive elements (or one element) along original dim `dim`, and
    some view reads consecutive ones: then vector loads serve them all."""
    return all(v.strides[dim] in (0, 1) for v in views) and any(v.strides[dim] == 1 for v in views)


def _top_views(space_root: Node) -> list[View] | None:
    """The outermost View of every view read directly in `space_root`'s index space (None: do not merge)."""
    views, stack, seen = [], [space_root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if is_reshape(node) and _squeezed(node.shape) == _squeezed(node.src[0].shape):
            stack.extend(node.src)  # only size-1 dims come or go: the same dims to merge
        elif node.op == "buffer" or is_reshape(node):
            views.append(View.identity(node.shape))
        elif node.op == "view":
            views.append(node.arg.views[-1])
        elif node.op == "gather":
            return None
        elif node.op in ELEMENTWISE:
            stack.extend(node.src)
    return views


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _in_space(views: list[View] | None, shape: tuple[int, ...]) -> list[View] | None:
    """`views` over `shape` (they may differ from it in size-1 dims only), or None when one cannot be."""
    if views is None or any(_squeezed(v.shape) != _squeezed(shape) for v in views):
        return None
    return [v if v.shape == shape else v.reshape(shape) for v in views]


def _mergeable(view: View, d: int, e: int) -> bool:
    if view.strides[d] != view.strides[e] * view.shape[e]:
        return False
    return view.mask is None or (view.mask[d] == (0, view.shape[d]) and view.mask[e] == (0, view.shape[e]))


def _merge_groups(shape: tuple, axes: tuple, out_views: list | None, in_views: list | None) -> list[list[int]]:
    """Dims of `shape` (size-1 dims dropped) grouped where all views allow merging; reduced and
    kept dims never share a group."""
    groups: list[list[int]] = []
    for e in (d for d, s in enumerate(shape) if s != 1):
        d = groups[-1][-1] if groups else None
        if d is not None and out_views is not None and in_views is not None and (d in axes) == (e in axes):
            views = in_views + (out_views if e not in axes else [])
            if all(_mergeable(v, d, e) for v in views):
                groups[-1].append(e)
                continue
        groups.append([e])
    return groups


def _split(out_shape: tuple[int, ...], reduce_size: int, cores: int) -> tuple[int, int]:
    """(workgroups, rows of the outermost output dim per workgroup)."""
    if not out_shape:
        return 1, 0
    rows, work = out_shape[0], math.prod(out_shape) * max(reduce_size, 1)
    groups = max(1, min(rows, cores * GROUPS_PER_CORE, work // MIN_WORK))
    chunk = -(-rows // groups)
    return -(-rows // chunk), chunk
