"""The copy queue's SDMA 6 packets, decoded here from sdma_v6_0_0_pkt_open.h's generated field tables."""

from __future__ import annotations

from types import SimpleNamespace

from tinyhw.hcq.queue import Sym
from tinyhw_amd.autogen import sdma_v6 as sdma
from tinyhw_amd.sdma import SDMAQueue

SIGNAL = SimpleNamespace(va=0x7F00_2000_0040)
LENGTHS = {sdma.SDMA_OP_COPY: 7, sdma.SDMA_OP_FENCE: 4, sdma.SDMA_OP_POLL_REGMEM: 6, sdma.SDMA_OP_TIMESTAMP: 3}


def field(packet: list[int], name: str) -> int:
    """Field `name` ("COPY_LINEAR_COUNT_count") of a decoded packet, by its generated offset, mask and shift."""
    word = packet[getattr(sdma, f"SDMA_PKT_{name}_offset")]
    return (word >> getattr(sdma, f"SDMA_PKT_{name}_shift")) & getattr(sdma, f"SDMA_PKT_{name}_mask")


def packets(words: list[int]) -> list[list[int]]:
    """Split an SDMA stream by each header's opcode (bits 7:0) and the packet lengths of the header."""
    assert all(0 <= word < 1 << 32 for word in words)
    result, i = [], 0
    while i < len(words):
        n = LENGTHS[words[i] & 0xFF]
        result.append(words[i : i + n])
        i += n
    return result


def address(packet: list[int], prefix: str, low: str = "ADDR_LO_addr_31_0", high: str = "ADDR_HI_addr_63_32") -> int:
    return field(packet, f"{prefix}_{low}") | field(packet, f"{prefix}_{high}") << 32


def test_copies_are_linear_copies_chunked_at_the_count_field_limit():
    limit = sdma.SDMA_PKT_COPY_LINEAR_COUNT_count_mask + 1
    size = 2 * limit + 12
    copies = packets(SDMAQueue().copy(0x7F00_0000_0000, 0x7E00_0000_0000, size).words)
    assert len(copies) == 3
    total = 0
    for packet in copies:
        assert field(packet, "COPY_LINEAR_HEADER_op") == sdma.SDMA_OP_COPY
        assert field(packet, "COPY_LINEAR_HEADER_sub_op") == sdma.SDMA_SUBOP_COPY_LINEAR
        count = field(packet, "COPY_LINEAR_COUNT_count") + 1  # the field holds bytes - 1
        src = address(packet, "COPY_LINEAR", "SRC_ADDR_LO_src_addr_31_0", "SRC_ADDR_HI_src_addr_63_32")
        dst = address(packet, "COPY_LINEAR", "DST_ADDR_LO_dst_addr_31_0", "DST_ADDR_HI_dst_addr_63_32")
        assert (src, dst) == (0x7E00_0000_0000 + total, 0x7F00_0000_0000 + total)
        total += count
    assert total == size


def test_signal_writes_both_halves_low_word_first():
    low, high = packets(SDMAQueue().signal(SIGNAL, 0x3_0000_0007).words)
    for packet in (low, high):
        assert field(packet, "FENCE_HEADER_op") == sdma.SDMA_OP_FENCE
    assert (address(low, "FENCE"), field(low, "FENCE_DATA_data")) == (SIGNAL.va, 7)
    assert (address(high, "FENCE"), field(high, "FENCE_DATA_data")) == (SIGNAL.va + 4, 3)


def test_wait_polls_the_low_word_for_greater_or_equal_until_it_passes():
    (poll,) = packets(SDMAQueue().wait(SIGNAL, 0x9_0000_0005).words)
    assert field(poll, "POLL_REGMEM_HEADER_op") == sdma.SDMA_OP_POLL_REGMEM
    assert field(poll, "POLL_REGMEM_HEADER_mem_poll") == 1
    assert field(poll, "POLL_REGMEM_HEADER_func") == 5  # >=
    assert address(poll, "POLL_REGMEM") == SIGNAL.va
    assert field(poll, "POLL_REGMEM_VALUE_value") == 5
    assert field(poll, "POLL_REGMEM_MASK_mask") == 0xFFFFFFFF
    assert field(poll, "POLL_REGMEM_DW5_retry_count") == 0xFFF  # retry until the compare passes


def test_timestamp_writes_the_global_timestamp_after_the_value():
    (packet,) = packets(SDMAQueue().timestamp(SIGNAL).words)
    assert field(packet, "TIMESTAMP_GET_GLOBAL_HEADER_op") == sdma.SDMA_OP_TIMESTAMP
    assert field(packet, "TIMESTAMP_GET_GLOBAL_HEADER_sub_op") == sdma.SDMA_SUBOP_TIMESTAMP_GET_GLOBAL
    low = field(packet, "TIMESTAMP_GET_GLOBAL_WRITE_ADDR_LO_write_addr_31_3") << 3  # the field holds bits 31:3
    assert low | field(packet, "TIMESTAMP_GET_GLOBAL_WRITE_ADDR_HI_write_addr_63_32") << 32 == SIGNAL.va + 8


def test_symbolic_signal_values_patch_both_fence_words():
    class Recorder(SDMAQueue):
        __slots__ = ()

        def _submit(self, device):
            device.append(list(self.words))

    submitted = []
    Recorder().wait(SIGNAL, Sym("v")).signal(SIGNAL, Sym("v") + 1).submit(submitted, {"v": 0x4_FFFF_FFFF})
    poll, low, high = packets(submitted[0])
    assert field(poll, "POLL_REGMEM_VALUE_value") == 0xFFFFFFFF
    assert (field(low, "FENCE_DATA_data"), field(high, "FENCE_DATA_data")) == (0, 5)
