"""Programs on HCQ devices: a loaded binary plus the layout of its kernel arguments."""

from __future__ import annotations

import struct
from typing import Any

from tinyhw.program import Param, Program

__all__ = ["HCQProgram", "SCALAR_FORMATS"]

SCALAR_FORMATS = {"int8": "b", "int16": "h", "int32": "i", "int64": "q", "uint8": "B", "uint16": "H", "uint32": "I",
                  "uint64": "Q", "float16": "e", "bfloat16": "H", "float32": "f", "float64": "d"}  # fmt: skip
"""struct codes of scalar parameters in a kernarg block (bfloat16 is packed from its bits)."""

_SCALAR, _BUFFER, _BFLOAT16 = 0, 1, 2


def _bfloat16_bits(value: float) -> int:
    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    return (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even


class HCQProgram(Program):
    """A kernel loaded into device memory, with its kernel-argument layout.

    The layout gives each parameter a byte offset in the kernarg block the device reads: a
    buffer parameter holds the buffer's 64-bit device address, a scalar its value. `pack_into`
    writes one launch's block. Backends subclass it to hold code addresses and dispatch state.
    """

    __slots__ = ("kernarg_size", "_format", "_kinds")

    def __init__(self, device: Any, name: str, params: tuple[Param, ...], offsets: tuple[int, ...],
                 kernarg_size: int) -> None:  # fmt: skip
        super().__init__(device, name, params)
        self.kernarg_size = kernarg_size
        fmt, end = "<", 0
        for param, offset in sorted(zip(params, offsets), key=lambda pair: pair[1]):
            code = "Q" if param.kind == "buffer" else SCALAR_FORMATS[param.kind]
            fmt += ("x" * (offset - end)) + code
            end = offset + struct.calcsize("<" + code)
        order = sorted(range(len(params)), key=lambda i: offsets[i])
        if order != list(range(len(params))):
            raise ValueError(f"{name}: kernel arguments must be laid out in parameter order")
        self._format = struct.Struct(fmt)
        self._kinds = tuple(_BUFFER if p.kind == "buffer" else _BFLOAT16 if p.kind == "bfloat16" else _SCALAR
                            for p in params)  # fmt: skip

    def pack_into(self, view: memoryview, offset: int, args: tuple) -> None:
        """Write the kernarg block for `args` at `view[offset:]`; TypeError names the signature."""
        try:
            values = [(a.root.handle.va + a.offset) if k == _BUFFER else a if k == _SCALAR else _bfloat16_bits(a)
                      for a, k in zip(args, self._kinds, strict=True)]  # fmt: skip
            self._format.pack_into(view, offset, *values)
        except (AttributeError, ValueError, TypeError, struct.error) as exc:
            raise self._explain(args, exc) from None

    def _explain(self, args: tuple, exc: Exception) -> Exception:
        if len(args) != len(self.params):
            return self.argument_error(args, f"expected {len(self.params)} arguments, got {len(args)}")
        for i, (arg, param) in enumerate(zip(args, self.params)):
            is_buffer = hasattr(arg, "root") and hasattr(arg, "offset")
            if param.kind == "buffer" and not is_buffer:
                return self.argument_error(args, f"argument {i} ({param}) must be a tinyhw.Buffer")
            if param.kind == "buffer" and arg.freed:
                return ValueError(f"kernel {self.signature}: argument {i} ({param}) {arg!r} was freed (use after free)")
            if param.kind != "buffer" and (is_buffer or not isinstance(arg, int | float)):
                return self.argument_error(args, f"argument {i} ({param}) must be a number")
        return self.argument_error(args, str(exc))
