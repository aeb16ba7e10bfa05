"""Capture and replay: a function of tensors, recorded once as its kernel launches, then replayed.

    step = jit(lambda x, w: (x @ w).relu().sum(1))
    for batch in batches:
        out = step(Tensor(batch), w)     # 1st call: runs as usual; 2nd: recorded; later: replayed

Scheduling, lowering and launching cost Python time per kernel (tens of microseconds); a model
of a hundred small kernels spends more of it than the kernels run. A `Jit` runs its function
normally on the first call for a given input signature (shapes, dtypes, devices of the Tensor
arguments), records the launches the second call makes, and from then on only binds the new
input buffers and replays them — on a command-queue device as one `tinyhw.hcq.Graph` submission.

What the function does must depend only on its Tensor arguments' values and on tensors that
stay the same (weights): host code it runs (Python branches, numpy) is not re-run by a replay,
and copies between host and device inside it raise CaptureError. Results are fresh tensors on
every call. Buffers for the recorded intermediates are kept for the Jit's life, one shared by
intermediates whose lifetimes do not overlap. Not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tinyhw.hcq import Graph, HCQDevice, Var
from tinyhw_tensor import graph
from tinyhw_tensor.runtime import CaptureError, Launch, Storage, counters, recording
from tinyhw_tensor.tensor import Tensor

__all__ = ["Jit", "jit", "CaptureError"]


class _Replay:
    """Recorded launches with the input buffers as variables, and copies of the results into new storage."""

    def __init__(self, inputs: list[Tensor], launches: list[Launch], outputs: list[Tensor], kind: type | None) -> None:
        self.kind = kind  # the container the function returned its results in (None: one Tensor)
        self.device = inputs[0].device if inputs else outputs[0].device
        slots: dict[int, Any] = {id(t.node.storage): i for i, t in reversed(list(enumerate(inputs)))}
        self.count = len(launches)
        results = {id(t.node.storage) for t in outputs}
        self.kept = {id(s): s for launch in launches for s in launch.storages if id(s) not in slots}  # weights
        self.kept.update((id(t.node.storage), t.node.storage) for t in outputs if id(t.node.storage) not in slots)
        slots.update(_reuse_intermediates(self.device, launches, slots.keys() | results, self.kept))
        self.steps = [(launch.program, {"global_size": launch.global_size, "local_size": launch.local_size},
                       [self._slot(s, slots) for s in launch.storages]) for launch in launches]  # fmt: skip
        self.results = [(self._slot(t.node.storage, slots), t.dtype, t.shape) for t in outputs]
        self.graph = self._record() if isinstance(self.device.impl, HCQDevice) else None

    @staticmethod
    def _slot(storage: Storage, slots: dict[int, Any]) -> Any:
        """The input index reading `storage`, or the buffer standing for it in every replay."""
        slot = slots.get(id(storage))
        return storage.buffer if slot is None else slot

    def _record(self) -> Graph:
        g = Graph(self.device)
        for program, sizes, args in self.steps:
            g.launch(program, *(Var(f"in{a}") if type(a) is int else a for a in args), **sizes)
        for k, (source, dtype, shape) in enumerate(self.results):
            src = Var(f"in{source}") if type(source) is int else source
            g.copy(Var(f"out{k}"), src, dtype.itemsize * math.prod(shape))
        return g

    def __call__(self, inputs: list[Tensor]) -> Any:
        buffers = [t.node.storage.buffer for t in inputs]
        outs = [Storage(self.device, dtype.itemsize * math.prod(shape)) for _, dtype, shape in self.results]
        if self.graph is not None:
            values = {f"in{i}": b for i, b in enumerate(buffers)}
            self.graph.replay(**values, **{f"out{k}": s.buffer for k, s in enumerate(outs)})
        else:
            for program, sizes, args in self.steps:
                bound = [buffers[a] if type(a) is int else a for a in args]
                self.device.launch(program, *bound, **sizes)
            for (source, _, _), out in zip(self.results, outs):
                self.device.copy(out.buffer, buffers[source] if type(source) is int else source, out.nbytes)
        counters.launched += self.count
        results = [Tensor._wrap(graph.buffer(s, dtype, shape, self.device)) for s, (_, dtype, shape) in
                   zip(outs, self.results)]  # fmt: skip
        return results[0] if self.kind is None else self.kind(results)


def _reuse_intermediates(device: Any, launches: list[Launch], fixed: set[int], kept: dict[int, Storage]) -> dict:
    """{id of an intermediate storage: the buffer the replay uses for it}: buffers are shared by
    intermediates whose lifetimes (first write to last read) do not overlap, as in an eager run,
    which frees each one after its last use. The buffers land in `kept`; the captured storages leave it."""
    last = {id(s): i for i, launch in enumerate(launches) for s in launch.storages}
    free: dict[int, list[Storage]] = {}
    chosen: dict[int, Storage] = {}
    for i, launch in enumerate(launches):
        out = launch.storages[0]
        if id(out) not in fixed and id(out) not in chosen:
            spare = free.get(out.nbytes)
            chosen[id(out)] = spare.pop() if spare else Storage(device, out.nbytes)
            kept.pop(id(out), None)
        for s in {id(s): s for s in launch.storages}.values():  # a storage read twice is freed once
            if last[id(s)] == i and id(s) in chosen:
                free.setdefault(s.nbytes, []).append(chosen[id(s)])
    kept.update((id(s), s) for s in chosen.values())
    return {k: s.buffer for k, s in chosen.items()}


class Jit:
    """`fn` (Tensors in, a Tensor or a tuple/list of Tensors out) captured and replayed per input
    signature (see the module docstring). Arguments must be Tensors; they are realized first.
    The replays of the `max_signatures` signatures used last are kept (with their buffers)."""

    def __init__(self, fn: Callable[..., Any], max_signatures: int = 8) -> None:
        if max_signatures < 1:
            raise ValueError(f"max_signatures must be at least 1, got {max_signatures}")
        self.fn, self.max_signatures = fn, max_signatures
        self._calls: dict[tuple, int] = {}
        self._replays: dict[tuple, _Replay] = {}  # least recently used first

    def __call__(self, *args: Tensor) -> Any:
        for a in args:
            if not isinstance(a, Tensor):
                raise TypeError(f"jitted functions take Tensor arguments, got {type(a).__name__}")
        inputs = [a.realize() for a in args]
        if any(t.node.storage is None for t in inputs):
            return self.fn(*args)  # an empty input: nothing worth capturing
        key = self._signature(inputs)
        replay = self._replays.pop(key, None)
        if replay is not None:
            self._replays[key] = replay
            return replay(inputs)
        calls = self._calls[key] = self._calls.get(key, 0) + 1
        if calls == 1:
            return self.fn(*args)
        with recording() as launches:
            result = self.fn(*args)
            outputs = _outputs(result)
            for t in outputs:
                t.realize()
        kind = type(result) if isinstance(result, tuple | list) else None
        if outputs:
            if len(self._replays) == self.max_signatures:
                self._forget(next(iter(self._replays)))
            self._replays[key] = _Replay(inputs, launches, outputs, kind)
        return result

    def _forget(self, key: tuple) -> None:
        """Drop the replay of `key` and its buffers (a later call with that signature records anew)."""
        replay = self._replays.pop(key)
        del self._calls[key]
        if replay.graph is not None:
            replay.graph.free()

    @staticmethod
    def _signature(inputs: list[Tensor]) -> tuple:
        """Shapes, dtypes and devices of the inputs, and which of them share a buffer."""
        first: dict[int, int] = {}
        shared = tuple(first.setdefault(id(t.node.storage), i) for i, t in enumerate(inputs))
        return tuple((t.shape, t.dtype, t.device) for t in inputs) + (shared,)


def _outputs(result: Any) -> list[Tensor]:
    outputs = list(result) if isinstance(result, tuple | list) else [result]
    for t in outputs:
        if not isinstance(t, Tensor):
            raise CaptureError(f"a jitted function returns Tensors (one, or a tuple/list), got {type(t).__name__}")
    return outputs


def jit(fn: Callable[..., Any], max_signatures: int = 8) -> Jit:
    """`fn` captured and replayed (see Jit); usable as a decorator."""
    return Jit(fn, max_signatures)
