"""Decoding gfx11 machine code into Instruction records: format, name, operand fields, literal.

Each format's fields follow the RDNA3 ISA reference's microcode formats. An instruction whose
format or opcode is not in the tables still decodes (name None, so the message can say which
encoding and opcode it was); the executor refuses it with UnknownInstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

from .encodings import FLAT_SEGMENTS, OPCODES, VOP3SD, VOPD, format_of

__all__ = ["LITERAL", "Instruction", "decode"]

LITERAL = 255
"""The source operand code meaning "a 32-bit literal dword follows the instruction"."""


@dataclass(frozen=True, slots=True)
class Instruction:
    """One decoded instruction at `address`: `size` bytes, `name` (None if unknown) and its fields."""

    address: int
    size: int
    format: str
    opcode: int
    name: str | None
    fields: dict[str, int]
    literal: int | None = None

    def describe(self) -> str:
        """The instruction's name, or its format (and opcode) when the tables do not know it."""
        if self.name:
            return self.name
        return self.format if self.format.startswith("an unknown") else f"{self.format} opcode {self.opcode:#x}"


def _bits(word: int, low: int, width: int) -> int:
    return (word >> low) & ((1 << width) - 1)


def _sop(w: list[int], fmt: str) -> dict[str, int]:
    if fmt == "SOPP":
        return {"simm16": _bits(w[0], 0, 16)}
    if fmt == "SOPK":
        return {"sdst": _bits(w[0], 16, 7), "simm16": _bits(w[0], 0, 16)}
    return {"sdst": _bits(w[0], 16, 7), "ssrc0": _bits(w[0], 0, 8), "ssrc1": _bits(w[0], 8, 8)}


def _vop12c(w: list[int], fmt: str) -> dict[str, int]:
    return {"src0": _bits(w[0], 0, 9), "vsrc1": _bits(w[0], 9, 8) + 256, "vdst": _bits(w[0], 17, 8)}


def _vop3(w: list[int], fmt: str) -> dict[str, int]:
    f = {"vdst": _bits(w[0], 0, 8), "abs": _bits(w[0], 8, 3), "opsel": _bits(w[0], 11, 4), "sdst": _bits(w[0], 8, 7)}
    f.update(clamp=_bits(w[0], 15, 1), src0=_bits(w[1], 0, 9), src1=_bits(w[1], 9, 9), src2=_bits(w[1], 18, 9))
    f.update(omod=_bits(w[1], 27, 2), neg=_bits(w[1], 29, 3))
    return f


def _vop3p(w: list[int], fmt: str) -> dict[str, int]:
    f = {"vdst": _bits(w[0], 0, 8), "neg_hi": _bits(w[0], 8, 3), "opsel": _bits(w[0], 11, 3), "clamp": w[0] >> 15 & 1}
    f.update(src0=_bits(w[1], 0, 9), src1=_bits(w[1], 9, 9), src2=_bits(w[1], 18, 9), neg=_bits(w[1], 29, 3))
    f["opsel_hi"] = _bits(w[1], 27, 2) | _bits(w[0], 14, 1) << 2
    return f


def _vopd(w: list[int], fmt: str) -> dict[str, int]:
    vdstx = _bits(w[1], 24, 8)
    f = {"opx": _bits(w[0], 22, 4), "opy": _bits(w[0], 17, 5), "src0x": _bits(w[0], 0, 9)}
    f.update(vsrc1x=_bits(w[0], 9, 8) + 256, src0y=_bits(w[1], 0, 9), vsrc1y=_bits(w[1], 9, 8) + 256)
    f.update(vdstx=vdstx, vdsty=(_bits(w[1], 17, 7) << 1) | ((vdstx & 1) ^ 1))
    return f


