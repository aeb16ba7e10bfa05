"""The compute queue: PM4 type-3 packets for the GFX 11 command processor (MEC).

Packets and fields come from the generated nvd.h tables (`autogen.pm4`), registers from the GC
11.0.0 tables (`autogen.gc_11_0_0`). A dispatch is: invalidate caches (ACQUIRE_MEM), program
the compute shader registers with SET_SH_REG (scratch: TMPRING_SIZE and the dispatch's scratch
base), start it with DISPATCH_DIRECT; a signal is an
end-of-pipe RELEASE_MEM that writes back caches and then the 64-bit value; a wait is a 64-bit
WAIT_REG_MEM64 polling for >=. A memory barrier flushes the HDP (the host data path: host writes to
VRAM through the PCI BAR) with NBIO's GPU_HDP_FLUSH_REQ/DONE handshake, then invalidates the caches
(ACQUIRE_MEM); every dispatch starts with one, as amdgpu flushes the HDP before a job's IBs. NBIO's
register bases come from IP discovery, so a device's queue class is made by `ComputeQueue.for_nbio`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tinyhw.hcq.queue import HWQueue, Sym
from tinyhw_amd.autogen import gc_11_0_0 as gc
from tinyhw_amd.autogen import nbio_4_3_0 as nbio
from tinyhw_amd.autogen import pm4

if TYPE_CHECKING:
    from tinyhw.hcq.signal import Signal

__all__ = ["ComputeQueue", "GC_SEGMENT0", "header", "sh_register"]

GC_SEGMENT0 = 0x1260
"""Dword address of GC 11's register segment 0 (IP discovery's GC base address 0, the same on every
GFX 10/11 part): the absolute address of a gc_11_0_0 register with BASE_IDX 0 is this plus its offset."""

CACHE_FLUSH_AND_INV_TS_EVENT = 0x14
"""VGT_EVENT_TYPE of the end-of-pipe event that flushes caches, then writes (soc21_enum.h)."""
EVENT_INDEX_END_OF_PIPE = 5
"""EVENT_INDEX of timestamp (end-of-pipe) events in RELEASE_MEM (the PM4 spec's EOP index)."""
DATA_SEL_VALUE64, DATA_SEL_GPU_CLOCK = 2, 3
"""RELEASE_MEM DATA_SEL: write the packet's 64-bit data; write the 64-bit GPU clock counter."""
FUNCTION_EQUAL, FUNCTION_GREATER_EQUAL, MEM_SPACE_REGISTER, MEM_SPACE_MEMORY = 3, 5, 0, 1
"""WAIT_REG_MEM FUNCTION "==" and ">=", MEM_SPACE "register" and "memory" (nvd.h's comments on WAIT_REG_MEM_*)."""
OPERATION_WRITE_WAIT_WRITE = 1
"""WAIT_REG_MEM OPERATION: write the reference to ADDR0, then poll ADDR1 (the HDP flush request/done pair)."""
HDP_FLUSH_CLIENTS = 0xFFFFFFFF
"""Reference and mask of the HDP flush: request it for every client bit and wait for all of them. amdgpu's
gfx_v11_0 sets the single CP bit of the ring's ME/pipe (ref_and_mask_cp2/cp6 << pipe), but KFD does not
tell user space which MEC pipe it mapped a user queue to, so the only bit known to be ours is "all of them"."""
POLL_INTERVAL = 4
"""WAIT_REG_MEM poll interval, in units of 16 GPU clocks."""

_RELEASE_CACHES = (pm4.PACKET3_RELEASE_MEM_GCR_SEQ | pm4.PACKET3_RELEASE_MEM_GCR_GL2_WB
                   | pm4.PACKET3_RELEASE_MEM_GCR_GLM_WB | pm4.PACKET3_RELEASE_MEM_GCR_GLM_INV)  # fmt: skip
"""At end of pipe: write back L2 and the metadata cache, in order, before the data write."""
_ACQUIRE_CACHES = 0
for _cache in ("GLI_INV", "GLK_INV", "GLV_INV", "GL1_INV", "GLM_INV", "GLM_WB", "GL2_INV", "GL2_WB"):
    _ACQUIRE_CACHES |= getattr(pm4, f"PACKET3_ACQUIRE_MEM_GCR_CNTL_{_cache}")(1)
"""Invalidate instruction, scalar, vector, L1 and L2 caches (writing L2 back first)."""


def header(opcode: int, count: int) -> int:
    """A type-3 header for `count` body dwords (nvd.h's PACKET3 is a C int expression: keep its 32 bits)."""
    return pm4.PACKET3(opcode, count - 1) & 0xFFFFFFFF


_INITIATOR = gc.COMPUTE_DISPATCH_INITIATOR__COMPUTE_SHADER_EN_MASK
_INITIATOR |= gc.COMPUTE_DISPATCH_INITIATOR__FORCE_START_AT_000_MASK


def sh_register(name: str) -> int:
    """The SET_SH_REG offset of GC register `name` ("COMPUTE_PGM_LO"): its address minus the SH window's start."""
    base_index = getattr(gc, f"reg{name}_BASE_IDX")
    if base_index != 0:
        raise ValueError(f"{name} is in GC register segment {base_index}, not in the SH register window")
    address = GC_SEGMENT0 + getattr(gc, f"reg{name}")
    if not pm4.PACKET3_SET_SH_REG_START <= address < pm4.PACKET3_SET_SH_REG_END:
        raise ValueError(f"{name} (address {address:#x}) is not an SH register")
    return address - pm4.PACKET3_SET_SH_REG_START


_PGM_LO, _RSRC1, _RSRC3 = (sh_register(f"COMPUTE_{name}") for name in ("PGM_LO", "PGM_RSRC1", "PGM_RSRC3"))
_LIMITS, _START_X, _NUM_THREAD_X, _USER_DATA_0 = (
    sh_register(f"COMPUTE_{name}") for name in ("RESOURCE_LIMITS", "START_X", "NUM_THREAD_X", "USER_DATA_0")
)
_TMPRING_SIZE, _SCRATCH_BASE_LO = sh_register("COMPUTE_TMPRING_SIZE"), sh_register("COMPUTE_DISPATCH_SCRATCH_BASE_LO")


class ComputeQueue(HWQueue):
    """Commands for a KFD compute (PM4) queue: kernels, signals, waits, timestamps, barriers."""

    __slots__ = ()
    submit_copies_commands = True
    hdp_flush_registers: tuple[int, int] | None = None
    """Absolute dword addresses of NBIO's GPU_HDP_FLUSH_REQ and _DONE; set by `for_nbio`."""

    @classmethod
    def for_nbio(cls, nbio_bases: Sequence[int]) -> type[ComputeQueue]:
        """The queue class of a GPU whose NBIO register segments (IP discovery's NBIF bases) are `nbio_bases`."""
        request, done = (
            nbio_bases[getattr(nbio, f"regBIF_BX_PF0_GPU_HDP_FLUSH_{name}_BASE_IDX")]
            + getattr(nbio, f"regBIF_BX_PF0_GPU_HDP_FLUSH_{name}")
            for name in ("REQ", "DONE")
        )
        return type(cls.__name__, (cls,), {"__slots__": (), "hdp_flush_registers": (request, done)})

    def _packet(self, opcode: int, *body: int) -> None:
        self._emit(header(opcode, len(body)), *body)

    def _set_sh_reg(self, offset: int, *values: int) -> None:
        self._packet(pm4.PACKET3_SET_SH_REG, offset, *values)

    def _acquire_mem(self) -> None:
        """Invalidate the GPU caches for every address (a range of 2^56 - 1 bytes from 0)."""
        self._packet(pm4.PACKET3_ACQUIRE_MEM, 0, 0xFFFFFFFF, 0xFFFFFF, 0, 0, POLL_INTERVAL, _ACQUIRE_CACHES)

    def _release_mem(self, address: int, data_sel: int, value: int | Sym = 0) -> None:
        """At end of pipe, write caches back, then write `value` (or the GPU clock) to `address`."""
        self._emit(header(pm4.PACKET3_RELEASE_MEM, 7),
                   _RELEASE_CACHES | pm4.PACKET3_RELEASE_MEM_EVENT_TYPE(CACHE_FLUSH_AND_INV_TS_EVENT)
                   | pm4.PACKET3_RELEASE_MEM_EVENT_INDEX(EVENT_INDEX_END_OF_PIPE),
                   pm4.PACKET3_RELEASE_MEM_DATA_SEL(data_sel),  # no interrupt: the host polls
                   address & 0xFFFFFFFF, address >> 32)  # fmt: skip
        self._emit64(value)
        self._emit(0)  # interrupt context id

    def _wait(self, signal: Signal, value: int | Sym) -> None:
        self._emit(header(pm4.PACKET3_WAIT_REG_MEM64, 8),
                   pm4.WAIT_REG_MEM_FUNCTION(FUNCTION_GREATER_EQUAL) | pm4.WAIT_REG_MEM_MEM_SPACE(MEM_SPACE_MEMORY),
                   signal.va & 0xFFFFFFFF, signal.va >> 32)  # fmt: skip
        self._emit64(value)
        self._emit(0xFFFFFFFF, 0xFFFFFFFF, POLL_INTERVAL)  # compare all 64 bits

    def _signal(self, signal: Signal, value: int | Sym) -> None:
        self._release_mem(signal.va, DATA_SEL_VALUE64, value)

    def _timestamp(self, signal: Signal) -> None:
        self._release_mem(signal.va + 8, DATA_SEL_GPU_CLOCK)

    def _hdp_flush(self) -> None:
        """Write GPU_HDP_FLUSH_REQ, then poll GPU_HDP_FLUSH_DONE until the flush is done (NBIO's handshake)."""
        if self.hdp_flush_registers is None:
            raise TypeError("this ComputeQueue does not know NBIO's HDP flush registers: use the device's "
                            "compute_queue_type (ComputeQueue.for_nbio)")  # fmt: skip
        request, done = self.hdp_flush_registers
        self._packet(pm4.PACKET3_WAIT_REG_MEM,
                     pm4.WAIT_REG_MEM_OPERATION(OPERATION_WRITE_WAIT_WRITE) | pm4.WAIT_REG_MEM_FUNCTION(FUNCTION_EQUAL)
                     | pm4.WAIT_REG_MEM_MEM_SPACE(MEM_SPACE_REGISTER),
                     request, done, HDP_FLUSH_CLIENTS, HDP_FLUSH_CLIENTS, POLL_INTERVAL)  # fmt: skip

    def _memory_barrier(self) -> None:
        self._hdp_flush()
        self._acquire_mem()

    def _exec(self, program: Any, kernargs: int, global_size: tuple, local_size: tuple) -> None:
        """Dispatch `program` over `global_size` workgroups of `local_size` work-items each."""
        self._memory_barrier()  # as amdgpu does before a job's IBs: the kernel sees what the host wrote
        code = program.code_address
        self._set_sh_reg(_PGM_LO, (code >> 8) & 0xFFFFFFFF, code >> 40)
        self._set_sh_reg(_RSRC1, program.rsrc1, program.rsrc2)
        self._set_sh_reg(_RSRC3, program.rsrc3)
        self._set_sh_reg(_LIMITS, 0)
        tmpring_size, scratch = program.scratch()
        self._set_sh_reg(_TMPRING_SIZE, tmpring_size)
        if tmpring_size:
            self._set_sh_reg(_SCRATCH_BASE_LO, (scratch >> 8) & 0xFFFFFFFF, scratch >> 40)
        self._set_sh_reg(_START_X, 0, 0, 0)
        self._set_sh_reg(_NUM_THREAD_X, *(int(n) for n in local_size))
        if user_data := program.user_data(kernargs, global_size, local_size):
            self._set_sh_reg(_USER_DATA_0, *user_data)
        initiator = _INITIATOR | (gc.COMPUTE_DISPATCH_INITIATOR__CS_W32_EN_MASK if program.wave32 else 0)
        self._packet(pm4.PACKET3_DISPATCH_DIRECT, *(int(n) for n in global_size), initiator)

    def _bind(self, device: Any) -> list[int]:
        return list(self.words)  # submissions copy the words into the ring, so a host copy is what gets patched

    def _submit(self, device: Any) -> None:
        device.compute_ring.write(self.words if self._bound is None else self._bound)
