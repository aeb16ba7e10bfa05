"""Running scheduled nodes on a device: storage, the kernel cache, launches, debug output, counters.

`realize(nodes)` schedules the graph behind `nodes`, then for each node to realize: looks up
its kernel by the structure of its fused graph (building and compiling it on a miss — the
compiled binary is memoised by `compile_kernel` and cached on disk too), allocates the output,
launches, and turns the node into a buffer node. Device memory is owned by `Storage` objects,
freed as soon as no node refers to them.

Inside `recording()` every launch is also recorded (for `tinyhw_tensor.jit`), and copies between
host and device are refused: a replay of the recorded launches would not repeat them.

`TINYHW_DEBUG=1` prints every kernel launch (name, global size, time — it then waits for each
kernel); `TINYHW_DEBUG=2` also prints each newly built kernel's IR and rendered source.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

import tinyhw
from tinyhw.kernel.dtypes import DType
from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import kernel_cache
from tinyhw_tensor.graph import Node
from tinyhw_tensor.lower import lower, signature
from tinyhw_tensor.schedule import schedule

__all__ = [
    "Storage",
    "Counters",
    "counters",
    "realize",
    "upload",
    "download",
    "check_dtype",
    "check_math",
    "default_device",
    "Launch",
    "CaptureError",
    "recording",
]

DEBUG = int(os.environ.get("TINYHW_DEBUG", "0") or 0)


@dataclass
class Counters:
    """Running totals since import: kernels launched, kernels built (lowered and compiled), buffers allocated."""

    launched: int = 0
    built: int = 0
    allocated: int = 0
    live_buffers: int = 0


counters = Counters()
"""The process's counters (tests compare them before and after an operation)."""


class Storage:
    """Device memory holding one realized node's data; freed when the last node using it goes."""

    __slots__ = ("device", "buffer", "nbytes", "__weakref__")

    def __init__(self, device: tinyhw.Device, nbytes: int) -> None:
        self.device, self.nbytes = device, nbytes
        self.buffer = device.allocate(nbytes)
        counters.allocated += 1
        counters.live_buffers += 1

    def __del__(self) -> None:
        buffer, self.buffer = self.buffer, None
        if buffer is None:
            return
        counters.live_buffers -= 1
        if not buffer.freed:
            try:
                self.device.free(buffer)
            except Exception:  # the device was closed first (interpreter exit): its memory went with it
                pass


@dataclass(frozen=True, slots=True)
class CompiledKernel:
    """A kernel ready to launch: the program, its workgroup count, its name for debug output, its workgroup size."""

    program: Any
    global_size: int
    name: str
    local_size: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Launch:
    """One recorded launch: the program, its workgroup count, the storages it writes (first) and reads, and its
    workgroup size."""

    program: Any
    global_size: int
    storages: tuple[Storage, ...]
    local_size: tuple[int, int, int]


class CaptureError(RuntimeError):
    """A recorded (jitted) function did something a replay of its launches would not repeat."""


_recordings: list[list[Launch]] = []


@contextlib.contextmanager
def recording() -> Iterator[list[Launch]]:
    """Record the launches made inside the block, in order, into the list it yields. Uploads and
    downloads inside the block raise CaptureError."""
    launches: list[Launch] = []
    _recordings.append(launches)
    try:
        yield launches
    finally:
        _recordings.remove(launches)


def _refuse_while_recording(what: str) -> None:
    if _recordings:
        raise CaptureError(f"{what} inside a captured (jitted) function: a replay would not repeat it; "
                           "pass host data as Tensor arguments and read results after the call")  # fmt: skip


_kernels: weakref.WeakKeyDictionary[Any, dict[tuple, CompiledKernel]] = weakref.WeakKeyDictionary()
_default: list[tinyhw.Device] = []


def default_device() -> tinyhw.Device:
    """The device tensors go to when none is given: `tinyhw.Device()` (TINYHW_DEVICE, else the best)."""
    if _default and _default[0] in tinyhw.registry.open_devices():
        return _default[0]
    _default[:] = [tinyhw.Device()]
    return _default[0]


def check_dtype(device: tinyhw.Device, dtype: DType) -> None:
    """TypeError naming dtype and device when the device's backend declares `dtype:<name>` unsupported."""
    reason = device.backend.capabilities.unsupported.get(f"dtype:{dtype.name}")
    if reason is not None:
        raise TypeError(f"dtype {dtype.name} is not supported on {device.name}: {reason}")


MATH_OPS = frozenset({"exp", "exp2", "log", "log2", "sin", "cos", "tanh", "erf", "pow"})
"""Transcendental ops: the ones a device declaring "float64-math" unsupported cannot compute in float64."""


def check_math(device: tinyhw.Device, op: str, dtype: DType) -> None:
    """TypeError naming op, dtype and device when `op` is float64 math the device declares unsupported."""
    if op in MATH_OPS and dtype.name == "float64":
        reason = device.backend.capabilities.unsupported.get("float64-math")
        if reason is not None:
            raise TypeError(f"float64 {op} is not supported on {device.name}: {reason}")


