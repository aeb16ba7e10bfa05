"""Graphs: launches and copies recorded once on an HCQ device, replayed with one submission each.

graph = Graph(dev)
graph.launch(scale, out, Var("x"), 2.0, global_size=64)
graph.replay(x=buffer_a)      # encodes nothing again: patches the changed values in place
graph.replay(x=buffer_b)
"""

from __future__ import annotations

from typing import Any

from tinyhw.buffer import Buffer, BufferOptions
from tinyhw.device import Device, as_size3
from tinyhw.hcq.device import OPERATION_LOG_MASK, HCQDevice
from tinyhw.hcq.program import HCQProgram
from tinyhw.hcq.queue import HWQueue, Sym

__all__ = ["Graph", "Var"]

KERNARG_ALIGN = 64


class Var:
    """A value named when a graph is recorded and given at each replay: a Buffer or a scalar."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Var({self.name!r})"


class _Launch:
    __slots__ = ("program", "args", "global_size", "local_size", "offset", "variable")

    def __init__(self, program: HCQProgram, args: tuple, global_size: tuple, local_size: tuple, offset: int) -> None:
        self.program, self.args, self.global_size, self.local_size = program, args, global_size, local_size
        self.offset, self.variable = offset, any(isinstance(a, Var) for a in args)

    def resolved(self, values: dict[str, Any]) -> tuple:
        return tuple(values[a.name] if isinstance(a, Var) else a for a in self.args)


class Graph:
    """A recorded sequence of launches and device-to-device copies on one HCQ device.

    Recording checks arguments like eager calls do, but enqueues nothing. The first `replay`
    encodes the command streams and binds them in device memory; each replay then patches the
    timeline values, the `Var` arguments in the kernel-argument memory and the `Var` copy
    addresses, and submits — first waiting for the previous replay where it still reads what is
    patched (Var arguments, or bound commands the device reads in place). Replays are ordered with the device's
    other work like any operation. Used from one thread; lives as long as its device. Nearest equivalent: a CUDA
    graph; a Vulkan command buffer re-submitted with updated descriptors.
    """

    def __init__(self, device: Device) -> None:
        if not isinstance(device.impl, HCQDevice):
            raise TypeError(f"{device.name} is not a command-queue device; graphs need the 'hcq' capability")
        self.device, self.impl = device, device.impl
        self._launches: list[_Launch] = []
        self._steps: list[tuple[type[HWQueue], list]] = []
        self._queues: list[HWQueue] = []
        self._kernargs: Buffer | None = None
        self._kernarg_bytes = 0
        self._last_replay = 0

    def launch(
        self, program: HCQProgram, *args: Any, global_size: Any = (1, 1, 1), local_size: Any = (1, 1, 1)
    ) -> None:
        """Record a launch; any argument may be a `Var` given at replay."""
        self._check_open()
        item = _Launch(program, args, as_size3(global_size, "global_size"), as_size3(local_size, "local_size"),
                       self._kernarg_bytes)  # fmt: skip
        self._kernarg_bytes += -(-program.kernarg_size // KERNARG_ALIGN) * KERNARG_ALIGN
        self._launches.append(item)
        self._append(self.impl.compute_queue_type, ("exec", item))

    def copy(self, dst: Buffer | Var, src: Buffer | Var, size: int) -> None:
        """Record a device-to-device copy of `size` bytes; either side may be a `Var`."""
        self._check_open()
        for side in (dst, src):
            if isinstance(side, Buffer) and (side.freed or side.size < size):
                raise ValueError(f"{self.device.name}: graph copy of {size} bytes does not fit {side!r}")
        self._append(self.impl.copy_queue_type, ("copy", dst, src, size))

    def replay(self, **values: Any) -> None:
        """Submit the recorded work with `values` for its Vars; asynchronous, like `launch`."""
        if not self._queues:
            self._build()
        if self._last_replay and self._patching_needs_idle:  # the last replay still reads what is patched
            self.impl.wait_timeline(self._last_replay)
        view = self._kernargs.handle.cpu_view() if self._kernargs is not None else None
        for item in self._launches:
            if item.variable or not self._last_replay:
                item.program.pack_into(view, item.offset, self._resolve(item, values))
        base = self.impl.timeline_value - 1
        symbols = {"base": base, **{k: _address(v) for k, v in values.items() if isinstance(v, Buffer)}}
        for queue in self._queues:
            queue.submit(self.impl, symbols)
        self.impl.timeline_value = base + 1 + len(self._queues)
        for value in range(base + 1, base + 1 + len(self._queues)):
            self.impl.operation_log[value & OPERATION_LOG_MASK] = "graph"
        self._last_replay = base + len(self._queues)

    @property
    def _patching_needs_idle(self) -> bool:
        variable_args = any(item.variable for item in self._launches)
        return variable_args or not all(queue.submit_copies_commands for queue in self._queues)

    def _resolve(self, item: _Launch, values: dict[str, Any]) -> tuple:
        try:
            return item.resolved(values)
        except KeyError as missing:
            raise TypeError(f"graph replay of {item.program.signature} needs a value for Var {missing}") from None

    def _append(self, queue_type: type[HWQueue], step: tuple) -> None:
        if not self._steps or self._steps[-1][0] is not queue_type:
            self._steps.append((queue_type, []))
        self._steps[-1][1].append(step)

    def _build(self) -> None:
        if self._kernarg_bytes:
            self._kernargs = self.impl.allocator.alloc(self._kernarg_bytes, BufferOptions(host_visible=True))
        base = Sym("base")
        for i, (queue_type, steps) in enumerate(self._steps):
            queue = queue_type().wait(self.impl.timeline, base + i)
            for step in steps:
                self._encode(queue, step)
            self._queues.append(queue.signal(self.impl.timeline, base + i + 1).bind(self.impl))

    def _encode(self, queue: HWQueue, step: tuple) -> None:
        if step[0] == "exec":
            item = step[1]
            queue.exec(item.program, self._kernargs.handle.va + item.offset, item.global_size, item.local_size)
        else:
            _, dst, src, size = step
            queue.copy(_symbolic_address(dst), _symbolic_address(src), size)

    def _check_open(self) -> None:
        if self._queues:
            raise RuntimeError("this graph was already replayed; record a new Graph to change its commands")

    def free(self) -> None:
        """Release the graph's kernel-argument memory, once its last replay completed."""
        if self._kernargs is not None:
            self.impl.wait_timeline(self._last_replay)
            self.impl.allocator.free(self._kernargs)
            self._kernargs = None


def _address(buffer: Buffer) -> int:
    return buffer.root.handle.va + buffer.offset


def _symbolic_address(side: Buffer | Var) -> int | Sym:
    return Sym(side.name) if isinstance(side, Var) else _address(side)
