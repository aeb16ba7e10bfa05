"""Every generated module: which headers, which names, where it goes. Add a header here (see README)."""

from __future__ import annotations

from autogen.spec import Target

__all__ = ["TARGETS", "by_name"]

_AMD = "plugins/amd/tinyhw_amd/autogen/"
_QCOM = "plugins/qcom/tinyhw_qcom/autogen/"
_ASIC = "drivers/gpu/drm/amd/include/asic_reg/"
_AMDGPU = "drivers/gpu/drm/amd/amdgpu/"
_ADRENO = "drivers/gpu/drm/msm/adreno/"
#: Kernel-internal headers take fixed-width and kernel integer types from whatever includes them.
_KERNEL_TYPES = (
    "#include <stdint.h>\n#include <stdbool.h>\n"
    "typedef uint8_t u8; typedef uint16_t u16; typedef uint32_t u32; typedef uint64_t u64;\n"
)


def _registers(block: str, prefixes: tuple[str, ...], exclude: tuple[str, ...] = ()) -> dict:
    """Spec fields for an AMD register block: `regNAME`, `regNAME_BASE_IDX` and `NAME__FIELD__SHIFT/_MASK`."""
    return {
        "package": "linux-source-6.1",
        "headers": (f"{_ASIC}{block}_offset.h", f"{_ASIC}{block}_sh_mask.h"),
        "constants": tuple(p for prefix in prefixes for p in (f"reg{prefix}*", f"{prefix}*")),
        "exclude": exclude,
    }


def _drop(*names: str) -> tuple[str, ...]:
    """Exclude patterns for registers (and their fields) whose names start with one of `names`."""
    return tuple(p for n in names for p in (f"{n}*", f"reg{n}*"))


#: Register families the drivers never program: performance counters, debug/trace, EDC, display.
_NOISE = ("*PERFCOUNTER*", "*PERFMON*", "*_EDC_*", "*DEBUG*", "*_DBG*", "*THREAD_TRACE*", "*_DSM_*")
#: VM contexts 1-15 and invalidation engines 1-17 repeat context/engine 0 at a fixed stride.
_VM_COPIES = tuple(
    f"*{hub}{kind}{i}_*" for hub in ("GCVM_", "MMVM_") for kind in ("CONTEXT", "INVALIDATE_ENG") for i in range(1, 18)
)

#: GC register families a compute driver does not program (graphics pipeline, power/clock gating, RLC internals,
#: MES scheduler, status mirrors). Drop a name here when a driver needs its registers.
_GC_UNUSED = """
CP_GFX CP_ME1 CP_ME2 CP_DMA CP_STALLED CP_CE CP_PFP CP_DE_ CP_VGT CP_SD_ CP_STRMOUT CP_DRAW CP_ME_
CP_RB1 CP_RB_ CP_RING CP_SAMPLE CP_SC_ CP_PA_ CP_EOPQ CP_FETCHER CP_INDEX CP_IB CP_ST_ CP_CSF
CP_VMID RLC_RLCS RLC_GPU RLC_XT RLC_SPP RLC_RLCV RLC_SRM RLC_GPM RLC_LB RLC_CLK RLC_SPM RLC_CAPTURE
RLC_PACE RLC_SEMAPHORE RLC_GFX_IMU RLC_UTCL1 SPI_PS SPI_SHADER SPI_RESOURCE SPI_WF SPI_GS SPI_VS
SPI_PQ SPI_LB SPI_P0 SPI_P1 SPI_BARYC SPI_INTERP SPI_CSQ SPI_EXP SPI_SX SPI_FEATURE SQ_WAVE SQ_IND
SQ_THREAD SQ_ALU SQ_INST SQ_LDS SQ_RUNTIME SQ_CMD SQ_WATCH SQ_IMG SQ_BUF SQ_FIFO SQ_TEX SQ_LB
GRBM_SE GRBM_CAM GRBM_GFX_ GCVM_L2_CGTT GCVM_L2_PROTECTION_FAULT_STATUS2 GCVM_L2_MM_ GCVM_L2_SAW
GCVM_L2_BANK GCVM_L2_CACHE_PARITY GCVM_L2_PTE_CACHE_DUMP GCVM_L2_WALKER GCVM_L2_GCR CP_MES CP_CPF
CP_CPC_BUSY CP_CPC_STALLED CP_CPC_GRBM CP_CPC_SCRATCH CP_HYP CP_BUSY CP_PWR CP_APPEND CP_ECC CP_GE
CP_HPD_UTCL1 CP_MEC_DC CP_MEC_DM RLC_RLCP RLC_RLCG RLC_CGCG RLC_SERDES RLC_PG RLC_SMU RLC_CGTT
RLC_HYP RLC_MEM RLC_IMU RLC_CP_ RLC_GFX_ RLC_LX6 RLC_FWL RLC_SPARE RLC_STAT RLC_PERF RLC_POWER
RLC_SAFE RLC_DSM RLC_SDMA SPI_GDBG SPI_WCL SPI_ARB SPI_DSM SPI_EDC SPI_CONFIG_PS GRBM_READ
GRBM_STATUS_SE GRBM_SKEW GRBM_TRAP GRBM_IOV GRBM_UTCL2 GRBM_NOWHERE GRBM_INT GRBM_WAIT GRBM_CHICKEN
GRBM_FENCE GRBM_SCRATCH GRBM_PWR GRBM_CGTT GRBM_SEC
""".split()

