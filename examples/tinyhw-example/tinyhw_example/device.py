"""The example device: bytearrays for memory, Python functions for kernels, all run on the calling thread.

It implements tinyhw's DeviceOperations hooks (tinyhw/hookspec.py, the normative contract)
directly, as a backend over a vendor's own runtime library would; it has no command queues.
Because every operation has finished when its call returns, the timeline is ordered for free:
host sources are read at once, host destinations hold their data before `sync`, and a freed
buffer is never in use. An exception inside a kernel is an execution error: it is recorded and
raised by the next `sync`, after which the device works again.
"""

from __future__ import annotations

import itertools
import numbers
import operator
import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from tinyhw import Buffer, BufferOptions, DeviceFault, DeviceInfo, OutOfMemory, Param, Program, hookimpl
from tinyhw_example import __version__
from tinyhw_example.compiler import KINDS, compile_kernel, load_kernel

__all__ = ["ExampleDevice", "ExampleProgram", "MEMORY_BYTES"]

MEMORY_BYTES = 1 << 30
"""The device's fixed memory size; allocations beyond it raise OutOfMemory."""
MAX_GROUPS = (1 << 31) - 1
"""The largest workgroup count per dimension (the ids fit an int32, as on most GPUs)."""


class ExampleProgram(Program):
    """A kernel as a Python function, with a converter per parameter that checks and binds one argument."""

    __slots__ = ("function", "_binders")

    def __init__(self, device: ExampleDevice, name: str, params: tuple[Param, ...], function: Callable) -> None:
        super().__init__(device, name, params)
        self.function = function
        self._binders = tuple(_bind_buffer if p.kind == "buffer" else _scalar_binder(p.kind) for p in params)

    def bind(self, args: tuple) -> list[Any]:
        """The kernel's arguments for `args`: numpy views of buffers, numpy scalars.

        TypeError naming the signature for a wrong count or kind; ValueError for a freed buffer.
        """
        if len(args) != len(self.params):
            raise self.argument_error(args, f"expected {len(self.params)} arguments, got {len(args)}")
        bound = []
        for i, (arg, param, binder) in enumerate(zip(args, self.params, self._binders)):
            try:
                bound.append(binder(self.device, arg))
            except TypeError as exc:
                raise self.argument_error(args, f"argument {i} ({param}): {exc}") from None
            except ValueError as exc:  # a freed buffer
                raise ValueError(f"kernel {self.signature}: argument {i} ({param}): {exc}") from None
        return bound


def _bind_buffer(device: ExampleDevice, arg: Any) -> np.ndarray:
    if not isinstance(arg, Buffer) or arg.device is not device:
        raise TypeError(f"expected a tinyhw.Buffer of {device.name}, got {type(arg).__name__}")
    if arg.freed:
        raise ValueError(f"{arg!r} was freed")
    return np.frombuffer(arg.root.handle, np.uint8, arg.size, arg.offset)


def _scalar_binder(kind: str) -> Callable[[ExampleDevice, Any], Any]:
    scalar = np.dtype(kind).type
    if np.issubdtype(scalar, np.integer):
        low, high = np.iinfo(scalar).min, np.iinfo(scalar).max
        return lambda device, arg: scalar(_int_in(arg, low, high))
    return lambda device, arg: scalar(_real(arg))


def _int_in(arg: Any, low: int, high: int) -> int:
    try:
        value = None if isinstance(arg, bool | np.bool_) else operator.index(arg)
    except TypeError:
        value = None
    if value is None or not low <= value <= high:
        raise TypeError(f"expected an int in [{low}, {high}], got {arg!r}")
    return value


def _real(arg: Any) -> float:
    if not isinstance(arg, numbers.Real) or isinstance(arg, bool | np.bool_):
        raise TypeError(f"expected a number, got {type(arg).__name__}")
    return arg


class ExampleDevice:
    """One example device; `tinyhw.Device("example")` opens it through the backend's `open`."""

    def __init__(self, name: str) -> None:
        self.name, self.used = name, 0
        self.fault: DeviceFault | None = None
        self.info = DeviceInfo(
            name="tinyhw example device (pure Python)",
            memory=MEMORY_BYTES,
            compute_units=1,
            target="python",
            compiler=f"tinyhw-example {__version__}",
            details={"python": platform.python_version(), "parameter kinds": ", ".join(KINDS)},
        )

    @hookimpl
    def allocate(self, size: int, options: BufferOptions) -> Buffer:
        free = self.info.memory - self.used
        if size > free:
            raise OutOfMemory(f"{self.name}: cannot allocate {size} bytes; {free} of {self.info.memory} bytes free")
        try:
            memory = bytearray(size)
        except MemoryError:
            raise OutOfMemory(f"{self.name}: the host could not provide {size} bytes ({free} bytes free)") from None
        self.used += size
        return Buffer(self, size, options, memory)

    @hookimpl
    def free(self, buffer: Buffer) -> None:
        self.used -= buffer.size
        buffer.handle = None  # marks the buffer freed; Python reclaims the bytearray

    @hookimpl
    def copy(self, dst: Buffer | memoryview, src: Buffer | memoryview, size: int) -> None:
        _memory(dst)[:] = _memory(src)

    @hookimpl
    def compile(self, source: str | bytes, entry: str | None) -> bytes:
        return compile_kernel(source, entry)

    @hookimpl
    def load(self, binary: bytes) -> ExampleProgram:
        return ExampleProgram(self, *load_kernel(binary))

    @hookimpl
    def launch(self, program: ExampleProgram, args: tuple, global_size: tuple, local_size: tuple) -> None:
        bound = program.bind(args)
        if max(global_size) > MAX_GROUPS:
            raise ValueError(f"{self.name}: global_size {global_size} exceeds {MAX_GROUPS} workgroups per dimension")
        nx, ny, nz = global_size
        group = (0, 0, 0)
        try:
            for group in itertools.product(range(nz), range(ny), range(nx)):
                program.function(group[2], group[1], group[0], *bound)
        except Exception as exc:
            where = f"workgroup ({group[2]}, {group[1]}, {group[0]})"
            self.fault = self.fault or DeviceFault(f"{self.name}: kernel {program.signature} failed in {where}: "
                                                   f"{type(exc).__name__}: {exc}")  # fmt: skip

    @hookimpl
    def sync(self) -> None:
        fault, self.fault = self.fault, None
        if fault is not None:
            raise fault

    @hookimpl
    def close(self) -> None:
        self.fault = None  # nothing is outstanding; the buffers' bytearrays go with the buffers


def _memory(side: Buffer | memoryview) -> memoryview:
    """The bytes of a (possibly view) Buffer of this device, or a host memoryview as it is."""
    if isinstance(side, Buffer):
        return memoryview(side.root.handle)[side.offset : side.offset + side.size]
    return side
