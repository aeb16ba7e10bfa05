"""Registers by name, with named bit fields, built from the generated register tables.

Register headers give every register an offset and every bit field a shift and an in-place mask
(AMD: `regCP_RB0_CNTL`, `CP_RB0_CNTL__RB_BUFSZ__SHIFT`, `CP_RB0_CNTL__RB_BUFSZ_MASK`; Adreno:
`REG_A6XX_CP_MISC_CNTL`, `A6XX_..._FIELD__SHIFT`, `A6XX_..._FIELD__MASK`). `registers_from` turns a
generated module into `Register` objects, and a `RegisterFile` reads and writes them by name over
any pair of `read32(address)` / `write32(address, value)` callables — a mapped BAR, a transport
that sends one message per access, or simulated hardware — so driver code reads like the manual:

    regs.update("CP_RB0_CNTL", RB_BUFSZ=order - 1, RB_BLKSZ=order - 1)

Registers and RegisterFiles hold no device state of their own and may be shared between threads;
a read-modify-write (`update`) is not atomic against other writers of the same register.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Field", "Register", "RegisterFile", "registers_from"]


@dataclass(frozen=True, slots=True)
class Field:
    """A bit field: its shift and its mask in place (already shifted)."""

    shift: int
    mask: int

    @property
    def limit(self) -> int:
        """The largest value the field holds."""
        return self.mask >> self.shift


class Register:
    """One register: name, dword offset within its IP block, base index (AMD) and bit fields."""

    __slots__ = ("name", "offset", "base_idx", "fields")

    def __init__(self, name: str, offset: int, fields: Mapping[str, Field] | None = None, base_idx: int = 0):
        self.name, self.offset, self.base_idx = name, offset, base_idx
        self.fields: dict[str, Field] = dict(fields or {})

    def __repr__(self) -> str:
        return f"Register({self.name!r}, offset={self.offset:#x}, base_idx={self.base_idx}, fields={list(self.fields)})"

    def field(self, name: str) -> Field:
        """The field called `name`; KeyError names the register's fields."""
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(f"{self.name} has no field {name!r}; fields: {', '.join(self.fields) or 'none'}") from None

    def encode(self, **values: int) -> int:
        """The register value with the given fields set and all others zero.

        Raises ValueError when a value is negative or wider than its field.
        """
        return self.update(0, **values)

    def update(self, current: int, **values: int) -> int:
        """`current` with the given fields replaced (a read-modify-write's modify step)."""
        for name, value in values.items():
            field = self.field(name)
            if not 0 <= value <= field.limit:
                raise ValueError(f"{self.name}.{name} = {value} does not fit (0..{field.limit})")
            current = (current & ~field.mask) | (value << field.shift)
        return current

    def decode(self, value: int) -> dict[str, int]:
        """Every field's value in a register value."""
        return {name: (value & f.mask) >> f.shift for name, f in self.fields.items()}


def registers_from(module: ModuleType, prefix: str = "reg") -> dict[str, Register]:
    """Registers of a generated module: offsets are the ints named `prefix + NAME`, fields are
    `NAME__FIELD__SHIFT` with `NAME__FIELD_MASK` (AMD) or `NAME_FIELD__SHIFT` with `NAME_FIELD__MASK`
    (Adreno). Base indices come from `prefix + NAME_BASE_IDX` where the header has them."""
    table = {k: v for k, v in vars(module).items() if isinstance(v, int)}
    registers = {
        name[len(prefix) :]: Register(name[len(prefix) :], value, base_idx=table.get(name + "_BASE_IDX", 0))
        for name, value in table.items()
        if name.startswith(prefix) and not name.endswith("_BASE_IDX")
    }
    for name, shift in table.items():
        stem = name.removesuffix("__SHIFT")
        mask = table.get(stem + "_MASK", table.get(stem + "__MASK"))
        if stem != name and mask is not None and (owner := _owner(stem, registers)) is not None:
            register, field = owner
            register.fields[field] = Field(shift, mask)
    return registers


def _owner(stem: str, registers: dict[str, Register]) -> tuple[Register, str] | None:
    """The register a field name belongs to and the field's own name: the longest register prefix."""
    if "__" in stem:
        register, _, field = stem.partition("__")
        return (registers[register], field) if register in registers else None
    cut = stem.rfind("_")
    while cut > 0:
        if stem[:cut] in registers:
            return registers[stem[:cut]], stem[cut + 1 :]
        cut = stem.rfind("_", 0, cut)
    return None


class RegisterFile:
    """Read and write registers by name through `read32(address)` and `write32(address, value)`.

    The byte address of a register is `(bases[register.base_idx] + register.offset) * 4`: `bases`
    are the dword base addresses of the IP block's apertures (AMD: from the IP discovery table;
    one zero base for devices whose offsets are absolute).
    """

    def __init__(
        self,
        registers: Mapping[str, Register],
        read32: Callable[[int], int],
        write32: Callable[[int, int], None],
        bases: Sequence[int] = (0,),
    ):
        self.registers, self.read32, self.write32, self.bases = registers, read32, write32, tuple(bases)

    def __getitem__(self, name: str) -> Register:
        """The register called `name`; KeyError suggests close names."""
        try:
            return self.registers[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.registers, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"no register {name!r}{hint}") from None

    def address(self, name: str) -> int:
        """The byte address `read32`/`write32` receive for a register."""
        register = self[name]
        if register.base_idx >= len(self.bases):
            raise ValueError(f"{name} is in aperture {register.base_idx}, but only {len(self.bases)} bases are known")
        return (self.bases[register.base_idx] + register.offset) * 4

    def read(self, name: str) -> int:
        """The register's current 32-bit value."""
        return self.read32(self.address(name))

    def read_fields(self, name: str) -> dict[str, int]:
        """The register's current value, split into its fields."""
        return self[name].decode(self.read(name))

    def write(self, name: str, value: int | None = None, **fields: int) -> None:
        """Write a whole value, or the given fields with every other field zero (not both)."""
        if (value is None) == (not fields):
            raise TypeError(f"write({name!r}) takes a value or fields, not {'both' if fields else 'neither'}")
        if value is not None and not 0 <= value < 1 << 32:
            raise ValueError(f"{name} = {value:#x} is not a 32-bit value")
        self.write32(self.address(name), self[name].encode(**fields) if value is None else value)

    def update(self, name: str, **fields: int) -> None:
        """Read the register, replace the given fields, write it back."""
        register = self[name]
        self.write32(self.address(name), register.update(self.read(name), **fields))
