"""The validate layer: strict checks of arguments, buffer ownership and lifetime, and leaks.

The device always checks what is cheap (sizes, bounds, double free); this layer adds what costs
time on every call: every buffer argument belongs to this device and is alive, scalar arguments
fit their parameter's kind, and at close, buffers never freed are reported as leaks.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from typing import Any

from tinyhw.buffer import Buffer
from tinyhw.hookspec import hookimpl

__all__ = ["ValidateLayer", "LeakWarning"]

INT_RANGES = {f"{s}int{b}": ((-(1 << (b - 1)), (1 << (b - 1)) - 1) if s == "" else (0, (1 << b) - 1))
              for s in ("", "u") for b in (8, 16, 32, 64)}  # fmt: skip


class LeakWarning(ResourceWarning):
    """Buffers were still allocated when their device closed."""


class ValidateLayer:
    """Raises TypeError/ValueError before a bad operation reaches the device; tracks live buffers."""

    def __init__(self, device: str, impl: Any) -> None:
        self.device, self.impl = device, impl
        self.live: dict[int, Buffer] = {}

    def _check(self, buffer: Buffer, what: str) -> None:
        if not isinstance(buffer, Buffer):
            raise TypeError(f"{self.device}: {what} must be a tinyhw.Buffer, got {type(buffer).__name__}")
        if buffer.device is not self.impl:
            raise ValueError(f"{self.device}: {what} {buffer!r} belongs to another device")
        if buffer.freed or id(buffer.root) not in self.live:
            raise ValueError(f"{self.device}: {what} {buffer!r} is not a live allocation of this device")

    @hookimpl(wrapper=True)
    def allocate(self, size: int, options: Any) -> Generator[None, Any, Any]:
        buffer = yield
        self.live[id(buffer)] = buffer
        return buffer

    @hookimpl(wrapper=True)
    def free(self, buffer: Buffer) -> Generator[None, Any, Any]:
        self._check(buffer, "freed buffer")
        result = yield
        del self.live[id(buffer)]
        return result

    @hookimpl(wrapper=True)
    def copy(self, dst: Any, src: Any, size: int) -> Generator[None, Any, Any]:
        for side, what in ((dst, "copy destination"), (src, "copy source")):
            if isinstance(side, Buffer):
                self._check(side, what)
                if side.offset + size > side.root.size:
                    raise ValueError(f"{self.device}: {what} {side!r} is too small for {size} bytes")
        return (yield)

    @hookimpl(wrapper=True)
    def launch(self, program: Any, args: tuple, global_size: tuple, local_size: tuple) -> Generator[None, Any, Any]:
        if len(args) != len(program.params):
            raise program.argument_error(args, f"expected {len(program.params)} arguments, got {len(args)}")
        for i, (arg, param) in enumerate(zip(args, program.params)):
            if param.kind == "buffer":
                self._check(arg, f"argument {i} ({param}) of {program.name}")
            else:
                self._check_scalar(program, args, i, arg, param)
        return (yield)

    def _check_scalar(self, program: Any, args: tuple, i: int, arg: Any, param: Any) -> None:
        if param.kind in INT_RANGES:
            low, high = INT_RANGES[param.kind]
            if not isinstance(arg, int) or isinstance(arg, bool) or not low <= arg <= high:
                raise program.argument_error(args, f"argument {i} ({param}) must be an int in [{low}, {high}]")
        elif not isinstance(arg, int | float) or isinstance(arg, bool):
            raise program.argument_error(args, f"argument {i} ({param}) must be a number")

    @hookimpl(wrapper=True)
    def close(self) -> Generator[None, Any, Any]:
        """Warn (LeakWarning) about buffers still allocated when the device closes."""
        if self.live:
            sizes = sorted(b.size for b in self.live.values())
            warnings.warn(f"{self.device}: {len(sizes)} buffers never freed ({sum(sizes)} bytes: {sizes[:8]})",
                          LeakWarning, stacklevel=2)  # fmt: skip
        return (yield)
