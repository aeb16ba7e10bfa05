"""The simulated SDMA queue decodes SDMA 6 packets built from the generated sdma_v6_0_0_pkt_open.h fields."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from tests.sim.amd.conftest import KFDClient, QueueHarness, host_bytes
from tinyhw_amd.autogen import kfd
from tinyhw_amd.autogen import nbio_4_3_0 as nbio
from tinyhw_amd.autogen import sdma_v6 as sdma

SDMA = kfd.KFD_IOC_QUEUE_TYPE_SDMA


def header(op: int, sub_op: int = 0, **fields: int) -> int:
    return op | sub_op << 8 | sum(value << getattr(sdma, f"SDMA_PKT_POLL_REGMEM_HEADER_{name}_shift")
                                  for name, value in fields.items())  # fmt: skip


def split(address: int) -> list[int]:
    return [address & 0xFFFFFFFF, address >> 32]


def copy_linear(dst: int, src: int, size: int) -> list[int]:
    return [header(sdma.SDMA_OP_COPY, sdma.SDMA_SUBOP_COPY_LINEAR), size - 1, 0, *split(src), *split(dst)]


def fence(address: int, value: int) -> list[int]:
    return [header(sdma.SDMA_OP_FENCE), *split(address), value]


def poll(address: int, value: int, function: int = 3) -> list[int]:
    return [header(sdma.SDMA_OP_POLL_REGMEM, func=function, mem_poll=1), *split(address), value, 0xFFFFFFFF,
            10 | 0xFFF << 16]  # fmt: skip


@pytest.fixture
def queue(client: KFDClient) -> QueueHarness:
    return QueueHarness(client, SDMA)


def test_copy_linear_moves_bytes_between_objects(client: KFDClient, queue: QueueHarness) -> None:
    src, _ = client.alloc(1 << 20, "GTT")
    dst, _ = client.alloc(1 << 20, "VRAM")
    signal, _ = client.alloc(4096)
    data = np.random.default_rng(0).integers(0, 256, 300_001, np.uint8)
    client.host(src, "uint8_t")[0 : data.size] = data.tobytes()
    queue.submit(*copy_linear(dst + 3, src, 200_000), *copy_linear(dst + 3 + 200_000, src + 200_000, 100_001),
                 *fence(signal, 0xFEED))  # fmt: skip
    assert queue.wait() == "active"
    assert client.host(signal, "uint32_t")[0] == 0xFEED
    np.testing.assert_array_equal(np.frombuffer(host_bytes(dst + 3, data.size), np.uint8), data)


def test_timestamp_write_and_fill(client: KFDClient, queue: QueueHarness) -> None:
    target, _ = client.alloc(4096)
    before = client.gpu.clock()
    fill = header(sdma.SDMA_OP_CONST_FILL) | 2 << sdma.SDMA_PKT_CONSTANT_FILL_HEADER_fillsize_shift
    queue.submit(header(sdma.SDMA_OP_TIMESTAMP, sdma.SDMA_SUBOP_TIMESTAMP_GET_GLOBAL), *split(target),
                 header(sdma.SDMA_OP_WRITE, sdma.SDMA_SUBOP_WRITE_LINEAR), *split(target + 8), 1, 7, 8,
                 fill, *split(target + 16), 0xABCD, 15, header(sdma.SDMA_OP_NOP) | 1 << 16, 0)  # fmt: skip
    assert queue.wait() == "active"
    timestamp, first, second, *filled = struct.unpack("<QIIIIII", host_bytes(target, 32))
    assert before <= timestamp <= client.gpu.clock() and (first, second) == (7, 8) and filled == [0xABCD] * 4


def test_poll_regmem_waits_while_the_compute_queue_runs(client: KFDClient, queue: QueueHarness) -> None:
    flag, _ = client.alloc(4096)
    queue.submit(*poll(flag, 5), *fence(flag + 8, 1))
    time.sleep(0.02)
    assert queue.read_pointer == 0 and client.host(flag + 8, "uint32_t")[0] == 0
    client.host(flag, "uint32_t")[0] = 5
    assert queue.wait() == "active" and client.host(flag + 8, "uint32_t")[0] == 1


def test_hdp_flush_handshake(client: KFDClient, queue: QueueHarness) -> None:
    flag, _ = client.alloc(4096)
    done, request = nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_DONE << 2, nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_REQ << 2
    queue.submit(header(sdma.SDMA_OP_POLL_REGMEM, func=3, hdp_flush=1), done, request, 1, 1, 10 | 0xFFF << 16,
                 *fence(flag, 3))  # fmt: skip
    assert queue.wait() == "active" and client.host(flag, "uint32_t")[0] == 3


@pytest.mark.parametrize(
    ("packets", "message"),
    [
        ([0x00FF], "unknown SDMA opcode 255"),
        ([header(sdma.SDMA_OP_FENCE) | 1 << 31, 0, 0, 0], "reserved header bits"),
        ([header(sdma.SDMA_OP_COPY, sdma.SDMA_SUBOP_COPY_LINEAR) | 1 << 25, 0, 0, 0, 0, 0, 0], "backwards"),
        ([header(sdma.SDMA_OP_FENCE), 2, 0, 0], "not 4-byte aligned"),
        ([header(sdma.SDMA_OP_FENCE), 0, 0], "announced only 3 more dwords"),
        ([header(sdma.SDMA_OP_POLL_REGMEM, func=3), 0, 0, 0, 0, 0], "register polls are not simulated"),
    ],
)
def test_malformed_packets_stop_the_queue(client: KFDClient, queue: QueueHarness, packets: list[int],
                                          message: str) -> None:  # fmt: skip
    queue.submit(*packets)
    assert queue.wait() == "faulted" and message in queue.queue.fault


def test_a_copy_from_unmapped_memory_faults_at_its_address(client: KFDClient, queue: QueueHarness) -> None:
    dst, _ = client.alloc(4096)
    queue.submit(*copy_linear(dst, 0x5555_0000_0040, 64))
    assert queue.wait() == "faulted" and "0x555500000040" in queue.queue.fault
