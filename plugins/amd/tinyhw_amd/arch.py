"""The AMD GPU architectures tinyhw-amd knows, keyed by gfx target ("gfx1100").

One `Arch` per target says what the driver, compiler and loader need to know about it: the KFD
gfx_target_version it reports, the ELF e_flags machine number of its code objects, wavefront
size, LDS per workgroup, and which generated register/packet tables describe it. A new
generation is a new entry (plus its generated tables), not a rewrite: RDNA3 (gfx1100/1101/1102)
is supported; RDNA4 (gfx1200/1201) and CDNA3 (gfx942) are listed with what differs from RDNA3,
and refused by name until tinyhw-amd drives them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyhw.errors import PluginError

__all__ = ["ARCHS", "Arch", "arch", "target_name"]

EF_AMDGPU_MACH = 0xFF
"""The bits of a code object's ELF e_flags that name its target (EF_AMDGPU_MACH_*)."""


@dataclass(frozen=True)
class Arch:
    """One gfx target.

    target: the LLVM processor name ("gfx1100"). family, products: what users know it as.
    gfx_version: (major, minor, stepping), as KFD's gfx_target_version encodes it.
    elf_mach: EF_AMDGPU_MACH_* in the e_flags of code objects built for it.
    wave_size: work-items per wavefront the compiler targets by default (32 on RDNA, 64 on CDNA).
    lds_size: bytes of local (group segment) memory one workgroup may use.
    registers, sdma: the generated tables (tinyhw_amd.autogen) of its GC registers and SDMA packets.
    unsupported: None when tinyhw-amd drives it, else why not (shown when such a GPU is opened).
    differences: how it differs from RDNA3 where that matters to the driver, for whoever adds it.
    """

    target: str
    family: str
    products: str
    gfx_version: tuple[int, int, int]
    elf_mach: int
    wave_size: int
    lds_size: int
    registers: str
    sdma: str
    unsupported: str | None = None
    differences: tuple[str, ...] = ()

    @property
    def gfx_target_version(self) -> int:
        """The number KFD reports in a topology node's `gfx_target_version` (110000 for gfx1100)."""
        major, minor, stepping = self.gfx_version
        return major * 10000 + minor * 100 + stepping


_RDNA3 = {"family": "RDNA3", "wave_size": 32, "lds_size": 64 << 10, "registers": "gc_11_0_0", "sdma": "sdma_v6"}
_RDNA4_DIFFERENCES = (
    "GC 12.0 register file (gc_12_0_0) and SDMA 7.0 packets (sdma_v7)",
    "COMPUTE_PGM_RSRC1 bit 21 is WG_RR_EN, and the DX10 clamp and IEEE mode bits are gone",
    "new instruction encodings (VIMAGE, VSAMPLE, VBUFFER; s_wait_* counters split by kind)",
)
_UNSUPPORTED_RDNA4 = "RDNA4 needs its own register and SDMA tables and instruction encodings (not generated yet)"

ARCHS: dict[str, Arch] = {
    a.target: a
    for a in (
        Arch("gfx1100", products="Radeon RX 7900 XTX/XT/GRE, Radeon PRO W7900/W7800", gfx_version=(11, 0, 0),
             elf_mach=0x41, **_RDNA3),
        Arch("gfx1101", products="Radeon RX 7800 XT/7700 XT, Radeon PRO W7700", gfx_version=(11, 0, 1),
             elf_mach=0x46, **_RDNA3),
        Arch("gfx1102", products="Radeon RX 7600/7600 XT, Radeon PRO W7600/W7500", gfx_version=(11, 0, 2),
             elf_mach=0x47, **_RDNA3),
        Arch("gfx1200", "RDNA4", "Radeon RX 9060 XT", (12, 0, 0), 0x48, 32, 64 << 10, "gc_12_0_0", "sdma_v7",
             _UNSUPPORTED_RDNA4, _RDNA4_DIFFERENCES),
        Arch("gfx1201", "RDNA4", "Radeon RX 9070/9070 XT, Radeon AI PRO R9700", (12, 0, 1), 0x4E, 32, 64 << 10,
             "gc_12_0_0", "sdma_v7", _UNSUPPORTED_RDNA4, _RDNA4_DIFFERENCES),
        Arch("gfx942", "CDNA3", "Instinct MI300X/MI300A/MI325X", (9, 4, 2), 0x4C, 64, 64 << 10, "gc_9_4_3",
             "sdma_v4_4_2", "CDNA3 needs the GC 9.4.3 register tables, several XCCs per device and wave64 kernels",
             ("wave64 by default; kernel descriptors carry ACCUM_OFFSET and TG_SPLIT in COMPUTE_PGM_RSRC3",
              "architected flat scratch: no private segment buffer user SGPRs",
              "a device is several XCCs (compute dies): dispatches and queues are per XCC")),
    )
}  # fmt: skip
"""Every gfx target tinyhw-amd knows, supported or not."""


def target_name(gfx_target_version: int) -> str:
    """The LLVM processor name of a KFD gfx_target_version: 110000 -> "gfx1100", 90010 -> "gfx90a"."""
    if gfx_target_version <= 0:
        raise ValueError(f"gfx_target_version {gfx_target_version} names no GPU (CPU nodes report 0)")
    major, minor, stepping = gfx_target_version // 10000, gfx_target_version // 100 % 100, gfx_target_version % 100
    return f"gfx{major}{minor:x}{stepping:x}"


def arch(target: str) -> Arch:
    """The supported architecture `target`; PluginError naming it and why when tinyhw-amd cannot drive it."""
    supported = ", ".join(name for name, a in ARCHS.items() if a.unsupported is None)
    known = ARCHS.get(target)
    if known is None:
        raise PluginError(f"unknown AMD GPU target {target!r}: tinyhw-amd supports {supported}")
    if known.unsupported is not None:
        raise PluginError(f"{target} ({known.family}: {known.products}) is not supported by tinyhw-amd yet: "
                          f"{known.unsupported}; supported: {supported}")  # fmt: skip
    return known
