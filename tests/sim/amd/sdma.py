"""The SDMA 6 packet processor of a simulated copy queue.

Packets are decoded with the generated sdma_v6_0_0_pkt_open.h fields: NOP, COPY_LINEAR, WRITE_UNTILED,
CONSTANT_FILL, FENCE (32-bit value), TRAP (interrupt), POLL_REGMEM (memory poll, or the HDP flush
handshake) and TIMESTAMP_GET_GLOBAL. A packet's length is the generated struct's, header bits no
field defines are reserved and must be zero, and misaligned addresses, unknown opcodes and modes the
simulator does not model (tiling, TMZ, backwards or broadcast copies) stop the queue with a fault.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable

import numpy as np

from tests.sim.amd.gpu import HardwareQueue, PacketProcessor, QueueFault, SimulatedGPU
from tests.sim.amd.pm4 import COMPARE
from tinyhw_amd.autogen import nbio_4_3_0 as nbio
from tinyhw_amd.autogen import sdma_v6 as sdma

__all__ = ["SDMAProcessor"]

HDP_FLUSH_BYTE_DISTANCE = 4 * (nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_DONE - nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_REQ)


@functools.cache
def packet_dwords(name: str) -> int:
    """The fixed length in dwords of SDMA packet `name` ("COPY_LINEAR"): one past its last field's dword."""
    prefix = f"SDMA_PKT_{name}_"
    return 1 + max(v for k, v in vars(sdma).items() if k.startswith(prefix) and k.endswith("_offset"))


@functools.cache
def header_bits(name: str) -> int:
    """The header bits that packet `name` defines (the rest are reserved)."""
    prefix = f"SDMA_PKT_{name}_HEADER_"
    names = {k[len(prefix) : -len("_mask")] for k in vars(sdma) if k.startswith(prefix) and k.endswith("_mask")}
    return sum(getattr(sdma, f"{prefix}{n}_mask") << getattr(sdma, f"{prefix}{n}_shift") for n in names)


def get(packet: list[int], name: str, dword: str, field: str) -> int:
    """Field `field` of `dword` of packet `name`, with the generated offset, mask and shift."""
    prefix = f"SDMA_PKT_{name}_{dword}_{field}"
    value = packet[getattr(sdma, f"{prefix}_offset")]
    return (value >> getattr(sdma, f"{prefix}_shift")) & getattr(sdma, f"{prefix}_mask")


def address(packet: list[int], lo: int) -> int:
    """The 64-bit address in dwords `lo`, `lo` + 1."""
    return (packet[lo + 1] << 32) | packet[lo]