TARGETS: tuple[Target, ...] = (
    Target(
        name="pci",
        title="PCI configuration space: register offsets, bits and capability IDs (linux/pci_regs.h).",
        package="linux-libc-dev",
        headers=("linux/pci_regs.h",),
        output="tinyhw/hcq/autogen/pci.py",
        constants=("PCI_*",),
    ),
    Target(
        name="vfio",
        title="VFIO: structures, constants and ioctl numbers of the userspace device-access interface.",
        package="linux-libc-dev",
        headers=("linux/vfio.h",),
        output="tinyhw/hcq/autogen/vfio.py",
        constants=("VFIO_*",),
        types=("vfio_*",),
    ),
    Target(
        name="kfd",
        title="KFD, the amdgpu kernel driver's compute interface: ioctl structures, flags and numbers.",
        package="linux-libc-dev",
        headers=("linux/kfd_ioctl.h",),
        output=_AMD + "kfd.py",
        constants=("KFD_*", "AMDKFD_*"),
        types=("kfd_*",),
        stubs={"drm/drm.h": "#include <linux/types.h>  /* kfd_ioctl.h takes only the __u* types from it */"},
    ),
    Target(
        name="amdgpu_drm",
        title="amdgpu DRM interface: GEM, context, command submission and info ioctls.",
        package="libdrm-dev",
        headers=("drm.h", "amdgpu_drm.h"),
        output=_AMD + "amdgpu_drm.py",
        constants=tuple(
            """AMDGPU_* DRM_AMDGPU_* DRM_IOCTL_AMDGPU_* DRM_IOCTL_BASE DRM_COMMAND_BASE DRM_IOCTL_VERSION
            DRM_IOCTL_GEM_CLOSE DRM_IOCTL_PRIME_* DRM_IOCTL_SYNCOBJ_* DRM_CLOEXEC DRM_RDWR DRM_SYNCOBJ_*""".split()
        ),
        types=("drm_amdgpu_*", "drm_version", "drm_gem_close", "drm_prime_handle", "drm_syncobj_*"),
    ),
    Target(
        name="gc_11_0_0",
        title="GC 11.0.0 (RDNA3 graphics and compute) registers and fields.",
        output=_AMD + "gc_11_0_0.py",
        **_registers(
            "gc/gc_11_0_0",
            ("COMPUTE_", "CP_", "GRBM_", "SH_MEM_", "SQ_", "GCVM_", "SPI_", "RLC_"),
            exclude=_NOISE + _VM_COPIES + _drop(*_GC_UNUSED),
        ),
    ),
    Target(
        name="sdma_6_0_0",
        title="SDMA 6.0.0 registers and fields (on GC 11 they live in the GC register file).",
        output=_AMD + "sdma_6_0_0.py",
        **_registers(
            "gc/gc_11_0_0",
            ("SDMA0_",),
            exclude=_NOISE + _drop(*(f"SDMA0_QUEUE{i}" for i in range(1, 8)), "SDMA0_UTCL1", "SDMA0_RLC", "SDMA0_CE_"),
        ),
    ),
    Target(
        name="osssys_6_0_0",
        title="OSSSYS 6.0.0 registers and fields: interrupt handler ring.",
        output=_AMD + "osssys_6_0_0.py",
        **_registers("oss/osssys_6_0_0", ("IH_",), exclude=_NOISE),
    ),
    Target(
        name="nbio_4_3_0",
        title="NBIO 4.3.0 registers and fields: BIF doorbells, HDP flush, remap and strap registers.",
        output=_AMD + "nbio_4_3_0.py",
        **_registers(
            "nbio/nbio_4_3_0",
            ("BIF_BX_PF0_", "BIF_BX0_", "RCC_DEV0_EPF0_STRAP", "RCC_CONFIG_", "BIF_DOORBELL_", "S2A_DOORBELL_"),
            exclude=_NOISE,
        ),
    ),
    Target(
        name="mmhub_3_0_0",
        title="MMHUB 3.0.0 registers and fields: the memory hub's VM contexts and L2.",
        output=_AMD + "mmhub_3_0_0.py",
        **_registers("mmhub/mmhub_3_0_0", ("MMVM_", "MMMC_VM_"), exclude=_NOISE + _VM_COPIES + _drop("MMVM_L2_CGTT")),
    ),
    Target(
        name="mp_13_0_0",
        title="MP 13.0.0 registers and fields: PSP (MP0) and SMU (MP1) mailboxes.",
        output=_AMD + "mp_13_0_0.py",
        **_registers("mp/mp_13_0_0", ("MP0_SMN_C2PMSG_", "MP1_SMN_C2PMSG_", "MP1_SMN_FPS_"), exclude=_NOISE),
    ),
    Target(
        name="hdp_6_0_0",
        title="HDP 6.0.0 registers and fields: the host data path between BAR accesses and memory.",
        output=_AMD + "hdp_6_0_0.py",
        **_registers("hdp/hdp_6_0_0", ("HDP_",), exclude=_NOISE),
    ),
    Target(
        name="pm4",
        title="PM4 type-3 packets for GFX 10/11 command processors: opcodes, fields and header builders.",
        package="linux-source-6.1",
        headers=(_AMDGPU + "nvd.h", _AMDGPU + "soc15d.h"),
        output=_AMD + "pm4.py",
        constants=tuple(
            """PACKET* CP_PACKET* WRITE_DATA_* WAIT_REG_MEM_* WR_* EVENT_* EOP_* DATA_SEL
            INT_SEL INDIRECT_BUFFER_* CE_PARTITION_BASE *_SEL_*""".split()
        ),
    ),
    Target(
        name="sdma_v6",
        title="SDMA 6 packets: opcodes, sub-opcodes and per-dword field offsets, masks and shifts.",
        package="linux-source-6.1",
        headers=(_AMDGPU + "sdma_v6_0_0_pkt_open.h",),
        output=_AMD + "sdma_v6.py",
        constants=("SDMA_OP_*", "SDMA_SUBOP_*", "SDMA_ATOMIC_*", "SDMA_GCR_*")
        + tuple(
            f"SDMA_PKT_{packet}_*"
            for packet in """COPY_LINEAR CONSTANT_FILL FENCE TRAP POLL_REGMEM NOP TIMESTAMP_SET TIMESTAMP_GET
            TIMESTAMP_GET_GLOBAL GCR_REQ WRITE_UNTILED ATOMIC INDIRECT SRBM_WRITE""".split()
        ),
        exclude=("SDMA_PKT_COPY_LINEAR_BC_*", "SDMA_PKT_COPY_LINEAR_SUBWIN*"),
    ),
    Target(
        name="v11_structs",
        title="GFX 11 memory queue descriptors (MQD) for compute and SDMA queues.",
        package="linux-source-6.1",
        headers=("drivers/gpu/drm/amd/include/v11_structs.h",),
        output=_AMD + "v11_structs.py",
        types=("v11_compute_mqd", "v11_sdma_mqd"),
        prelude=_KERNEL_TYPES,
    ),
    Target(
        name="discovery",
        title="IP discovery table: binary header, IP blocks and their base addresses, GC info.",
        package="linux-source-6.1",
        headers=("drivers/gpu/drm/amd/include/discovery.h",),
        output=_AMD + "discovery.py",
        constants=("*",),
        types=("*",),
        exclude=("_DISCOVERY_H_",),
        prelude=_KERNEL_TYPES,
    ),
    Target(
        name="psp",
        title="PSP GFX interface: ring and command buffers, command IDs, firmware types.",
        package="linux-source-6.1",
        headers=(_AMDGPU + "psp_gfx_if.h",),
        output=_AMD + "psp.py",
        constants=("GFX_*", "PSP_*", "TEE_*", "FRAME_TYPE_*", "C2PMSG_*"),
        types=("psp_gfx_*", "gfx_cmd_*", "tee_*"),
        prelude=_KERNEL_TYPES,
    ),
    Target(
        name="amdgpu_ucode",
        title="Firmware file headers (common, gfx, rlc, sdma, psp, mes, imu) and firmware IDs.",
        package="linux-source-6.1",
        headers=(_AMDGPU + "amdgpu_ucode.h",),
        output=_AMD + "amdgpu_ucode.py",
        constants=("AMDGPU_UCODE_*", "PSP_FW_TYPE_*", "TA_FW_TYPE_*", "FW_VERSION_*"),
        types=("*firmware_header*", "psp_fw_*", "common_firmware_header"),
        exclude=("amdgpu_firmware_header",),
        # struct amdgpu_firmware (driver state, not generated) embeds a kernel mutex: give it a body to compile.
        prelude=_KERNEL_TYPES + "struct mutex { int unused; };\n",
        extra_files=(_AMDGPU + "amdgpu_socbb.h",),
    ),
    Target(
        name="a6xx",
        title="Adreno A6xx registers, fields and field builders (generated from the freedreno rnndb XML).",
        package="linux-source-6.1",
        headers=(_ADRENO + "a6xx.xml.h",),
        output=_QCOM + "a6xx.py",
        constants=tuple(
            p
            for block in """A6XX_CP_* A6XX_RBBM_* A6XX_SP_CS_* A6XX_HLSQ_CS_*
            A6XX_SP_* A6XX_UCHE_* A6XX_TPL1_* A6XX_HLSQ_*""".split()
            for p in (f"REG_{block}", block)
        ),
        exclude=_NOISE + ("*_VS_*", "*_HS_*", "*_DS_*", "*_GS_*", "*_FS_*", "*_PS_*", "*_BINNING*", "*_BLIT*"),
        # a6xx.xml.h uses enums of adreno_common.xml.h and adreno_pm4.xml.h, which msm includes before it.
        prelude=_KERNEL_TYPES + f'#include "{_ADRENO}adreno_common.xml.h"\n#include "{_ADRENO}adreno_pm4.xml.h"\n',
        extra_files=(_ADRENO + "adreno_common.xml.h", _ADRENO + "adreno_pm4.xml.h"),
    ),
    Target(
        name="adreno_pm4",
        title="Adreno CP (PM4) packets: type-7 opcodes, packet fields and their builders.",
        package="linux-source-6.1",
        headers=(_ADRENO + "adreno_pm4.xml.h",),
        output=_QCOM + "adreno_pm4.py",
        constants=("CP_*", "PM4_*", "A6XX_CP_*", "CACHE_*", "RB_*", "SS6_*", "ST6_*", "SB6_*", "UNK_*", "*EVENT*"),
        prelude=_KERNEL_TYPES,
    ),
)


def by_name(name: str) -> Target:
    """The target called `name`; KeyError lists the known names."""
    for target in TARGETS:
        if target.name == name:
            return target
    raise KeyError(f"no autogen target {name!r}; known: {', '.join(t.name for t in TARGETS)}")
