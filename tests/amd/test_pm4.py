"""The compute queue's PM4 packets, decoded here from nvd.h's and GC 11's generated tables (not from the encoder)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tinyhw.hcq.queue import Sym
from tinyhw_amd.autogen import gc_11_0_0 as gc
from tinyhw_amd.autogen import nbio_4_3_0 as nbio
from tinyhw_amd.autogen import pm4
from tinyhw_amd.pm4 import ComputeQueue

GC_BASE = 0x1260  # IP discovery's GC segment 0 on GFX 11: SET_SH_REG offsets are relative to 0x2C00 from there
SIGNAL = SimpleNamespace(va=0x7F00_1234_5000)
NBIO_BASES = (0x0, 0x14, 0xD20, 0x10400, 0x241B000, 0x4040000)  # NBIF bases (navi10_ip_offset.h)
Queue = ComputeQueue.for_nbio(NBIO_BASES)
OPCODES = {value: name for name, value in vars(pm4).items() if name.startswith("PACKET3_") and isinstance(value, int)
           and name.count("_") >= 1 and value < 0x100}  # fmt: skip
REGISTERS = {GC_BASE + value - pm4.PACKET3_SET_SH_REG_START: name.removeprefix("reg")
             for name, value in vars(gc).items()
             if name.startswith("regCOMPUTE_") and not name.endswith("_BASE_IDX")}  # fmt: skip


def packets(words: list[int]) -> list[tuple[int, list[int]]]:
    """Split a PM4 stream into (opcode, body) by the type-3 header layout: type 31:30, count 29:16, opcode 15:8."""
    assert all(0 <= word < 1 << 32 for word in words), "a PM4 stream holds 32-bit unsigned words"
    result, i = [], 0
    while i < len(words):
        header = words[i]
        assert header >> 30 == 3, f"word {i} ({header:#x}) is not a type-3 header"
        count = (header >> 16) & 0x3FFF
        result.append(((header >> 8) & 0xFF, words[i + 1 : i + 2 + count]))
        i += 2 + count
    return result


def sh_registers(stream: list[tuple[int, list[int]]]) -> dict[str, int]:
    """Every SET_SH_REG write of a stream, by register name."""
    written = {}
    for opcode, body in stream:
        if opcode == pm4.PACKET3_SET_SH_REG:
            for i, value in enumerate(body[1:]):
                written[REGISTERS[body[0] + i]] = value
    return written


def program(**overrides) -> SimpleNamespace:
    values = dict(code_address=0x7F12_3456_7800, rsrc1=0x60AF0000, rsrc2=0x8C, rsrc3=0, wave32=True,
                  user_data=lambda kernargs, groups, local: [kernargs & 0xFFFFFFFF, kernargs >> 32],
                  scratch=lambda: (0, 0))  # fmt: skip
    return SimpleNamespace(**(values | overrides))


def test_dispatch_programs_the_compute_registers_then_dispatches():
    queue = Queue().exec(program(), 0x7F00_0000_1000, (4, 2, 1), (64, 1, 1))
    stream = packets(queue.words)
    assert [OPCODES[op] for op, _ in stream][:2] == ["PACKET3_WAIT_REG_MEM", "PACKET3_ACQUIRE_MEM"]  # a barrier first
    assert stream[-1][0] == pm4.PACKET3_DISPATCH_DIRECT
    regs = sh_registers(stream)
    assert regs["COMPUTE_PGM_LO"] | regs["COMPUTE_PGM_HI"] << 32 == 0x7F12_3456_7800 >> 8
    assert (regs["COMPUTE_PGM_RSRC1"], regs["COMPUTE_PGM_RSRC2"], regs["COMPUTE_PGM_RSRC3"]) == (0x60AF0000, 0x8C, 0)
    assert [regs[f"COMPUTE_NUM_THREAD_{axis}"] for axis in "XYZ"] == [64, 1, 1]
    assert [regs[f"COMPUTE_START_{axis}"] for axis in "XYZ"] == [0, 0, 0]
    assert (regs["COMPUTE_USER_DATA_0"], regs["COMPUTE_USER_DATA_1"]) == (0x1000, 0x7F00)
    dims, initiator = stream[-1][1][:3], stream[-1][1][3]
    assert dims == [4, 2, 1]
    assert initiator & gc.COMPUTE_DISPATCH_INITIATOR__COMPUTE_SHADER_EN_MASK
    assert initiator & gc.COMPUTE_DISPATCH_INITIATOR__CS_W32_EN_MASK


def test_kernels_without_scratch_get_none():
    regs = sh_registers(packets(Queue().exec(program(), 0x1000, (1, 1, 1), (32, 1, 1)).words))
    assert regs["COMPUTE_TMPRING_SIZE"] == 0 and "COMPUTE_DISPATCH_SCRATCH_BASE_LO" not in regs


def test_scratch_kernels_get_the_scratch_size_and_base():
    size = 3072 << gc.COMPUTE_TMPRING_SIZE__WAVES__SHIFT | 21 << gc.COMPUTE_TMPRING_SIZE__WAVESIZE__SHIFT
    queue = Queue().exec(program(scratch=lambda: (size, 0x7F44_0000_0000)), 0x1000, (1, 1, 1), (32, 1, 1))
    regs = sh_registers(packets(queue.words))
    assert regs["COMPUTE_TMPRING_SIZE"] == size
    base = regs["COMPUTE_DISPATCH_SCRATCH_BASE_LO"] | regs["COMPUTE_DISPATCH_SCRATCH_BASE_HI"] << 32
    assert base << 8 == 0x7F44_0000_0000  # the base is 256-byte aligned and given >> 8


def test_wave64_kernels_dispatch_without_the_wave32_bit():
    stream = packets(Queue().exec(program(wave32=False), 0x1000, (1, 1, 1), (64, 1, 1)).words)
    assert not stream[-1][1][3] & gc.COMPUTE_DISPATCH_INITIATOR__CS_W32_EN_MASK


def test_memory_barrier_flushes_the_hdp_with_nbios_request_done_handshake():
    (opcode, body), _ = packets(Queue().memory_barrier().words)
    assert opcode == pm4.PACKET3_WAIT_REG_MEM and len(body) == 6
    control = pm4.WAIT_REG_MEM_OPERATION(1) | pm4.WAIT_REG_MEM_FUNCTION(3) | pm4.WAIT_REG_MEM_MEM_SPACE(0)
    assert body[0] == control  # write, wait, write; "=="; registers
    segment = NBIO_BASES[nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_REQ_BASE_IDX]
    assert body[1:3] == [
        segment + nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_REQ,
        segment + nbio.regBIF_BX_PF0_GPU_HDP_FLUSH_DONE,
    ]
    assert body[1:3] == [0xD20 + 0x106, 0xD20 + 0x107]
    assert body[3] == body[4] == 0xFFFFFFFF  # reference = mask: every client, as KFD hides our MEC pipe


def test_memory_barrier_then_invalidates_every_cache_over_the_whole_address_space():
    _, (opcode, body) = packets(Queue().memory_barrier().words)
    assert opcode == pm4.PACKET3_ACQUIRE_MEM and len(body) == 7
    assert body[1:5] == [0xFFFFFFFF, 0xFFFFFF, 0, 0]  # size 2^56-1 from base 0
    for cache in ("GLI_INV", "GLK_INV", "GLV_INV", "GL1_INV", "GL2_INV", "GL2_WB"):
        assert body[6] & getattr(pm4, f"PACKET3_ACQUIRE_MEM_GCR_CNTL_{cache}")(1), cache


def test_a_queue_without_nbio_bases_refuses_a_memory_barrier():
    with pytest.raises(TypeError, match="HDP flush registers"):
        ComputeQueue().memory_barrier()


def test_signal_is_an_end_of_pipe_64bit_write_after_caches_are_written_back():
    (opcode, body), *_ = packets(Queue().signal(SIGNAL, 0x1_0000_0005).words)
    assert opcode == pm4.PACKET3_RELEASE_MEM and len(body) == 7
    assert body[0] & pm4.PACKET3_RELEASE_MEM_GCR_GL2_WB
    assert body[0] & pm4.PACKET3_RELEASE_MEM_EVENT_INDEX(0xF) == pm4.PACKET3_RELEASE_MEM_EVENT_INDEX(5)
    assert body[1] & pm4.PACKET3_RELEASE_MEM_DATA_SEL(7) == pm4.PACKET3_RELEASE_MEM_DATA_SEL(2)  # 64-bit data
    assert body[2] | body[3] << 32 == SIGNAL.va
    assert body[4] | body[5] << 32 == 0x1_0000_0005


def test_timestamp_writes_the_gpu_clock_after_the_value():
    (_, body), *_ = packets(Queue().timestamp(SIGNAL).words)
    assert body[1] & pm4.PACKET3_RELEASE_MEM_DATA_SEL(7) == pm4.PACKET3_RELEASE_MEM_DATA_SEL(3)  # GPU counter
    assert body[2] | body[3] << 32 == SIGNAL.va + 8


def test_wait_polls_memory_for_a_64bit_value_at_least_the_target():
    (opcode, body), *_ = packets(Queue().wait(SIGNAL, 0x2_0000_0001).words)
    assert opcode == pm4.PACKET3_WAIT_REG_MEM64 and len(body) == 8
    assert body[0] == pm4.WAIT_REG_MEM_FUNCTION(5) | pm4.WAIT_REG_MEM_MEM_SPACE(1)  # >=, memory
    assert body[1] | body[2] << 32 == SIGNAL.va
    assert (body[3] | body[4] << 32, body[5] | body[6] << 32) == (0x2_0000_0001, (1 << 64) - 1)


def test_symbolic_values_are_patched_at_submit():
    class Recorder(ComputeQueue):
        __slots__ = ()

        def _submit(self, device):
            device.append(list(self.words))

    queue = Recorder().wait(SIGNAL, Sym("base")).signal(SIGNAL, Sym("base") + 1)
    submitted = []
    queue.submit(submitted, {"base": 0x1_FFFF_FFFF})
    (_, wait), (_, signal) = packets(submitted[0])
    assert wait[3] | wait[4] << 32 == 0x1_FFFF_FFFF
    assert signal[4] | signal[5] << 32 == 0x2_0000_0000


@pytest.mark.parametrize("name", ["COMPUTE_PGM_LO", "COMPUTE_USER_DATA_0", "COMPUTE_NUM_THREAD_Z"])
def test_sh_register_offsets_land_in_the_sh_window(name):
    from tinyhw_amd.pm4 import sh_register

    assert REGISTERS[sh_register(name)] == name
    assert 0 <= sh_register(name) < pm4.PACKET3_SET_SH_REG_END - pm4.PACKET3_SET_SH_REG_START
