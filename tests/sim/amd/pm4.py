"""The PM4 packet processor of a simulated gfx11 compute queue (the MEC's view of a user queue).

Type-3 packets only, decoded with the generated opcode and field definitions (nvd.h, gc_11_0_0):
NOP, SET_SH_REG / SET_UCONFIG_REG (register state of the queue), DISPATCH_DIRECT (runs the RDNA3
emulator with COMPUTE_PGM_*, RSRC1/2/3, USER_DATA_*, NUM_THREAD_*, TMPRING_SIZE), RELEASE_MEM
(end-of-pipe value or timestamp, optional interrupt), WAIT_REG_MEM / WAIT_REG_MEM64 (memory polls,
and the HDP flush register handshake), ACQUIRE_MEM and EVENT_WRITE (cache actions: the simulated
memory is coherent, so only their form is checked), WRITE_DATA and INDIRECT_BUFFER.
Anything else, a wrong length, a reserved field value or a misaligned address stops the queue.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from tests.sim.amd.gpu import HardwareQueue, PacketProcessor, QueueFault, SimulatedGPU
from tests.sim.amd.isa import UnknownInstruction, run_dispatch
from tests.sim.amd.topology import GC_BASE, NBIO_BASE
from tinyhw_amd.autogen import gc_11_0_0 as gc
from tinyhw_amd.autogen import nbio_4_3_0 as nbio
from tinyhw_amd.autogen import pm4

__all__ = ["PM4Processor", "gc_register"]

NOP_ONE_DWORD = 0x3FFF  # a NOP whose count is 0x3fff is a single-dword filler (amdgpu's ring padding)
LDS_GRANULE = 512  # COMPUTE_PGM_RSRC2.LDS_SIZE counts 128-dword blocks
SCRATCH_GRANULE = 256  # gfx11 COMPUTE_TMPRING_SIZE.WAVESIZE counts 64-dword blocks per wave
WAVE_LANES = 32
USER_DATA_REGISTERS = 16  # COMPUTE_USER_DATA_0..15
EVENT_INDEX_EOP, EVENT_INDEX_EOS = 5, 6
DATA_SEL_NONE, DATA_SEL_32, DATA_SEL_64, DATA_SEL_CLOCK = 0, 1, 2, 3
INT_SEL_NONE, INT_SEL_ONLY, INT_SEL_AFTER_CONFIRM, INT_SEL_DATA_CONFIRM, INT_SEL_CTXID = 0, 1, 2, 3, 4
MEM_SPACE_REGISTER, MEM_SPACE_MEMORY = 0, 1
OPERATION_WAIT, OPERATION_WRITE_WAIT_WRITE = 0, 1
WRITE_DATA_DST_MEMORY = 5
COMPARE: dict[int, Callable[[int, int], bool]] = {
    0: lambda value, ref: True,
    1: lambda value, ref: value < ref,
    2: lambda value, ref: value <= ref,
    3: lambda value, ref: value == ref,
    4: lambda value, ref: value != ref,
    5: lambda value, ref: value >= ref,
    6: lambda value, ref: value > ref,
}  # WAIT_REG_MEM FUNCTION: always, <, <=, ==, !=, >=, > (7 is reserved)


def gc_register(name: str) -> int:
    """The absolute dword address of GC register `name` ("COMPUTE_PGM_LO") on the simulated GPU."""
    return getattr(gc, f"reg{name}") + GC_BASE[getattr(gc, f"reg{name}_BASE_IDX")]


def field(value: int, builder: Callable[[int], int], width: int) -> int:
    """The `width`-bit field of `value` that the generated `builder` macro (x << shift) encodes."""
    return (value >> (builder(1).bit_length() - 1)) & ((1 << width) - 1)


def reg_field(value: int, register: str, name: str) -> int:
    """Field `name` of a GC register value, with the generated __SHIFT / _MASK."""
    return (value & getattr(gc, f"{register}__{name}_MASK")) >> getattr(gc, f"{register}__{name}__SHIFT")


SH_START, SH_END = pm4.PACKET3_SET_SH_REG_START, pm4.PACKET3_SET_SH_REG_END
UCONFIG_START, UCONFIG_END = pm4.PACKET3_SET_UCONFIG_REG_START, pm4.PACKET3_SET_UCONFIG_REG_END
HDP_FLUSH_REQUEST, HDP_FLUSH_DONE = (
    NBIO_BASE[getattr(nbio, f"regBIF_BX_PF0_GPU_HDP_FLUSH_{name}_BASE_IDX")]
    + getattr(nbio, f"regBIF_BX_PF0_GPU_HDP_FLUSH_{name}")
    for name in ("REQ", "DONE")
)  # absolute dword addresses on the simulated GPU (NBIO's bases as its IP discovery advertises them)


class PM4Processor(PacketProcessor):
    """Executes one compute queue's PM4 stream; keeps the queue's SH/UCONFIG register state."""

    def __init__(self, gpu: SimulatedGPU, queue: HardwareQueue) -> None:
        super().__init__(gpu, queue)
        self.registers: dict[int, int] = {}
        self.indirect: list[list[int]] = []  # [next address, end address] of the indirect buffers being run
        self.handlers: dict[int, tuple[Callable[[np.ndarray, int], bool], int, int | None]] = {
            pm4.PACKET3_NOP: (self._nop, 1, None),
            pm4.PACKET3_SET_SH_REG: (self._set_sh_reg, 2, None),
            pm4.PACKET3_SET_UCONFIG_REG: (self._set_uconfig_reg, 2, None),
            pm4.PACKET3_DISPATCH_DIRECT: (self._dispatch_direct, 4, 4),
            pm4.PACKET3_RELEASE_MEM: (self._release_mem, 7, 7),
            pm4.PACKET3_WAIT_REG_MEM: (self._wait_reg_mem, 6, 6),
            pm4.PACKET3_WAIT_REG_MEM64: (self._wait_reg_mem64, 8, 8),
            pm4.PACKET3_ACQUIRE_MEM: (self._nop, 7, 7),
            pm4.PACKET3_EVENT_WRITE: (self._event_write, 1, 3),
            pm4.PACKET3_WRITE_DATA: (self._write_data, 4, None),
            pm4.PACKET3_INDIRECT_BUFFER: (self._indirect_buffer, 3, 3),
        }  # opcode -> (handler, fewest body dwords, most body dwords or None)

    # -- stream -------------------------------------------------------------------------------------

    def packet_dwords(self, header: int, address: int) -> int:
        kind = pm4.CP_PACKET_GET_TYPE(header)
        if kind != pm4.PACKET_TYPE3:
            raise QueueFault(f"PM4 type-{kind} packet header {header:#010x} at {address:#x}: compute queues "
                             "take type-3 packets only")  # fmt: skip
        opcode, count = pm4.CP_PACKET3_GET_OPCODE(header), pm4.CP_PACKET_GET_COUNT(header)
        if opcode == pm4.PACKET3_NOP and count == NOP_ONE_DWORD:
            return 1
        if opcode not in self.handlers:
            raise QueueFault(f"unknown PM4 opcode {opcode:#04x} (header {header:#010x}) at {address:#x}")
        _, fewest, most = self.handlers[opcode]
        if count + 1 < fewest or (most is not None and count + 1 > most):
            expected = f"{fewest}" if fewest == most else f"{fewest}..{most or 'n'}"
            raise QueueFault(f"PM4 opcode {opcode:#04x} at {address:#x} has {count + 1} body dwords, expected "
                             f"{expected} (header {header:#010x})")  # fmt: skip
        return count + 2

    def execute(self, packet: np.ndarray, address: int) -> bool:
        if len(packet) == 1:
            return True
        handler, _, _ = self.handlers[pm4.CP_PACKET3_GET_OPCODE(int(packet[0]))]
        return handler([int(dword) for dword in packet[1:]], address)

    def step(self, write_pointer: int) -> bool:
        if not self.indirect:
            return super().step(write_pointer)
        current = self.indirect[-1]
        address, end = current
        if address == end:
            self.indirect.pop()
            return True
        header = struct.unpack("<I", self.gpu.read(address, 4))[0]
        length = self.packet_dwords(header, address)
        if address + 4 * length > end:
            raise QueueFault(f"PM4 packet at {address:#x} ({length} dwords) runs past its indirect buffer's end")
        if not self.execute(np.frombuffer(self.gpu.read(address, 4 * length), "<u4"), address):
            return False
        current[0] = address + 4 * length
        return True

    # -- registers ------------------------------------------------------------------------------------

    def _set_registers(self, body: list[int], address: int, start: int, end: int, what: str) -> bool:
        first = start + (body[0] & 0xFFFF)
        if body[0] >> 16 or first + len(body) - 1 > end:
            raise QueueFault(f"SET_{what}_REG at {address:#x}: offset {body[0]:#x} with {len(body) - 1} values "
                             f"leaves the {what} register range [{start:#x}, {end:#x})")  # fmt: skip
        for i, value in enumerate(body[1:]):
            self.registers[first + i] = value
        return True

    def _set_sh_reg(self, body: list[int], address: int) -> bool:
        return self._set_registers(body, address, SH_START, SH_END, "SH")

    def _set_uconfig_reg(self, body: list[int], address: int) -> bool:
        return self._set_registers(body, address, UCONFIG_START, UCONFIG_END, "UCONFIG")

    def register(self, name: str) -> int:
        """The queue's current value of GC register `name` (0 if never set)."""
        return self.registers.get(gc_register(name), 0)

    # -- dispatch -------------------------------------------------------------------------------------

    def _dispatch_direct(self, body: list[int], address: int) -> bool:
        *grid, initiator = body
        if not initiator & gc.COMPUTE_DISPATCH_INITIATOR__COMPUTE_SHADER_EN_MASK:
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: COMPUTE_SHADER_EN is not set ({initiator:#x})")
        if not initiator & gc.COMPUTE_DISPATCH_INITIATOR__CS_W32_EN_MASK:
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: wave64 dispatches are not simulated (set CS_W32_EN)")
        if initiator & gc.COMPUTE_DISPATCH_INITIATOR__USE_THREAD_DIMENSIONS_MASK:
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: USE_THREAD_DIMENSIONS is not simulated")
        if not initiator & gc.COMPUTE_DISPATCH_INITIATOR__FORCE_START_AT_000_MASK and any(
            self.register(f"COMPUTE_START_{axis}") for axis in "XYZ"
        ):
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: COMPUTE_START_X/Y/Z offsets are not simulated")
        rsrc2 = self.register("COMPUTE_PGM_RSRC2")
        user_sgprs = reg_field(rsrc2, "COMPUTE_PGM_RSRC2", "USER_SGPR")
        if user_sgprs > USER_DATA_REGISTERS:
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: RSRC2.USER_SGPR {user_sgprs} > {USER_DATA_REGISTERS}")
        workgroup = tuple(reg_field(self.register(f"COMPUTE_NUM_THREAD_{axis}"), f"COMPUTE_NUM_THREAD_{axis}",
                                    "NUM_THREAD_FULL") for axis in "XYZ")  # fmt: skip
        if 0 in workgroup or 0 in grid:
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: empty workgroup {workgroup} or grid {tuple(grid)}")
        wavesize = reg_field(self.register("COMPUTE_TMPRING_SIZE"), "COMPUTE_TMPRING_SIZE", "WAVESIZE")
        try:
            run_dispatch(
                self.gpu.memory,
                pgm_address=(self.register("COMPUTE_PGM_HI") << 40) | (self.register("COMPUTE_PGM_LO") << 8),
                rsrc1=self.register("COMPUTE_PGM_RSRC1"),
                rsrc2=rsrc2,
                rsrc3=self.register("COMPUTE_PGM_RSRC3"),
                user_data=[self.register(f"COMPUTE_USER_DATA_{i}") for i in range(user_sgprs)],
                workgroup_size=workgroup,
                grid=tuple(grid),
                lds_size=reg_field(rsrc2, "COMPUTE_PGM_RSRC2", "LDS_SIZE") * LDS_GRANULE,
                scratch_size=wavesize * SCRATCH_GRANULE // WAVE_LANES,
                budget=self.gpu.budget,
            )
        except UnknownInstruction as exc:
            raise QueueFault(f"illegal instruction in the dispatch at {address:#x}: {exc}") from exc
        except ValueError as exc:
            raise QueueFault(f"DISPATCH_DIRECT at {address:#x}: {exc}") from exc
        return True

    # -- signals and waits ------------------------------------------------------------------------------

    def _release_mem(self, body: list[int], address: int) -> bool:
        event, control, address_lo, address_hi, data_lo, data_hi, ctxid = body
        index = field(event, pm4.PACKET3_RELEASE_MEM_EVENT_INDEX, 4)
        data_sel = field(control, pm4.PACKET3_RELEASE_MEM_DATA_SEL, 3)
        int_sel = field(control, pm4.PACKET3_RELEASE_MEM_INT_SEL, 3)
        dst_sel = field(control, pm4.PACKET3_RELEASE_MEM_DST_SEL, 2)
        if index not in (EVENT_INDEX_EOP, EVENT_INDEX_EOS):
            raise QueueFault(f"RELEASE_MEM at {address:#x}: EVENT_INDEX {index} is reserved (5 = EOP, 6 = EOS)")
        if data_sel > DATA_SEL_CLOCK or int_sel > INT_SEL_CTXID or dst_sel > 1:
            raise QueueFault(f"RELEASE_MEM at {address:#x}: DATA_SEL {data_sel}, INT_SEL {int_sel} or DST_SEL "
                             f"{dst_sel} is reserved or not simulated")  # fmt: skip
        target = (address_hi << 32) | address_lo
        if data_sel != DATA_SEL_NONE:
            size = 4 if data_sel == DATA_SEL_32 else 8
            if target % size:
                raise QueueFault(f"RELEASE_MEM at {address:#x}: destination {target:#x} is not {size}-byte aligned")
            value = self.gpu.clock() if data_sel == DATA_SEL_CLOCK else (data_hi << 32) | data_lo
            self.gpu.write(target, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
        if int_sel in (INT_SEL_ONLY, INT_SEL_AFTER_CONFIRM, INT_SEL_CTXID):
            self.gpu.interrupt(ctxid)
        return True

    def _wait_reg_mem(self, body: list[int], address: int) -> bool:
        control, address_lo, address_hi, reference, mask, _poll = body
        space, operation, function = self._wait_control(control, address)
        if space == MEM_SPACE_REGISTER:
            return self._hdp_flush(operation, address_lo, address_hi, reference, mask, address)
        if operation != OPERATION_WAIT or address_lo % 4:
            raise QueueFault(f"WAIT_REG_MEM at {address:#x}: operation {operation} on memory, or poll address "
                             f"{(address_hi << 32) | address_lo:#x} not dword aligned")  # fmt: skip
        value = struct.unpack("<I", self.gpu.read((address_hi << 32) | address_lo, 4))[0]
        return COMPARE[function](value & mask, reference)

    def _wait_reg_mem64(self, body: list[int], address: int) -> bool:
        control, address_lo, address_hi, ref_lo, ref_hi, mask_lo, mask_hi, _poll = body
        space, operation, function = self._wait_control(control, address)
        if space != MEM_SPACE_MEMORY or operation != OPERATION_WAIT or address_lo % 8:
            raise QueueFault(f"WAIT_REG_MEM64 at {address:#x}: needs a wait on 8-byte aligned memory")
        value = struct.unpack("<Q", self.gpu.read((address_hi << 32) | address_lo, 8))[0]
        return COMPARE[function](value & ((mask_hi << 32) | mask_lo), (ref_hi << 32) | ref_lo)

    def _wait_control(self, control: int, address: int) -> tuple[int, int, int]:
        function = field(control, pm4.WAIT_REG_MEM_FUNCTION, 3)
        space = field(control, pm4.WAIT_REG_MEM_MEM_SPACE, 2)
        operation = field(control, pm4.WAIT_REG_MEM_OPERATION, 2)
        if function not in COMPARE or space > MEM_SPACE_MEMORY:
            raise QueueFault(f"WAIT_REG_MEM at {address:#x}: FUNCTION {function} or MEM_SPACE {space} is reserved")
        return space, operation, function

    def _hdp_flush(self, operation: int, request: int, done: int, reference: int, mask: int, address: int) -> bool:
        """The write-wait-write handshake on NBIO's GPU_HDP_FLUSH_REQ/DONE: the simulated HDP flushes at once."""
        if operation != OPERATION_WRITE_WAIT_WRITE or (request, done) != (HDP_FLUSH_REQUEST, HDP_FLUSH_DONE):
            raise QueueFault(f"WAIT_REG_MEM at {address:#x}: register wait (operation {operation}, registers "
                             f"{request:#x}/{done:#x}) is not the HDP flush request/done handshake (write-wait-write "
                             f"on {HDP_FLUSH_REQUEST:#x}/{HDP_FLUSH_DONE:#x})")  # fmt: skip
        if reference & ~mask:
            raise QueueFault(f"WAIT_REG_MEM at {address:#x}: HDP flush reference {reference:#x} outside mask {mask:#x}")
        return True

    # -- the rest -------------------------------------------------------------------------------------

    def _nop(self, body: list[int], address: int) -> bool:
        return True

    def _event_write(self, body: list[int], address: int) -> bool:
        if len(body) == 2:
            raise QueueFault(f"EVENT_WRITE at {address:#x} has 2 body dwords (1, or 3 with an address)")
        return True

    def _write_data(self, body: list[int], address: int) -> bool:
        control, address_lo, address_hi, *data = body
        if field(control, pm4.WRITE_DATA_DST_SEL, 4) != WRITE_DATA_DST_MEMORY or address_lo % 4:
            raise QueueFault(f"WRITE_DATA at {address:#x}: only dword-aligned writes to memory (DST_SEL 5) are "
                             f"simulated (control {control:#x})")  # fmt: skip
        self.gpu.write((address_hi << 32) | address_lo, struct.pack(f"<{len(data)}I", *data))
        return True

    def _indirect_buffer(self, body: list[int], address: int) -> bool:
        address_lo, address_hi, control = body
        size = control & 0xFFFFF  # IB_SIZE, dwords
        if not control & pm4.INDIRECT_BUFFER_VALID or address_lo % 4 or address_hi >> 16 or size == 0:
            raise QueueFault(f"INDIRECT_BUFFER at {address:#x}: not VALID, misaligned or empty "
                             f"(address {(address_hi << 32) | address_lo:#x}, control {control:#x})")  # fmt: skip
        if len(self.indirect) >= 2:
            raise QueueFault(f"INDIRECT_BUFFER at {address:#x}: indirect buffers nest at most 2 levels deep")
        start = (address_hi << 32) | address_lo
        self.indirect.append([start, start + 4 * size])
        return True
