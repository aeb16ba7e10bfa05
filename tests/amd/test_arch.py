"""The architecture table: RDNA3 targets are supported, later ones are known and refused by name."""

from __future__ import annotations

import pytest

from tinyhw.errors import PluginError
from tinyhw_amd.arch import ARCHS, arch, target_name


@pytest.mark.parametrize(
    ("version", "name"), [(110000, "gfx1100"), (110001, "gfx1101"), (110002, "gfx1102"), (120001, "gfx1201"),
                          (90402, "gfx942"), (90010, "gfx90a"), (100300, "gfx1030")],
)  # fmt: skip
def test_kfd_gfx_target_versions_name_llvm_targets(version: int, name: str) -> None:
    assert target_name(version) == name


def test_every_entry_round_trips_its_gfx_target_version() -> None:
    assert all(target_name(a.gfx_target_version) == name for name, a in ARCHS.items())


def test_cpu_nodes_have_no_target() -> None:
    with pytest.raises(ValueError, match="gfx_target_version 0 names no GPU"):
        target_name(0)


@pytest.mark.parametrize("target", ["gfx1100", "gfx1101", "gfx1102"])
def test_rdna3_is_supported(target: str) -> None:
    rdna3 = arch(target)
    assert (rdna3.family, rdna3.wave_size, rdna3.lds_size) == ("RDNA3", 32, 65536)
    assert (rdna3.registers, rdna3.sdma) == ("gc_11_0_0", "sdma_v6")


@pytest.mark.parametrize(("target", "why"), [("gfx1201", "RDNA4: Radeon RX 9070"), ("gfx942", "CDNA3: Instinct MI300")])
def test_known_later_generations_are_refused_by_name(target: str, why: str) -> None:
    with pytest.raises(PluginError, match=rf"{target} \({why}.*\) is not supported by tinyhw-amd yet: .*"
                                          r"supported: gfx1100, gfx1101, gfx1102"):  # fmt: skip
        arch(target)
    assert ARCHS[target].differences


def test_cdna3_differs_in_wave_size() -> None:
    assert ARCHS["gfx942"].wave_size == 64 and ARCHS["gfx1201"].wave_size == 32


def test_unknown_targets_list_the_supported_ones() -> None:
    with pytest.raises(PluginError, match="unknown AMD GPU target 'gfx1030': tinyhw-amd supports gfx1100, gfx1101"):
        arch("gfx1030")
