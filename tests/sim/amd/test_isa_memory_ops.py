"""Memory instructions on one emulated wave: scalar loads, global loads/stores, scratch, LDS, and their faults."""

from __future__ import annotations

import numpy as np
import pytest

from tests.sim.amd.isa.assembler import run_code
from tests.sim.amd.memory import GPUMemory, PageFault

LANE = np.arange(32)
DATA_VA = 0x20_0000


@pytest.fixture
def memory() -> GPUMemory:
    """A GPU address space with 64 KiB at DATA_VA holding the bytes 0, 1, 2, ... (mod 256)."""
    memory = GPUMemory()
    memory.map(DATA_VA, np.arange(65536, dtype=np.uint32).astype(np.uint8))
    return memory


def _words(memory: GPUMemory, offset: int, count: int) -> np.ndarray:
    return np.frombuffer(memory.read(DATA_VA + offset, 4 * count), "<u4")


def test_s_load_reads_dwords_at_base_plus_offset(memory):
    wave = run_code(["s_load_b128 s[4:7], s[0:1], 0x10", "s_load_b32 s8, s[0:1], s2"], sgpr={0: DATA_VA, 1: 0, 2: 8},
                    memory=memory)  # fmt: skip
    assert wave.sgpr[4:8] == _words(memory, 16, 4).tolist()
    assert wave.sgpr[8] == _words(memory, 8, 1)[0]


def test_global_load_with_a_scalar_base_and_per_lane_offsets(memory):
    wave = run_code(["global_load_b32 v1, v0, s[0:1] offset:4"], vgpr={0: LANE * 8}, sgpr={0: DATA_VA, 1: 0},
                    memory=memory)  # fmt: skip
    np.testing.assert_array_equal(wave.vgpr[1], _words(memory, 4, 64)[::2])


def test_global_load_b64_with_64_bit_vector_addresses(memory):
    wave = run_code(["global_load_b64 v[2:3], v[0:1], off"], vgpr={0: DATA_VA + LANE * 8, 1: 0}, memory=memory)
    np.testing.assert_array_equal(wave.vgpr[2:4].T.ravel(), _words(memory, 0, 64))


@pytest.mark.parametrize(("asm", "want"), [
    ("global_load_u8 v1, v0, s[0:1]", lambda b: b.astype(np.uint32)),
    ("global_load_i8 v1, v0, s[0:1]", lambda b: b.view(np.int8).astype(np.int32).view(np.uint32)),
    ("global_load_d16_b16 v1, v0, s[0:1]", lambda b: 0xAAAA0000 | b.astype(np.uint32) | (b + 1).astype(np.uint32) << 8),
    ("global_load_d16_hi_u8 v1, v0, s[0:1]", lambda b: 0xAAAA | b.astype(np.uint32) << 16),
])  # fmt: skip
def test_sub_dword_loads_extend_or_fill_a_half(memory, asm, want):
    start = 120 + LANE * 3
    wave = run_code([asm], vgpr={0: start, 1: 0xAAAAAAAA}, sgpr={0: DATA_VA, 1: 0}, memory=memory)
    np.testing.assert_array_equal(wave.vgpr[1], want(start.astype(np.uint8)))


def test_global_stores_write_only_enabled_lanes(memory):
    run_code(["global_store_b32 v0, v1, s[0:1]", "global_store_b16 v0, v1, s[0:1] offset:256",
              "global_store_d16_hi_b16 v0, v1, s[0:1] offset:512"],
             vgpr={0: LANE * 4, 1: LANE * 0x10001 + 0x10000}, sgpr={0: DATA_VA, 1: 0}, memory=memory,
             exec_mask=0x0000FFFF)  # fmt: skip
    np.testing.assert_array_equal(_words(memory, 0, 16), LANE[:16] * 0x10001 + 0x10000)
    assert _words(memory, 64, 1)[0] == np.arange(64, 68, dtype=np.uint8).view("<u4")[0]  # lane 16: untouched
    halves = np.frombuffer(memory.read(DATA_VA + 256, 64), "<u2")
    np.testing.assert_array_equal(halves[::2], LANE[:16] + 0)
    np.testing.assert_array_equal(np.frombuffer(memory.read(DATA_VA + 512, 64), "<u2")[::2], LANE[:16] + 1)


def test_global_load_from_unmapped_memory_is_a_page_fault_naming_the_address(memory):
    with pytest.raises(PageFault, match="read of unmapped address 0x210000") as info:
        run_code(["global_load_b32 v1, v0, s[0:1]"], vgpr={0: 0xFFF0 + LANE * 4}, sgpr={0: DATA_VA, 1: 0},
                 memory=memory)  # fmt: skip
    assert info.value.address == DATA_VA + 0x10000 and info.value.access == "read"


def test_scratch_is_private_to_each_lane():
    wave = run_code(["scratch_store_b32 off, v0, off offset:8", "scratch_store_b64 v2, v[0:1], off offset:16",
                     "scratch_load_b32 v3, off, off offset:8", "scratch_load_b32 v4, v2, off offset:20"],
                    vgpr={0: LANE * 7, 1: LANE * 11, 2: 4})  # fmt: skip
    np.testing.assert_array_equal(wave.vgpr[3], LANE * 7)
    np.testing.assert_array_equal(wave.vgpr[4], LANE * 11)


def test_scratch_beyond_the_private_size_faults():
    with pytest.raises(
        PageFault, match=r"read of unmapped address 0x40 \(outside the 64 bytes of the lane's scratch\)"
    ):
        run_code(["scratch_load_b32 v1, off, off offset:64"])


def test_lds_store_then_load_with_two_addresses():
    wave = run_code(["ds_store_b32 v0, v1", "ds_load_2addr_b32 v[2:3], v0 offset1:1",
                     "ds_store_b64 v6, v[2:3] offset:256", "ds_load_b64 v[4:5], v6 offset:256"],
                    vgpr={0: LANE * 4, 1: LANE + 100, 6: LANE * 8}, lds_bytes=512)  # fmt: skip
    np.testing.assert_array_equal(wave.vgpr[2], LANE + 100)
    np.testing.assert_array_equal(wave.vgpr[3], np.r_[LANE[1:] + 100, 0])
    np.testing.assert_array_equal(wave.vgpr[4:6], wave.vgpr[2:4])


def test_lds_atomic_add_combines_every_lane():
    wave = run_code(["ds_add_u32 v0, v1", "ds_load_b32 v2, v0"], vgpr={0: (LANE % 4) * 4, 1: LANE})
    np.testing.assert_array_equal(wave.vgpr[2], [sum(range(lane % 4, 32, 4)) for lane in range(32)])


def test_lds_out_of_range_faults():
    with pytest.raises(PageFault, match=r"0x100 \(outside the 256 bytes of LDS\)"):
        run_code(["ds_load_b32 v1, v0"], vgpr={0: 256})
