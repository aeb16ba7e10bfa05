"""Wave state (SGPRs, VGPRs, EXEC/VCC/SCC, pc) and operand access compiled into small closures.

Registers live where the instruction encoding numbers them: `sgpr[0..105]` are s0..s105,
`sgpr[106/107]` VCC_LO/HI, 124 is NULL (reads 0, writes are dropped), 125 M0 and 126/127
EXEC_LO/HI, as Python ints. VGPRs are a numpy uint32[n, 32] array (one row per register, one
column per lane of a wave32). Readers return a source's raw bits for every lane (uint16, uint32 or
uint64 arrays by operand width); writers store raw bits into the lanes a bool mask selects.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable

import numpy as np

from .decoder import LITERAL

__all__ = ["EXEC", "LANES", "M0", "NULL", "VCC", "Wave", "lane_mask", "mask_bits", "scalar_reader",
           "scalar_writer", "vector_reader", "vector_writer"]  # fmt: skip

LANES = 32
VCC, NULL, M0, EXEC = 106, 124, 125, 126
SCC_OPERAND, VCCZ_OPERAND, EXECZ_OPERAND = 253, 251, 252
_RAW = {16: np.uint16, 32: np.uint32, 64: np.uint64}
_SHIFTS = np.arange(LANES, dtype=np.uint64)


class Wave:
    """One wave32's registers and progress; `memory` is the GPU address space, `lds` its workgroup's LDS bytes,
    `scratch` its lanes' private memory (uint8[32, bytes per lane])."""

    __slots__ = ("sgpr", "vgpr", "pc", "scc", "done", "at_barrier", "memory", "lds", "scratch")

    def __init__(self, memory, nvgpr: int, lds: np.ndarray, scratch: np.ndarray, pc: int) -> None:
        self.sgpr = [0] * 128
        self.vgpr = np.zeros((nvgpr, LANES), np.uint32)
        self.pc, self.scc, self.done, self.at_barrier = pc, 0, False, False
        self.memory, self.lds, self.scratch = memory, lds, scratch

    def exec_mask(self) -> np.ndarray:
        """EXEC as bool[32] (read-only)."""
        return lane_mask(self.sgpr[EXEC])

    def vcc_mask(self) -> np.ndarray:
        """VCC as bool[32] (read-only)."""
        return lane_mask(self.sgpr[VCC])


@functools.lru_cache(maxsize=4096)
def lane_mask(bits: int) -> np.ndarray:
    """The 32-bit lane mask `bits` as a read-only bool[32]."""
    mask = ((np.uint64(bits) >> _SHIFTS) & np.uint64(1)).astype(bool)
    mask.flags.writeable = False
    return mask


_ALL_LANES = lane_mask(0xFFFFFFFF)


def mask_bits(mask: np.ndarray) -> int:
    """A bool[32] lane mask as a 32-bit integer."""
    return int(np.packbits(mask, bitorder="little").view("<u4")[0])


def _float_bits(value: float, bits: int) -> int:
    fmt = {16: "<e", 32: "<f", 64: "<d"}[bits]
    return int.from_bytes(struct.pack(fmt, value), "little")


_INLINE_FLOATS = {240: 0.5, 241: -0.5, 242: 1.0, 243: -1.0, 244: 2.0, 245: -2.0, 246: 4.0, 247: -4.0}
_INV_2PI = {16: 0x3118, 32: 0x3E22F983, 64: 0x3FC45F306DC9C882}


def constant(code: int, literal: int | None, bits: int, is_float: bool) -> int | None:
    """The value of an inline constant or literal operand as `bits`-wide raw bits; None for registers."""
    if 128 <= code <= 208:
        return (code - 128 if code <= 192 else 192 - code) & ((1 << bits) - 1)
    if code in _INLINE_FLOATS:
        return _float_bits(_INLINE_FLOATS[code], bits)
    if code == 248:
        return _INV_2PI[bits]
    if code == LITERAL:
        if bits == 64 and is_float:
            return literal << 32  # a float64 literal gives the high dword
        return literal & ((1 << bits) - 1)
    return None


