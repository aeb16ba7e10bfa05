"""A small reader for 64-bit little-endian ELF files: sections, symbols and RELA relocations.

Every binary tinyhw loads itself is ELF: relocatable host objects straight from LLVM (the CPU
device) and GPU code objects (AMD). This module only reads; what a relocation means is the
loader's business, so nothing here is specific to one machine. Malformed input raises ValueError
saying what is wrong. The parsed file is immutable and may be shared between threads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "ElfFile",
    "Relocation",
    "Section",
    "Symbol",
    "parse_elf",
    "EM_X86_64",
    "EM_AARCH64",
    "EM_AMDGPU",
    "SHF_WRITE",
    "SHF_ALLOC",
    "SHF_EXECINSTR",
    "SHN_UNDEF",
    "SHN_ABS",
    "SHN_COMMON",
    "SHT_SYMTAB",
    "SHT_RELA",
    "SHT_NOBITS",
    "SHT_DYNSYM",
    "STB_LOCAL",
    "STB_GLOBAL",
    "STB_WEAK",
    "STT_SECTION",
]

EM_X86_64, EM_AARCH64, EM_AMDGPU = 62, 183, 224
SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_DYNSYM = 2, 4, 8, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_SECTION = 3

_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_SECTION = struct.Struct("<IIQQQQIIQQ")
_SYMBOL = struct.Struct("<IBBHQQ")
_RELA = struct.Struct("<QQq")


@dataclass(frozen=True, slots=True)
class Section:
    """One section header: its index, name, type, flags, address, file extent, link and alignment."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int


@dataclass(frozen=True, slots=True)
class Symbol:
    """One symbol: name, value, size, the index of the section it is defined in, binding and type."""

    name: str
    value: int
    size: int
    section: int
    binding: int
    type: int

    @property
    def defined(self) -> bool:
        """Whether the symbol is defined in this file (not an external reference)."""
        return self.section != SHN_UNDEF


@dataclass(frozen=True, slots=True)
class Relocation:
    """One RELA entry: patch `offset` in section `section` with a value of kind `type`.

    `symbol` is the referenced entry of the relocation section's own symbol table (index 0, the
    null symbol, for relocations that reference none).
    """

    section: int
    offset: int
    type: int
    symbol: Symbol
    addend: int


@dataclass(frozen=True, slots=True)
class ElfFile:
    """A parsed ELF64 file: header fields, sections, the symbol table and all RELA relocations."""

    data: bytes = field(repr=False)
    type: int
    machine: int
    flags: int
    entry: int
    sections: tuple[Section, ...]
    symbols: tuple[Symbol, ...]
    relocations: tuple[Relocation, ...]

    def section_data(self, section: Section) -> bytes:
        """The bytes of `section` in the file (empty for SHT_NOBITS sections such as .bss)."""
        if section.type == SHT_NOBITS:
            return b""
        return self.data[section.offset : section.offset + section.size]

    def symbol(self, name: str) -> Symbol:
        """The defined symbol called `name` (globals before locals); KeyError if there is none."""
        found = [s for s in self.symbols if s.name == name and s.defined]
        if not found:
            raise KeyError(f"no defined symbol {name!r} in ELF file")
        return max(found, key=lambda s: s.binding != STB_LOCAL)


def parse_elf(data: bytes) -> ElfFile:
    """Parse `data` as a 64-bit little-endian ELF file; ValueError if it is not one or is truncated."""
    data = bytes(data)
    ident, etype, machine, _, entry, _, shoff, flags, _, _, _, shentsize, shnum, shstrndx = _unpack(_HEADER, data, 0)
    _check_ident(ident)
    if shnum and shentsize != _SECTION.size:
        raise ValueError(f"ELF section header size is {shentsize}, expected {_SECTION.size}")
    raw = [_unpack(_SECTION, data, shoff + i * _SECTION.size) for i in range(shnum)]
    names = _section(data, shstrndx, raw[shstrndx], "") if 0 < shstrndx < shnum else None
    sections = tuple(_section(data, i, fields, _string(data, names, fields[0])) for i, fields in enumerate(raw))
    tables = {s.index: _symbols(data, sections, s) for s in sections if s.type in (SHT_SYMTAB, SHT_DYNSYM)}
    symtab = next((s.index for s in sections if s.type == SHT_SYMTAB), next(iter(tables), None))
    relocations = tuple(r for s in sections if s.type == SHT_RELA for r in _relocations(data, s, tables))
    return ElfFile(data, etype, machine, flags, entry, sections, tables.get(symtab, ()), relocations)


