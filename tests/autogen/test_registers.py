"""The register helper over generated tables: names, fields, and reads/writes through callables."""

from __future__ import annotations

import pytest

from tinyhw.hcq.registers import Field, Register, RegisterFile, registers_from
from tinyhw_amd.autogen import gc_11_0_0 as gc
from tinyhw_qcom.autogen import a6xx


class FakeMMIO:
    """32-bit registers in a dict, addressed by byte, recording every access."""

    def __init__(self):
        self.values: dict[int, int] = {}
        self.log: list[tuple[str, int]] = []

    def read32(self, address: int) -> int:
        self.log.append(("r", address))
        return self.values.get(address, 0)

    def write32(self, address: int, value: int) -> None:
        self.log.append(("w", address))
        self.values[address] = value


@pytest.fixture
def mmio():
    return FakeMMIO()


@pytest.fixture
def regs(mmio):
    return RegisterFile(registers_from(gc), mmio.read32, mmio.write32, bases=(0x1260, 0xA000))


def test_amd_register_has_its_offset_base_and_fields():
    rb = registers_from(gc)["CP_RB0_CNTL"]
    assert (rb.offset, rb.base_idx) == (gc.regCP_RB0_CNTL, gc.regCP_RB0_CNTL_BASE_IDX)
    assert rb.fields["RB_BUFSZ"] == Field(gc.CP_RB0_CNTL__RB_BUFSZ__SHIFT, gc.CP_RB0_CNTL__RB_BUFSZ_MASK)
    assert "RB_NO_UPDATE" in rb.fields


def test_adreno_fields_attach_to_the_longest_register_name():
    regs = registers_from(a6xx, prefix="REG_")
    assert regs["A6XX_CP_SQE_INSTR_BASE"].offset == a6xx.REG_A6XX_CP_SQE_INSTR_BASE
    thresholds = regs["A6XX_CP_ROQ_THRESHOLDS_1"]
    assert thresholds.fields["RB_LO"] == Field(
        a6xx.A6XX_CP_ROQ_THRESHOLDS_1_RB_LO__SHIFT, a6xx.A6XX_CP_ROQ_THRESHOLDS_1_RB_LO__MASK
    )


def test_encode_decode_round_trip():
    reg = Register("R", 0x10, {"LO": Field(0, 0xFF), "HI": Field(24, 0xFF000000)})
    value = reg.encode(LO=0x12, HI=0xAB)
    assert value == 0xAB000012
    assert reg.decode(value) == {"LO": 0x12, "HI": 0xAB}
    assert reg.update(value, LO=0x34) == 0xAB000034


def test_write_fields_and_update_go_to_the_based_byte_address(regs, mmio):
    address = ((0x1260, 0xA000)[gc.regCP_RB0_CNTL_BASE_IDX] + gc.regCP_RB0_CNTL) * 4
    regs.write("CP_RB0_CNTL", RB_BUFSZ=9)
    assert mmio.values[address] == 9 << gc.CP_RB0_CNTL__RB_BUFSZ__SHIFT
    regs.update("CP_RB0_CNTL", RB_BLKSZ=3)
    assert regs.read_fields("CP_RB0_CNTL")["RB_BUFSZ"] == 9
    assert regs.read_fields("CP_RB0_CNTL")["RB_BLKSZ"] == 3
    assert mmio.log[:3] == [("w", address), ("r", address), ("w", address)]


def test_unknown_register_suggests_close_names(regs):
    with pytest.raises(KeyError, match="did you mean.*CP_RB0_CNTL"):
        regs.read("CP_RB0_CNTRL")


def test_unknown_field_lists_the_fields(regs):
    with pytest.raises(KeyError, match="CP_RB0_CNTL has no field 'BUFSZ'.*RB_BUFSZ"):
        regs.write("CP_RB0_CNTL", BUFSZ=1)


def test_value_wider_than_its_field_is_refused(regs, mmio):
    limit = gc.CP_RB0_CNTL__RB_BUFSZ_MASK >> gc.CP_RB0_CNTL__RB_BUFSZ__SHIFT
    with pytest.raises(ValueError, match=rf"CP_RB0_CNTL.RB_BUFSZ = {limit + 1} does not fit \(0..{limit}\)"):
        regs.write("CP_RB0_CNTL", RB_BUFSZ=limit + 1)
    with pytest.raises(ValueError, match="not a 32-bit value"):
        regs.write("CP_RB0_CNTL", 1 << 32)
    assert mmio.values == {}


def test_write_takes_a_value_or_fields(regs):
    with pytest.raises(TypeError, match="not both"):
        regs.write("CP_RB0_CNTL", 0, RB_BUFSZ=1)
    with pytest.raises(TypeError, match="not neither"):
        regs.write("CP_RB0_CNTL")


def test_missing_aperture_base_is_reported(mmio):
    regs = RegisterFile(registers_from(gc), mmio.read32, mmio.write32)
    name = next(n for n, r in regs.registers.items() if r.base_idx > 0)
    with pytest.raises(ValueError, match="only 1 bases are known"):
        regs.read(name)
