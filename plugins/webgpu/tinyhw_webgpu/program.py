"""A loaded WebGPU kernel: compute pipeline, explicit bind group layout, `Args` layout, cached bind groups."""

from __future__ import annotations

import numbers
import operator
import struct
from typing import Any

from tinyhw import Buffer, Param, Program
from tinyhw_webgpu.kernel import KernelInfo

__all__ = ["WebGPUProgram", "uniform_layout"]

_FORMATS = {"buffer": "I", "uint32": "I", "int32": "i", "float32": "f", "float16": "e", "int64": "q", "uint64": "Q",
            "float64": "d"}  # fmt: skip
"""struct format of each parameter's field in `Args` (a buffer's field is its offset in elements, a u32)."""


def uniform_layout(params: tuple[Param, ...], group_base: bool) -> tuple[str, int]:
    """The `struct` format (with explicit padding) and byte size of `Args` under WGSL's uniform layout rules.

    With `group_base`, `Args` starts with the vec3<u32> group base (12 bytes at offset 0).
    """
    fmt, at = ("<III", 12) if group_base else ("<", 0)
    for param in params:
        size = struct.calcsize(_FORMATS[param.kind])
        pad = -at % size  # a scalar's alignment is its size
        fmt, at = fmt + "x" * pad + _FORMATS[param.kind], at + pad + size
    return fmt, max(16, -(-at // 16) * 16)  # uniform bindings are sized in 16-byte steps


class WebGPUProgram(Program):
    """A kernel on one WebGPU device: its pipeline, and one bind group per set of buffers it was launched with."""

    __slots__ = ("info", "pipeline", "layout", "fmt", "size", "bind_groups")

    def __init__(self, device: Any, info: KernelInfo, pipeline: Any, layout: Any) -> None:
        super().__init__(device, info.name, info.params)
        self.info, self.pipeline, self.layout = info, pipeline, layout
        self.fmt, self.size = uniform_layout(info.params, info.group_base)
        self.bind_groups: dict[tuple, Any] = {}

    def pack_args(self, args: tuple) -> tuple[tuple, bytes]:
        """The wgpu buffers to bind and the `Args` bytes for `args` (group base 0); TypeError/ValueError naming the
        signature."""
        if len(args) != len(self.params):
            raise self.argument_error(args, f"expected {len(self.params)} arguments, got {len(args)}")
        handles, values, sizes = [], [0, 0, 0] if self.info.group_base else [], iter(self.info.element_sizes)
        for i, (arg, param) in enumerate(zip(args, self.params)):
            try:
                if param.kind == "buffer":
                    handle, offset = self._buffer(arg, next(sizes))
                    handles.append(handle)
                    values.append(offset)
                else:
                    values.append(_scalar(arg, param.kind))
            except TypeError as exc:
                raise self.argument_error(args, f"argument {i} ({param}): {exc}") from None
            except ValueError as exc:
                raise ValueError(f"kernel {self.signature}: argument {i} ({param}): {exc}") from None
        try:
            return tuple(handles), struct.pack(self.fmt, *values)
        except struct.error as exc:
            raise self.argument_error(args, str(exc)) from None

    def _buffer(self, arg: Any, element: int) -> tuple[Any, int]:
        if not isinstance(arg, Buffer) or arg.device is not self.device:
            raise TypeError(f"expected a tinyhw.Buffer of {self.device.name}, got {type(arg).__name__}")
        if arg.freed:
            raise ValueError(f"{arg!r} was freed")
        if arg.offset % element:
            raise ValueError(
                f"a view at byte offset {arg.offset} is not aligned to this buffer's {element}-byte elements"
            )
        return arg.root.handle, arg.offset // element


def _scalar(arg: Any, kind: str) -> int | float:
    if isinstance(arg, bool) or type(arg).__name__ == "bool_":
        raise TypeError(f"expected a {kind}, got a bool")
    if kind.startswith("float"):
        if not isinstance(arg, numbers.Real):
            raise TypeError(f"expected a number, got {type(arg).__name__}")
        return float(arg)
    try:
        value = operator.index(arg)
    except TypeError:
        raise TypeError(f"expected an int, got {type(arg).__name__}") from None
    bits = 32 if kind.endswith("32") else 64
    low, high = (0, (1 << bits) - 1) if kind.startswith("u") else (-(1 << bits - 1), (1 << bits - 1) - 1)
    if not low <= value <= high:
        raise TypeError(f"expected an int in [{low}, {high}], got {value}")
    return value