def _smem(w: list[int], fmt: str) -> dict[str, int]:
    offset = _bits(w[1], 0, 21)
    offset -= (offset & 0x100000) << 1  # 21-bit signed byte offset
    return {"sbase": _bits(w[0], 0, 6) * 2, "sdata": _bits(w[0], 6, 7), "offset": offset, "soffset": w[1] >> 25}


def _ds(w: list[int], fmt: str) -> dict[str, int]:
    f = {"offset0": _bits(w[0], 0, 8), "offset1": _bits(w[0], 8, 8), "gds": _bits(w[0], 17, 1)}
    f.update(addr=_bits(w[1], 0, 8), data0=_bits(w[1], 8, 8), data1=_bits(w[1], 16, 8), vdst=_bits(w[1], 24, 8))
    return f


def _flat(w: list[int], fmt: str) -> dict[str, int]:
    offset = _bits(w[0], 0, 13)
    offset -= (offset & 0x1000) << 1  # 13-bit signed byte offset
    f = {"offset": offset, "seg": _bits(w[0], 16, 2), "addr": _bits(w[1], 0, 8), "data": _bits(w[1], 8, 8)}
    f.update(saddr=_bits(w[1], 16, 7), sve=_bits(w[1], 23, 1), vdst=_bits(w[1], 24, 8))
    return f


_FIELDS = {"SOP1": _sop, "SOP2": _sop, "SOPC": _sop, "SOPK": _sop, "SOPP": _sop, "VOP1": _vop12c, "VOP2": _vop12c,
           "VOPC": _vop12c, "VOP3": _vop3, "VOP3P": _vop3p, "VOPD": _vopd, "SMEM": _smem, "DS": _ds, "FLAT": _flat,
           "MUBUF": lambda w, fmt: {}}  # fmt: skip
_SOURCES = {"SOP1": ("ssrc0",), "SOP2": ("ssrc0", "ssrc1"), "SOPC": ("ssrc0", "ssrc1"), "VOP1": ("src0",),
            "VOP2": ("src0",), "VOPC": ("src0",), "VOP3": ("src0", "src1", "src2"),
            "VOP3P": ("src0", "src1", "src2"), "VOPD": ("src0x", "src0y")}  # fmt: skip
"""Fields that may hold LITERAL (a literal dword follows)."""


def _name(fmt: str, opcode: int, fields: dict[str, int]) -> str | None:
    if fmt == "VOPD":
        x, y = VOPD.get(opcode), VOPD.get(fields["opy"])
        return f"{x}::{y}" if x and y else None
    name = OPCODES.get(fmt, {}).get(opcode)
    if fmt == "FLAT" and name:
        return FLAT_SEGMENTS[fields["seg"]] + name if fields["seg"] in FLAT_SEGMENTS else None
    return name


def _has_literal(fmt: str, name: str | None, fields: dict[str, int]) -> bool:
    if name and any(k in name for k in ("fmaak", "fmamk")):
        return True
    return any(fields.get(k) == LITERAL for k in _SOURCES.get(fmt, ()))


def decode(code: bytes | memoryview, offset: int, address: int) -> Instruction:
    """Decode the instruction at byte `offset` of `code`; `address` is its GPU address (branch targets, messages)."""
    word = int.from_bytes(code[offset : offset + 4], "little")
    fmt, opcode, dwords = format_of(word)
    if opcode < 0:
        return Instruction(address, 4, fmt, 0, None, {})
    words = [int.from_bytes(code[offset + 4 * i : offset + 4 * i + 4], "little") for i in range(dwords)]
    fields = _FIELDS[fmt](words, fmt)
    name = _name(fmt, opcode, fields)
    if fmt == "VOP3":
        for overlapped in ("abs", "opsel") if name in VOP3SD else ("sdst",):
            del fields[overlapped]
    literal = None
    if _has_literal(fmt, name, fields):
        literal = int.from_bytes(code[offset + 4 * dwords : offset + 4 * dwords + 4], "little")
        dwords += 1
    return Instruction(address, 4 * dwords, fmt, opcode, name, fields, literal)