def _check_ident(ident: bytes) -> None:
    """Accept only ELF64 little-endian files, saying what the input is otherwise."""
    if ident[:4] != b"\x7fELF":
        raise ValueError(f"not an ELF file (magic {ident[:4]!r})")
    if ident[4] != 2:
        raise ValueError(f"ELF class {ident[4]} is not supported, only 64-bit ELF (class 2)")
    if ident[5] != 1:
        raise ValueError(f"ELF data encoding {ident[5]} is not supported, only little endian (1)")


def _unpack(layout: struct.Struct, data: bytes, offset: int) -> tuple:
    """Unpack one record at `offset`, raising ValueError when the file ends before it does."""
    if offset < 0 or offset + layout.size > len(data):
        raise ValueError(f"truncated ELF file: {layout.size}-byte record at offset {offset} is beyond its end")
    return layout.unpack_from(data, offset)


def _string(data: bytes, table: Section | None, index: int) -> str:
    """Read the NUL-terminated string at `index` in string table `table` ("" when there is none)."""
    if table is None:
        return ""
    if index >= max(table.size, 1):
        raise ValueError(f"ELF string index {index} is outside its string table")
    start, stop = table.offset + index, table.offset + table.size
    end = data.find(b"\0", start, stop)
    return data[start : end if end >= 0 else stop].decode("utf-8", "replace")


def _section(data: bytes, index: int, fields: tuple, name: str) -> Section:
    """Build one Section from its raw header fields and its name."""
    _, stype, flags, addr, offset, size, link, info, addralign, entsize = fields
    if stype != SHT_NOBITS and offset + size > len(data):
        raise ValueError(f"truncated ELF file: section {index} extends beyond its end")
    return Section(index, name, stype, flags, addr, offset, size, link, info, addralign, entsize)


def _symbols(data: bytes, sections: tuple[Section, ...], table: Section) -> tuple[Symbol, ...]:
    """All entries of symbol table `table`, names resolved through its linked string table."""
    strings = sections[table.link] if table.link < len(sections) else None
    count = table.size // _SYMBOL.size
    return tuple(_symbol(data, strings, _unpack(_SYMBOL, data, table.offset + i * _SYMBOL.size)) for i in range(count))


def _symbol(data: bytes, strings: Section | None, fields: tuple) -> Symbol:
    """Build one Symbol from its raw fields (st_info packs binding and type)."""
    name, info, _, shndx, value, size = fields
    return Symbol(_string(data, strings, name), value, size, shndx, info >> 4, info & 0xF)


def _relocations(data: bytes, rela: Section, tables: dict[int, tuple[Symbol, ...]]) -> tuple[Relocation, ...]:
    """The entries of RELA section `rela`, with symbols from the symbol table it links to."""
    if rela.link not in tables:
        raise ValueError(f"ELF relocation section {rela.name!r} links to {rela.link}, which is no symbol table")
    entries = (_unpack(_RELA, data, rela.offset + i * _RELA.size) for i in range(rela.size // _RELA.size))
    return tuple(_relocation(rela, tables[rela.link], *entry) for entry in entries)


def _relocation(rela: Section, symbols: tuple[Symbol, ...], offset: int, info: int, addend: int) -> Relocation:
    """Build one Relocation from r_offset, r_info (symbol index, type) and r_addend."""
    index = info >> 32
    if index >= len(symbols):
        raise ValueError(f"ELF relocation in {rela.name!r} references missing symbol {index}")
    return Relocation(rela.info, offset, info & 0xFFFFFFFF, symbols[index], addend)
