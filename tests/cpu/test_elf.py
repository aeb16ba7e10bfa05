"""The ELF64 reader: what it finds in an object LLVM emits, and what it refuses."""

import struct

import pytest

from tinyhw.hcq.elf import SHF_ALLOC, SHF_EXECINSTR, SHN_UNDEF, SHT_RELA, STB_GLOBAL, STB_LOCAL, parse_elf
from tinyhw.kernel.llvm import compile_llvm_ir

IR = """
@table = constant [4 x i32] [i32 1, i32 2, i32 3, i32 4]
declare float @expf(float)
define float @f(float %x) {
  %e = call float @expf(float %x)
  ret float %e
}
define internal i32 @helper(i32 %x) {
  ret i32 %x
}
"""


@pytest.fixture(scope="module")
def elf():
    return parse_elf(compile_llvm_ir(IR, "x86_64-unknown-linux-gnu", opt_level=0))


def test_sections_have_names_flags_and_contents(elf):
    text = next(s for s in elf.sections if s.name == ".text")
    assert text.flags & SHF_ALLOC and text.flags & SHF_EXECINSTR
    assert elf.section_data(text)[-1:] == b"\xc3"  # ends in ret
    assert elf.machine == 62 and elf.type == 1  # x86_64, relocatable


def test_symbols_carry_binding_section_and_size(elf):
    f, table, expf = elf.symbol("f"), elf.symbol("table"), next(s for s in elf.symbols if s.name == "expf")
    assert f.binding == STB_GLOBAL and elf.sections[f.section].name == ".text" and f.size > 0
    assert table.size == 16 and elf.section_data(elf.sections[table.section])[table.value :][:8] == bytes(
        [1, 0, 0, 0, 2, 0, 0, 0]
    )
    assert expf.section == SHN_UNDEF and not expf.defined
    assert elf.symbol("helper").binding == STB_LOCAL


def test_relocations_name_symbol_and_target_section(elf):
    call = next(r for r in elf.relocations if r.symbol.name == "expf")
    assert elf.sections[call.section].name == ".text"
    assert call.type == 4 and call.addend == -4  # R_X86_64_PLT32 to the end of the call's operand
    assert any(s.type == SHT_RELA and s.info == call.section for s in elf.sections)


def test_missing_symbol_is_a_key_error(elf):
    with pytest.raises(KeyError, match="nothere"):
        elf.symbol("nothere")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"#!/bin/sh\necho not an object\n" + bytes(64), "not an ELF file"),
        (b"\x7fELF\x01\x01\x01" + bytes(57), "only 64-bit"),
        (b"\x7fELF\x02\x02\x01" + bytes(57), "only little endian"),
        (b"\x7fELF\x02\x01", "truncated"),
    ],
)
def test_rejects_what_is_not_elf64_little_endian(data, message):
    with pytest.raises(ValueError, match=message):
        parse_elf(data)


def test_rejects_section_table_beyond_the_file(elf):
    header = bytearray(elf.data[:64])
    struct.pack_into("<Q", header, 0x28, 1 << 20)  # e_shoff far past the end
    with pytest.raises(ValueError, match="truncated"):
        parse_elf(bytes(header))
