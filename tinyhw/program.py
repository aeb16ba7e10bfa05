"""Loaded kernels: what `load` returns, with the parameter list launches are checked against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "Program", "SCALAR_KINDS"]

SCALAR_KINDS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "bfloat16", "float32", "float64")  # fmt: skip
"""Kinds a scalar kernel parameter may have; the other kind is "buffer"."""


@dataclass(frozen=True, slots=True)
class Param:
    """One kernel parameter: its name and kind ("buffer" or one of SCALAR_KINDS)."""

    name: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class Program:
    """A kernel loaded on one device, ready to launch.

    Owned by the device that loaded it and valid until that device is closed; immutable, so it
    may be shared between threads. Nearest equivalents: VkPipeline; an HSA kernel object.
    Backends subclass it to keep their code handle and argument layout.
    """

    __slots__ = ("device", "name", "params")

    def __init__(self, device: Any, name: str, params: tuple[Param, ...]) -> None:
        self.device, self.name, self.params = device, name, params

    @property
    def signature(self) -> str:
        """The kernel's signature as users read it, e.g. "add(buffer a, buffer b, int32 n)"."""
        return f"{self.name}({', '.join(map(str, self.params))})"

    def argument_error(self, args: tuple, detail: str = "") -> TypeError:
        """A TypeError that names this kernel's signature and what was wrong with `args`."""
        given = ", ".join(type(a).__name__ for a in args)
        why = f": {detail}" if detail else ""
        return TypeError(f"kernel {self.signature} cannot take ({given}){why}")

    def __repr__(self) -> str:
        return f"<Program {self.signature}>"
