"""GPUMemory: host buffers mapped at GPU virtual addresses, per-lane gather/scatter, page faults naming addresses."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from tests.sim.amd.memory import GPUMemory, PageFault

VA = 0x7000_0000


def test_reads_and_writes_share_the_host_buffer():
    memory, host = GPUMemory(), bytearray(8192)
    memory.map(VA, host)
    memory.write(VA + 4094, b"\x01\x02\x03\x04")
    assert host[4094:4098] == b"\x01\x02\x03\x04"
    host[100] = 7
    assert memory.read(VA + 100, 1) == b"\x07"


def test_every_backing_kind_maps():
    memory = GPUMemory()
    with mmap.mmap(-1, 4096) as anonymous:
        for i, backing in enumerate([bytearray(4096), np.zeros(4096, np.uint8), anonymous]):
            memory.map(VA + i * 4096, backing)
            memory.write(VA + i * 4096, b"ok")
            assert bytes(memory.read(VA + i * 4096, 2)) == b"ok"
        for i in range(3):
            memory.unmap(VA + i * 4096)


@pytest.mark.parametrize(("va", "size", "message"), [
    (VA + 1, 4096, "not 4096-byte page aligned"), (VA, 0, "empty backing buffer"),
    (VA + 4096, 4096, "overlaps an existing mapping"), (VA - 4096, 8192, "overlaps an existing mapping"),
])  # fmt: skip
def test_bad_mappings_are_refused(va, size, message):
    memory = GPUMemory()
    memory.map(VA, bytearray(8192))
    with pytest.raises(ValueError, match=message):
        memory.map(va, bytearray(size))


def test_read_only_backing_is_refused():
    with pytest.raises(ValueError, match="read-only"):
        GPUMemory().map(VA, bytes(4096))


def test_unmapped_accesses_fault_at_the_first_unmapped_byte():
    memory = GPUMemory()
    memory.map(VA, bytearray(4096))
    with pytest.raises(PageFault, match="read of unmapped address 0x70001000") as info:
        memory.read(VA + 4092, 8)
    assert (info.value.address, info.value.access) == (VA + 4096, "read")
    with pytest.raises(PageFault, match="write of unmapped address 0x6ffffff0"):
        memory.write(VA - 16, b"x")
    memory.unmap(VA)
    with pytest.raises(PageFault, match="0x70000000"):
        memory.read(VA, 1)
    with pytest.raises(ValueError, match="no GPU mapping starts at 0x70000000"):
        memory.unmap(VA)


def test_gather_and_scatter_per_lane_across_mappings():
    memory = GPUMemory()
    low, high = np.zeros(4096, np.uint8), np.zeros(4096, np.uint8)
    memory.map(VA, low)
    memory.map(VA + 0x10000, high)
    lanes = np.arange(32, dtype=np.uint64)
    addresses = np.where(lanes % 2 == 0, VA + lanes * 8, VA + 0x10000 + lanes * 4).astype(np.uint64)
    active = lanes != 5
    values = (np.arange(32, dtype="<u4") * 0x01010101).view(np.uint8).reshape(32, 4)
    memory.scatter(addresses, values, 4, active)
    got = memory.gather(addresses, 4, active)
    np.testing.assert_array_equal(got[active], values[active])
    np.testing.assert_array_equal(got[5], 0)
    assert high[5 * 4] == 0  # the inactive lane stored nothing
    assert low[8 * 8] == 8 and high[9 * 4] == 9


def test_gather_faults_name_the_first_bad_lane_address():
    memory = GPUMemory()
    memory.map(VA, bytearray(4096))
    addresses = VA + np.arange(32, dtype=np.uint64) * 256
    with pytest.raises(PageFault, match="read of unmapped address 0x70001000"):
        memory.gather(addresses, 4, np.ones(32, bool))
    assert memory.gather(addresses, 4, np.arange(32) < 16).shape == (32, 4)  # the lanes that would fault are off