class SDMAProcessor(PacketProcessor):
    """Executes one SDMA queue's packets (read and write pointers in bytes)."""

    def __init__(self, gpu: SimulatedGPU, queue: HardwareQueue) -> None:
        super().__init__(gpu, queue)
        self.packets: dict[tuple[int, int], tuple[str, Callable[[list[int], int], bool]]] = {
            (sdma.SDMA_OP_COPY, sdma.SDMA_SUBOP_COPY_LINEAR): ("COPY_LINEAR", self._copy_linear),
            (sdma.SDMA_OP_WRITE, sdma.SDMA_SUBOP_WRITE_LINEAR): ("WRITE_UNTILED", self._write),
            (sdma.SDMA_OP_CONST_FILL, 0): ("CONSTANT_FILL", self._constant_fill),
            (sdma.SDMA_OP_FENCE, 0): ("FENCE", self._fence),
            (sdma.SDMA_OP_TRAP, 0): ("TRAP", self._trap),
            (sdma.SDMA_OP_POLL_REGMEM, 0): ("POLL_REGMEM", self._poll_regmem),
            (sdma.SDMA_OP_TIMESTAMP, sdma.SDMA_SUBOP_TIMESTAMP_GET_GLOBAL): ("TIMESTAMP_GET_GLOBAL", self._timestamp),
            (sdma.SDMA_OP_NOP, 0): ("NOP", lambda packet, at: True),
        }

    def _kind(self, header: int, at: int) -> str:
        key = (header & 0xFF, (header >> 8) & 0xFF)
        if key not in self.packets:
            raise QueueFault(f"unknown SDMA opcode {key[0]} sub-opcode {key[1]} (header {header:#010x}) at {at:#x}")
        name = self.packets[key][0]
        if header & ~header_bits(name):
            raise QueueFault(f"SDMA {name} at {at:#x}: reserved header bits set ({header:#010x})")
        return name

    def packet_dwords(self, header: int, address: int) -> int:
        name = self._kind(header, address)
        if name == "NOP":
            return 1 + get([header], "NOP", "HEADER", "count")
        if name == "WRITE_UNTILED":
            count = self.ring_dwords((self.queue.read_pointer + 12) % self.queue.ring_size, 1)[0]
            return packet_dwords(name) + int(count & sdma.SDMA_PKT_WRITE_UNTILED_DW_3_count_mask)
        return packet_dwords(name)

    def execute(self, packet: np.ndarray, address: int) -> bool:
        words = [int(dword) for dword in packet]
        return self.packets[(words[0] & 0xFF, (words[0] >> 8) & 0xFF)][1](words, address)

    def _check_aligned(self, what: str, value: int, alignment: int, at: int) -> None:
        if value % alignment:
            raise QueueFault(f"SDMA {what} at {at:#x}: address {value:#x} is not {alignment}-byte aligned")

    def _copy_linear(self, packet: list[int], at: int) -> bool:
        if packet[1] & ~sdma.SDMA_PKT_COPY_LINEAR_COUNT_count_mask:
            raise QueueFault(f"SDMA COPY_LINEAR at {at:#x}: reserved COUNT bits set ({packet[1]:#x})")
        if any(get(packet, "COPY_LINEAR", "HEADER", mode) for mode in ("backwards", "broadcast", "tmz", "encrypt")):
            raise QueueFault(f"SDMA COPY_LINEAR at {at:#x}: backwards, broadcast, TMZ or encrypted copies are not "
                             "simulated")  # fmt: skip
        size = get(packet, "COPY_LINEAR", "COUNT", "count") + 1  # COUNT is bytes - 1
        source = address(packet, sdma.SDMA_PKT_COPY_LINEAR_SRC_ADDR_LO_src_addr_31_0_offset)
        destination = address(packet, sdma.SDMA_PKT_COPY_LINEAR_DST_ADDR_LO_dst_addr_31_0_offset)
        self.gpu.write(destination, self.gpu.read(source, size))
        return True

    def _write(self, packet: list[int], at: int) -> bool:
        destination = address(packet, sdma.SDMA_PKT_WRITE_UNTILED_DST_ADDR_LO_dst_addr_31_0_offset)
        self._check_aligned("WRITE_UNTILED", destination, 4, at)
        data = packet[sdma.SDMA_PKT_WRITE_UNTILED_DATA0_data0_offset :]
        self.gpu.write(destination, struct.pack(f"<{len(data)}I", *data))
        return True

    def _constant_fill(self, packet: list[int], at: int) -> bool:
        destination = address(packet, sdma.SDMA_PKT_CONSTANT_FILL_DST_ADDR_LO_dst_addr_31_0_offset)
        size = get(packet, "CONSTANT_FILL", "COUNT", "count") + 1
        if get(packet, "CONSTANT_FILL", "HEADER", "fillsize") != 2 or size % 4:
            raise QueueFault(f"SDMA CONSTANT_FILL at {at:#x}: only dword fills (fillsize 2) of whole dwords are "
                             "simulated")  # fmt: skip
        self._check_aligned("CONSTANT_FILL", destination, 4, at)
        value = get(packet, "CONSTANT_FILL", "DATA", "src_data_31_0")
        self.gpu.write(destination, struct.pack("<I", value) * (size // 4))
        return True

    def _fence(self, packet: list[int], at: int) -> bool:
        destination = address(packet, sdma.SDMA_PKT_FENCE_ADDR_LO_addr_31_0_offset)
        self._check_aligned("FENCE", destination, 4, at)
        self.gpu.write(destination, struct.pack("<I", get(packet, "FENCE", "DATA", "data")))
        return True

    def _trap(self, packet: list[int], at: int) -> bool:
        self.gpu.interrupt(get(packet, "TRAP", "INT_CONTEXT", "int_context"))
        return True

    def _poll_regmem(self, packet: list[int], at: int) -> bool:
        function = get(packet, "POLL_REGMEM", "HEADER", "func")
        lo, hi = sdma.SDMA_PKT_POLL_REGMEM_ADDR_LO_addr_31_0_offset, sdma.SDMA_PKT_POLL_REGMEM_ADDR_HI_addr_63_32_offset
        value, mask = get(packet, "POLL_REGMEM", "VALUE", "value"), get(packet, "POLL_REGMEM", "MASK", "mask")
        if function not in COMPARE:
            raise QueueFault(f"SDMA POLL_REGMEM at {at:#x}: FUNC {function} is reserved")
        if get(packet, "POLL_REGMEM", "HEADER", "hdp_flush"):
            # HDP flush: ADDR_LO is GPU_HDP_FLUSH_DONE and ADDR_HI GPU_HDP_FLUSH_REQ, as byte register addresses.
            if get(packet, "POLL_REGMEM", "HEADER", "mem_poll") or packet[lo] - packet[hi] != HDP_FLUSH_BYTE_DISTANCE:
                raise QueueFault(f"SDMA POLL_REGMEM at {at:#x}: an HDP flush must poll the flush DONE register "
                                 f"after writing REQ (registers {packet[hi]:#x}/{packet[lo]:#x})")  # fmt: skip
            return True
        if not get(packet, "POLL_REGMEM", "HEADER", "mem_poll"):
            raise QueueFault(f"SDMA POLL_REGMEM at {at:#x}: register polls are not simulated (set MEM_POLL)")
        target = address(packet, lo)
        self._check_aligned("POLL_REGMEM", target, 4, at)
        current = struct.unpack("<I", self.gpu.read(target, 4))[0]
        return COMPARE[function](current & mask, value)

    def _timestamp(self, packet: list[int], at: int) -> bool:
        destination = address(packet, sdma.SDMA_PKT_TIMESTAMP_GET_GLOBAL_WRITE_ADDR_LO_write_addr_31_3_offset)
        self._check_aligned("TIMESTAMP_GET_GLOBAL", destination, 8, at)
        self.gpu.write(destination, struct.pack("<Q", self.gpu.clock()))
        return True