def scalar_reader(code: int, literal: int | None, bits: int = 32, is_float: bool = False) -> Callable[[Wave], int]:
    """A function reading scalar source `code` (SGPR, special register or constant) from a wave."""
    value = constant(code, literal, bits, is_float)
    if value is not None:
        return lambda w: value
    if code == SCC_OPERAND:
        return lambda w: w.scc
    if code == VCCZ_OPERAND:
        return lambda w: int(w.sgpr[VCC] == 0)
    if code == EXECZ_OPERAND:
        return lambda w: int(w.sgpr[EXEC] == 0)
    if code == NULL:
        return lambda w: 0
    if bits == 64:
        return lambda w: w.sgpr[code] | w.sgpr[code + 1] << 32
    return lambda w: w.sgpr[code]


def scalar_writer(code: int, bits: int = 32) -> Callable[[Wave, int], None]:
    """A function storing a scalar result into SGPR(s) `code` (NULL drops it)."""
    if code == NULL:
        return lambda w, v: None
    if bits == 64:

        def write64(w: Wave, v: int) -> None:
            w.sgpr[code], w.sgpr[code + 1] = v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF

        return write64

    def write32(w: Wave, v: int) -> None:
        w.sgpr[code] = v & 0xFFFFFFFF

    return write32


def vector_reader(code: int, literal: int | None, bits: int, is_float: bool = False, hi: bool = False):
    """A function reading vector source `code` for all lanes as raw bits (uint16/32/64[32]).

    For 16-bit operands `hi` selects a VGPR's (or an SGPR's) upper half.
    """
    raw = _RAW[bits]
    value = constant(code, literal, bits, is_float)
    if value is not None:
        array = np.full(LANES, value, raw)
        return lambda w: array
    if code < 256:
        read = scalar_reader(code, literal, 64 if bits == 64 else 32)
        shift = 16 if hi else 0
        return lambda w: np.full(LANES, (read(w) >> shift) & ((1 << bits) - 1), raw)
    r = code - 256
    if bits == 32:
        return lambda w: w.vgpr[r]
    if bits == 64:
        return lambda w: w.vgpr[r].astype(np.uint64) | w.vgpr[r + 1].astype(np.uint64) << np.uint64(32)
    if hi:
        return lambda w: (w.vgpr[r] >> 16).astype(np.uint16)
    return lambda w: w.vgpr[r].astype(np.uint16)


def vector_writer(vdst: int, bits: int, hi: bool = False) -> Callable[[Wave, np.ndarray, np.ndarray], None]:
    """A function storing raw result bits into VGPR `vdst` (a register index) for the lanes of a mask.

    16-bit results go to the low or (`hi`) high half and keep the other half.
    """
    if bits == 32:

        def write32(w: Wave, value: np.ndarray, mask: np.ndarray) -> None:
            if mask is _ALL_LANES:  # lane_mask's cached all-lanes mask: a plain copy is faster than a masked one
                w.vgpr[vdst] = value
            else:
                np.copyto(w.vgpr[vdst], value, casting="unsafe", where=mask)

        return write32
    if bits == 64:

        def write64(w: Wave, value: np.ndarray, mask: np.ndarray) -> None:
            value = value.astype(np.uint64)
            np.copyto(w.vgpr[vdst], value & np.uint64(0xFFFFFFFF), casting="unsafe", where=mask)
            np.copyto(w.vgpr[vdst + 1], value >> np.uint64(32), casting="unsafe", where=mask)

        return write64
    keep, shift = (np.uint32(0x0000FFFF), 16) if hi else (np.uint32(0xFFFF0000), 0)

    def write16(w: Wave, value: np.ndarray, mask: np.ndarray) -> None:
        merged = (w.vgpr[vdst] & keep) | (value.astype(np.uint32) << np.uint32(shift))
        np.copyto(w.vgpr[vdst], merged, where=mask)

    return write16
