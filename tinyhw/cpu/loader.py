"""Load a relocatable ELF object from LLVM into executable memory, without a linker.

The object's allocated sections are laid out in one anonymous mapping, in three page-aligned
segments: code (plus call stubs), read-only data (plus a small GOT) and writable data/.bss. The
loader copies the sections in, applies the relocations, then makes the code segment read+execute
and the rest read-only or read-write, so the mapping is never writable and executable at once.

External symbols (libc, libm, compiler-rt style helpers) are looked up in the process, libm and
libgcc_s; the few helpers LLVM calls that an older libgcc lacks (bfloat16 conversions) come from
a tiny runtime compiled here once. Calls reach externals through 16-byte stubs inside the mapping
that jump to a 64-bit address, so a library more than 2 GiB away is fine; data goes through the
GOT, as LLVM's position-independent code does. Relocation kinds are tables per machine (x86_64,
aarch64); anything else is refused with CompileError.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass

from tinyhw.cpu.pages import flush_icache, map_pages, protect_pages, unmap_pages
from tinyhw.cpu.symbols import resolve_externals
from tinyhw.errors import CompileError
from tinyhw.hcq.elf import (
    EM_AARCH64,
    EM_X86_64,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    SHN_ABS,
    STB_LOCAL,
    STT_SECTION,
    ElfFile,
    Relocation,
    Symbol,
    parse_elf,
)

__all__ = ["LoadedObject", "load_object"]

_PAGE = mmap.PAGESIZE
_U32 = struct.Struct("<I")


class LoadedObject:
    """An object file loaded into this process: its symbols' addresses, valid until `close()`.

    The owner (usually a CPU Program) calls `close()` to unmap it once nothing can run its code;
    there is no finaliser. Lookups may be made from several threads; `close()` must not race with
    running code. Nearest equivalents: a dlopen() handle; an HSA executable.
    """

    __slots__ = ("_base", "_size", "_symbols")

    def __init__(self, base: int, size: int, symbols: dict[str, tuple[int, int]]) -> None:
        self._base, self._size, self._symbols = base, size, symbols

    @property
    def base(self) -> int:
        """Start address of the mapping (0 once closed)."""
        return self._base

    @property
    def size(self) -> int:
        """Size of the mapping in bytes."""
        return self._size

    def address(self, symbol: str) -> int:
        """The address of defined symbol `symbol`; KeyError naming the defined ones if absent."""
        if not self._base:
            raise ValueError("the loaded object is closed")
        if symbol not in self._symbols:
            raise KeyError(f"symbol {symbol!r} is not defined; defined: {', '.join(sorted(self._symbols))}")
        return self._symbols[symbol][0]

    def symbol_bytes(self, symbol: str) -> bytes:
        """The current contents of data symbol `symbol` (its st_size bytes)."""
        return ctypes.string_at(self.address(symbol), self._symbols[symbol][1])

    def close(self) -> None:
        """Unmap the object; calling it again does nothing. Its code must no longer run."""
        if self._base:
            unmap_pages(self._base, self._size)
            self._base = 0

    def __enter__(self) -> LoadedObject:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def load_object(obj: bytes) -> LoadedObject:
    """Load relocatable ELF object `obj` (for this machine) and return its symbols' addresses.

    Raises CompileError when the object is malformed, uses a relocation type the loader does not
    know, or references a symbol no library provides.
    """
    try:
        elf = parse_elf(obj)
    except ValueError as e:
        raise CompileError(f"cannot load object: {e}") from e
    arch = _arch(elf)
    layout = _plan(elf, arch)
    externals = resolve_externals(elf)
    base = map_pages(layout.size)
    try:
        _populate(elf, arch, layout, base, externals)
    except BaseException:
        unmap_pages(base, layout.size)
        raise
    return LoadedObject(base, layout.size, _symbol_table(elf, layout, base))


# --- relocation tables -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reloc:
    """How one relocation type is applied.

    `via` picks the address S stands for: "symbol" (the symbol itself), "call" (a stub for an
    external symbol, the symbol itself otherwise) or "got" (the symbol's GOT slot). `value(S, A, P)`
    computes the field's value; `patch(memory, offset, value)` writes it, raising struct.error or
    OverflowError when the value does not fit.
    """

    via: str
    value: Callable[[int, int, int], int]
    patch: Callable[[ctypes.Array, int, int], None]


@dataclass(frozen=True, slots=True)
class _Arch:
    """A machine the loader supports: its relocations, call stub and cache-coherence needs."""

    name: str
    relocations: dict[int, _Reloc]
    stub: Callable[[int], bytes]
    flushes_icache: bool


_STUB_SIZE = 16


def _absolute(s: int, a: int, p: int) -> int:
    return s + a


def _relative(s: int, a: int, p: int) -> int:
    return s + a - p


def _page_relative(s: int, a: int, p: int) -> int:
    return ((s + a) & ~0xFFF) - (p & ~0xFFF)


def _field(fmt: str) -> Callable[[ctypes.Array, int, int], None]:
    """A patch that stores the value as one little-endian integer of struct format `fmt`."""
    layout = struct.Struct(fmt)
    return lambda memory, offset, value: layout.pack_into(memory, offset, value)


def _instruction(encode: Callable[[int, int], int]) -> Callable[[ctypes.Array, int, int], None]:
    """A patch that re-encodes the 32-bit instruction at the offset with `encode(insn, value)`."""

    def patch(memory: ctypes.Array, offset: int, value: int) -> None:
        _U32.pack_into(memory, offset, encode(_U32.unpack_from(memory, offset)[0], value))

    return patch


def _signed_bits(value: int, bits: int, what: str) -> int:
    """`value` as a `bits`-wide two's-complement field; OverflowError if it does not fit."""
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise OverflowError(f"{what} offset {value:#x} does not fit in {bits} bits")
    return value & ((1 << bits) - 1)


def _branch26(insn: int, value: int) -> int:
    """B/BL: a signed 26-bit word offset (+-128 MiB)."""
    return insn & 0xFC000000 | _signed_bits(value >> 2, 26, "branch")


def _adrp(insn: int, value: int) -> int:
    """ADRP: a signed 21-bit page offset split into immlo (bits 29-30) and immhi (bits 5-23)."""
    imm = _signed_bits(value >> 12, 21, "page")
    return insn & 0x9F00001F | (imm & 3) << 29 | (imm >> 2) << 5


def _low12(shift: int) -> Callable[[int, int], int]:
    """ADD/LDR/STR immediate: the low 12 address bits, scaled down by the access size 2**shift."""
    return lambda insn, value: insn & 0xFFC003FF | ((value & 0xFFF) >> shift) << 10


_X86_64 = _Arch(
    "x86_64",
    {
        1: _Reloc("symbol", _absolute, _field("<Q")),  # R_X86_64_64
        2: _Reloc("call", _relative, _field("<i")),  # R_X86_64_PC32
        4: _Reloc("call", _relative, _field("<i")),  # R_X86_64_PLT32
        9: _Reloc("got", _relative, _field("<i")),  # R_X86_64_GOTPCREL
        10: _Reloc("symbol", _absolute, _field("<I")),  # R_X86_64_32
        11: _Reloc("symbol", _absolute, _field("<i")),  # R_X86_64_32S
        24: _Reloc("symbol", _relative, _field("<q")),  # R_X86_64_PC64
        41: _Reloc("got", _relative, _field("<i")),  # R_X86_64_GOTPCRELX
        42: _Reloc("got", _relative, _field("<i")),  # R_X86_64_REX_GOTPCRELX
    },
    lambda target: b"\xff\x25\x00\x00\x00\x00" + struct.pack("<Q", target) + b"\xcc\xcc",  # jmp [rip+0]; .quad
    flushes_icache=False,
)

_AARCH64 = _Arch(
    "aarch64",
    {
        257: _Reloc("symbol", _absolute, _field("<Q")),  # R_AARCH64_ABS64
        261: _Reloc("symbol", _relative, _field("<i")),  # R_AARCH64_PREL32
        275: _Reloc("symbol", _page_relative, _instruction(_adrp)),  # R_AARCH64_ADR_PREL_PG_HI21
        277: _Reloc("symbol", _absolute, _instruction(_low12(0))),  # R_AARCH64_ADD_ABS_LO12_NC
        278: _Reloc("symbol", _absolute, _instruction(_low12(0))),  # R_AARCH64_LDST8_ABS_LO12_NC
        282: _Reloc("call", _relative, _instruction(_branch26)),  # R_AARCH64_JUMP26
        283: _Reloc("call", _relative, _instruction(_branch26)),  # R_AARCH64_CALL26
        284: _Reloc("symbol", _absolute, _instruction(_low12(1))),  # R_AARCH64_LDST16_ABS_LO12_NC
        285: _Reloc("symbol", _absolute, _instruction(_low12(2))),  # R_AARCH64_LDST32_ABS_LO12_NC
        286: _Reloc("symbol", _absolute, _instruction(_low12(3))),  # R_AARCH64_LDST64_ABS_LO12_NC
        299: _Reloc("symbol", _absolute, _instruction(_low12(4))),  # R_AARCH64_LDST128_ABS_LO12_NC
        311: _Reloc("got", _page_relative, _instruction(_adrp)),  # R_AARCH64_ADR_GOT_PAGE
        312: _Reloc("got", _absolute, _instruction(_low12(3))),  # R_AARCH64_LD64_GOT_LO12_NC
    },
    lambda target: struct.pack("<IIQ", 0x58000050, 0xD61F0200, target),  # ldr x16, #8; br x16; .quad
    flushes_icache=True,
)

_ARCHES = {EM_X86_64: _X86_64, EM_AARCH64: _AARCH64}


def _arch(elf: ElfFile) -> _Arch:
    """The loader's description of the object's machine; CompileError for machines it cannot load."""
    if elf.machine not in _ARCHES:
        raise CompileError(f"cannot load an object for ELF machine {elf.machine}; supported: x86_64, aarch64")
    return _ARCHES[elf.machine]


def _kind(arch: _Arch, relocation_type: int, symbol: Symbol) -> _Reloc:
    """The table entry for `relocation_type`; CompileError naming the type and symbol if unknown."""
    if relocation_type not in arch.relocations:
        raise CompileError(f"unsupported {arch.name} relocation type {relocation_type} against {symbol.name!r}")
    return arch.relocations[relocation_type]


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where everything goes: offsets of sections (by index), "stubs" and "got"; protected segments."""

    offsets: dict[int | str, int]
    segments: tuple[tuple[int, int, int], ...]
    stubs: tuple[str, ...]
    got: tuple[Symbol, ...]
    size: int


def _plan(elf: ElfFile, arch: _Arch) -> _Layout:
    """Lay out sections, stubs and GOT in code / read-only / read-write segments, page by page."""
    loaded = [s for s in elf.sections if s.flags & SHF_ALLOC and s.size]
    indices = {s.index for s in loaded}
    relocations = [r for r in elf.relocations if r.section in indices]
    kinds = [(_kind(arch, r.type, r.symbol).via, r.symbol) for r in relocations]
    stubs = tuple(dict.fromkeys(s.name for via, s in kinds if via == "call" and not s.defined))
    got = tuple(dict.fromkeys(s for via, s in kinds if via == "got"))
    groups = (
        ([s for s in loaded if s.flags & SHF_EXECINSTR], ("stubs", _STUB_SIZE * len(stubs)), mmap.PROT_EXEC),
        ([s for s in loaded if not s.flags & (SHF_EXECINSTR | SHF_WRITE)], ("got", 8 * len(got)), 0),
        ([s for s in loaded if s.flags & SHF_WRITE and not s.flags & SHF_EXECINSTR], None, mmap.PROT_WRITE),
    )
    offsets: dict[int | str, int] = {}
    segments, end = [], 0
    for sections, extra, prot in groups:
        start = end = _align(end, _PAGE)
        items = [(s.index, s.size, s.addralign) for s in sections] + ([(*extra, 16)] if extra else [])
        for key, size, alignment in items:
            offsets[key] = end = _align(end, max(alignment, 1))
            end += size
        segments.append((start, _align(end, _PAGE), mmap.PROT_READ | prot))
    return _Layout(offsets, tuple(s for s in segments if s[1] > s[0]), stubs, got, max(_align(end, _PAGE), _PAGE))


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


# --- writing -----------------------------------------------------------------------------------


def _populate(elf: ElfFile, arch: _Arch, layout: _Layout, base: int, externals: dict[str, int]) -> None:
    """Copy sections in, write stubs and GOT, relocate, then protect each segment."""
    memory = (ctypes.c_char * layout.size).from_address(base)
    for section in elf.sections:
        if section.index in layout.offsets:
            data = elf.section_data(section)
            memory[layout.offsets[section.index] : layout.offsets[section.index] + len(data)] = data
    targets = _write_indirections(arch, layout, base, externals, memory)
    for relocation in elf.relocations:
        if relocation.section in layout.offsets:
            _relocate(arch, memory, base, layout.offsets[relocation.section], relocation, targets)
    _protect(arch, layout, base)


def _write_indirections(
    arch: _Arch, layout: _Layout, base: int, externals: dict[str, int], memory: ctypes.Array
) -> dict[str, Callable[[Symbol], int]]:
    """Write the call stubs and GOT slots; return, per `_Reloc.via`, what address a symbol stands for."""
    stubs = {name: base + layout.offsets["stubs"] + i * _STUB_SIZE for i, name in enumerate(layout.stubs)}
    for name, stub in stubs.items():
        ctypes.memmove(stub, arch.stub(externals[name]), _STUB_SIZE)
    got = {symbol: base + layout.offsets["got"] + 8 * i for i, symbol in enumerate(layout.got)}
    for symbol, slot in got.items():
        struct.pack_into("<Q", memory, slot - base, _symbol_address(symbol, layout, base, externals))

    def symbol_address(symbol: Symbol) -> int:
        return _symbol_address(symbol, layout, base, externals)

    def call_target(symbol: Symbol) -> int:
        return symbol_address(symbol) if symbol.defined or symbol.name not in stubs else stubs[symbol.name]

    return {"symbol": symbol_address, "call": call_target, "got": got.__getitem__}


def _relocate(
    arch: _Arch, memory: ctypes.Array, base: int, section_offset: int, relocation: Relocation,
    targets: dict[str, Callable[[Symbol], int]],
) -> None:  # fmt: skip
    """Apply one relocation to the section at `section_offset`; CompileError if its value does not fit."""
    symbol, place = relocation.symbol, section_offset + relocation.offset
    kind = _kind(arch, relocation.type, symbol)
    value = kind.value(targets[kind.via](symbol), relocation.addend, base + place)
    try:
        kind.patch(memory, place, value)
    except (struct.error, OverflowError) as e:
        raise CompileError(
            f"{arch.name} relocation type {relocation.type} against {symbol.name!r} overflows: {e}"
        ) from e


def _symbol_address(symbol: Symbol, layout: _Layout, base: int, externals: dict[str, int]) -> int:
    """Runtime address of `symbol`: in a loaded section, absolute, external, or 0 for the null symbol."""
    if not symbol.defined:
        return externals[symbol.name] if symbol.name else 0
    if symbol.section == SHN_ABS:
        return symbol.value
    if symbol.section not in layout.offsets:
        raise CompileError(f"symbol {symbol.name!r} lives in section {symbol.section}, which is not loaded")
    return base + layout.offsets[symbol.section] + symbol.value


def _protect(arch: _Arch, layout: _Layout, base: int) -> None:
    """Flush the instruction cache where the machine needs it, then set each segment's protection."""
    for start, end, prot in layout.segments:
        if prot & mmap.PROT_EXEC and arch.flushes_icache:
            flush_icache(base + start, end - start)
        protect_pages(base + start, end - start, prot)


def _symbol_table(elf: ElfFile, layout: _Layout, base: int) -> dict[str, tuple[int, int]]:
    """Name -> (address, size) of the object's named symbols in loaded sections; globals win."""
    named = [s for s in elf.symbols if s.name and s.section in layout.offsets and s.type != STT_SECTION]
    named.sort(key=lambda s: s.binding != STB_LOCAL)
    return {s.name: (base + layout.offsets[s.section] + s.value, s.size) for s in named}