def upload(array: np.ndarray, dtype: DType, device: tinyhw.Device) -> Storage | None:
    """Device storage holding `array` converted to `dtype` (None when it is empty)."""
    data = dt.to_numpy(array, dtype)
    _refuse_while_recording(f"a copy of host data {data.shape} to the device")
    if data.size == 0:
        return None
    storage = Storage(device, data.nbytes)
    device.copy(storage.buffer, data)
    return storage


def download(node: Node) -> np.ndarray:
    """A realized node's data as a new numpy array (waits for the device)."""
    _refuse_while_recording(f"a read of {node.shape} data back to the host")
    raw = np.empty(node.shape, dtype=node.dtype.numpy)
    if raw.size:
        node.device.copy(raw, node.storage.buffer)
        node.device.sync()
    return dt.from_numpy(raw, node.dtype)


def realize(nodes: list[Node]) -> None:
    """Compute every node in `nodes` (and what they need) into device storage."""
    for node in schedule(nodes):
        _run(node)


def _run(node: Node) -> None:
    size = math.prod(node.shape)
    if size == 0:
        node.realize_into(None)
        return
    if (alias := _alias(node)) is not None:
        node.realize_into(alias)
        return
    key, inputs = signature(node)
    device = node.device
    kernel = _kernel(device, key, node, inputs)
    storage = Storage(device, size * node.dtype.itemsize)
    args = [storage.buffer] + [n.storage.buffer for n in inputs]
    start = time.perf_counter() if DEBUG else 0.0
    device.launch(kernel.program, *args, global_size=kernel.global_size, local_size=kernel.local_size)
    counters.launched += 1
    if _recordings:
        storages = (storage, *(n.storage for n in inputs))
        _recordings[-1].append(Launch(kernel.program, kernel.global_size, storages, kernel.local_size))
    if DEBUG:
        device.sync()
        ms = (time.perf_counter() - start) * 1e3
        print(f"tinyhw_tensor: {kernel.name:<32} shape={node.shape} groups={kernel.global_size} {ms:.3f} ms",
              file=sys.stderr)  # fmt: skip
    node.realize_into(storage)


def _alias(node: Node) -> Storage | None:
    """The storage of the buffer `node` only reshapes (so no kernel is needed), else None."""
    if node.op == "contiguous":
        node = node.src[0]
        if node.realized:
            return node.storage
    if node.op != "view" or not node.src[0].realized or len(node.arg.views) != 1:
        return None
    if math.prod(node.shape) != math.prod(node.src[0].shape):
        return None
    flat = node.arg.views[0].reshape(node.src[0].shape)
    return node.src[0].storage if flat is not None and flat.is_identity else None


def _kernel(device: tinyhw.Device, key: tuple, node: Node, inputs: list[Node]) -> CompiledKernel:
    cache = _kernels.get(device)
    if cache is None:
        cache = _kernels[device] = {}
    found = cache.get(key)
    if found is None:
        found = cache[key] = _build(device, key, node, inputs)
    return found


def _build(device: tinyhw.Device, key: tuple, node: Node, inputs: list[Node]) -> CompiledKernel:
    """The kernel computing `node` (graph structure `key`): lowered, rendered and compiled, or the rendered
    source found in the kernel cache from an earlier process, compiled (usually from the compile cache)."""
    check_dtype(device, node.dtype)  # a result dtype the device refuses (int64 sums on webgpu) is a TypeError
    start = time.perf_counter()
    cores, simt = device.info.compute_units, "simt" in device.backend.capabilities.features
    disk_key = kernel_cache.lowered_key(device, key, cores, simt)
    lowered = kernel_cache.load(disk_key) if DEBUG < 2 else None
    if lowered is None:
        lowered = _lowered(device, node, inputs, cores, simt)
        kernel_cache.store(disk_key, lowered)
    program = device.compile(lowered["source"], lowered["entry"])
    counters.built += 1
    if DEBUG:
        ms = (time.perf_counter() - start) * 1e3
        print(f"tinyhw_tensor: built {lowered['name']} in {ms:.1f} ms", file=sys.stderr)
    return CompiledKernel(program, lowered["global_size"], lowered["name"], tuple(lowered["local_size"]))


def _lowered(device: tinyhw.Device, node: Node, inputs: list[Node], cores: int, simt: bool) -> kernel_cache.Lowered:
    """`node` lowered and rendered for `device` (with `TINYHW_DEBUG=2`, both printed)."""
    from tinyhw.kernel.render import render_for

    kernel, global_size = lower(node, inputs, cores, simt)
    rendered = render_for(device, kernel)
    if DEBUG >= 2:
        print(f"{kernel}\n{rendered.source}", file=sys.stderr)
    return {"source": rendered.source, "entry": rendered.entry, "global_size": global_size,
            "local_size": list(kernel.local_size), "name": kernel.name}  # fmt: skip
