"""The simulated compute queue decodes PM4 packets built from the generated nvd.h / gc_11_0_0 definitions."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest

from tests.sim.amd.conftest import KFDClient, QueueHarness, host_bytes
from tests.sim.amd.fault_kernels import SPIN
from tests.sim.amd.kfd import ffi
from tests.sim.amd.topology import GC_BASE, NBIO_BASE
from tinyhw_amd.autogen import gc_11_0_0 as gc
from tinyhw_amd.autogen import kfd, pm4
from tinyhw_amd.autogen import nbio_4_3_0 as nbio
from tinyhw_amd.code_object import compile_gfx, load_code_object

COMPUTE = kfd.KFD_IOC_QUEUE_TYPE_COMPUTE
EOP = pm4.PACKET3_RELEASE_MEM_EVENT_INDEX(5)
COMPUTE_SHADER_EN = gc.COMPUTE_DISPATCH_INITIATOR__COMPUTE_SHADER_EN_MASK
WAVE32 = COMPUTE_SHADER_EN | gc.COMPUTE_DISPATCH_INITIATOR__CS_W32_EN_MASK
CACHE_FLUSH_AND_INV_TS_EVENT = 0x14  # VGT_EVENT_TYPE of an end-of-pipe timestamp event
TWICE = """
declare i32 @llvm.amdgcn.workitem.id.x()
declare i32 @llvm.amdgcn.workgroup.id.x()
define amdgpu_kernel void @twice(ptr addrspace(1) %out) #0 {
  %tid = call i32 @llvm.amdgcn.workitem.id.x()
  %group = call i32 @llvm.amdgcn.workgroup.id.x()
  %base = mul i32 %group, 64
  %i = add i32 %base, %tid
  %value = mul i32 %i, 2
  %index = zext i32 %i to i64
  %p = getelementptr i32, ptr addrspace(1) %out, i64 %index
  store i32 %value, ptr addrspace(1) %p
  ret void
}
attributes #0 = { "amdgpu-flat-work-group-size"="64,64" }
"""


def release_mem(address: int, value: int, *, data_sel: int = 2, int_sel: int = 0, ctxid: int = 0) -> list[int]:
    return [pm4.PACKET3(pm4.PACKET3_RELEASE_MEM, 6), pm4.PACKET3_RELEASE_MEM_EVENT_TYPE(CACHE_FLUSH_AND_INV_TS_EVENT)
            | EOP, pm4.PACKET3_RELEASE_MEM_DATA_SEL(data_sel) | pm4.PACKET3_RELEASE_MEM_INT_SEL(int_sel),
            address & 0xFFFFFFFF, address >> 32, value & 0xFFFFFFFF, value >> 32, ctxid]  # fmt: skip


def wait_reg_mem(address: int, reference: int, function: int = 5) -> list[int]:
    control = pm4.WAIT_REG_MEM_FUNCTION(function) | pm4.WAIT_REG_MEM_MEM_SPACE(1)
    return [pm4.PACKET3(pm4.PACKET3_WAIT_REG_MEM, 5), control, address & 0xFFFFFFFF, address >> 32, reference,
            0xFFFFFFFF, 4]  # fmt: skip


def set_sh_reg(name: str, *values: int) -> list[int]:
    offset = getattr(gc, f"reg{name}") + GC_BASE[getattr(gc, f"reg{name}_BASE_IDX")] - pm4.PACKET3_SET_SH_REG_START
    return [pm4.PACKET3(pm4.PACKET3_SET_SH_REG, len(values)), offset, *values]


def dispatch(client: KFDClient, source: str, name: str, argument: int, groups: int) -> list[int]:
    """The packets of one wave32 dispatch of kernel `name` with one pointer argument."""
    code = load_code_object(compile_gfx(source))
    desc = code.kernels[name]
    base, _ = client.alloc(-(-code.size // 4096) * 4096)
    kernarg, _ = client.alloc(4096)
    ffi.memmove(ffi.cast("char *", base), code.image(base), code.size)
    client.host(kernarg, "uint64_t")[0] = argument
    user = []
    for sgpr in desc.user_sgprs:
        user += [kernarg & 0xFFFFFFFF, kernarg >> 32] if sgpr == "kernarg_segment_ptr" else [0, 0]
    program = base + desc.entry
    return [
        *set_sh_reg("COMPUTE_PGM_LO", program >> 8 & 0xFFFFFFFF, program >> 40),
        *set_sh_reg("COMPUTE_PGM_RSRC1", desc.rsrc1, desc.rsrc2),
        *set_sh_reg("COMPUTE_PGM_RSRC3", desc.rsrc3),
        *set_sh_reg("COMPUTE_NUM_THREAD_X", 64, 1, 1),
        *set_sh_reg("COMPUTE_USER_DATA_0", *user),
        pm4.PACKET3(pm4.PACKET3_DISPATCH_DIRECT, 3),
        groups,
        1,
        1,
        WAVE32,
    ]


@pytest.fixture
def queue(client: KFDClient) -> QueueHarness:
    return QueueHarness(client, COMPUTE)


def test_release_mem_writes_values_and_timestamps(client: KFDClient, queue: QueueHarness) -> None:
    signal, _ = client.alloc(4096)
    before = client.gpu.clock()
    queue.submit(*release_mem(signal, 0x1_2345_6789), *release_mem(signal + 8, 7, data_sel=1),
                 *release_mem(signal + 16, 0, data_sel=3))  # fmt: skip
    assert queue.wait() == "active"
    value, low, timestamp = struct.unpack("<QQQ", host_bytes(signal, 24))
    assert value == 0x1_2345_6789 and low == 7 and before <= timestamp <= client.gpu.clock()


def test_release_mem_interrupt_signals_the_event_whose_mailbox_was_written(client: KFDClient,
                                                                          queue: QueueHarness) -> None:  # fmt: skip
    page, handle = client.alloc(0x8000)
    event = client.call("CREATE_EVENT", "create_event", event_type=kfd.KFD_IOC_EVENT_SIGNAL, auto_reset=1,
                        event_page_offset=handle)  # fmt: skip
    mailbox = page + 8 * event.event_slot_index
    queue.submit(*release_mem(mailbox, event.event_id, data_sel=1, int_sel=2, ctxid=event.event_id))
    data = ffi.new("struct kfd_event_data[1]", [{"event_id": event.event_id}])
    waited = client.call("WAIT_EVENTS", "wait_events", events_ptr=int(ffi.cast("uintptr_t", data)), num_events=1,
                         timeout=5000)  # fmt: skip
    assert waited.wait_result == kfd.KFD_IOC_WAIT_RESULT_COMPLETE


def test_wait_reg_mem_blocks_its_queue_but_not_the_others(client: KFDClient, queue: QueueHarness) -> None:
    other = QueueHarness(client, COMPUTE)
    flag, _ = client.alloc(4096)
    queue.submit(*wait_reg_mem(flag, 3), *release_mem(flag + 8, 1))
    other.submit(*release_mem(flag + 16, 2))
    assert other.wait() == "active" and client.host(flag + 16, "uint64_t")[0] == 2
    time.sleep(0.02)
    assert queue.read_pointer == 0 and client.host(flag + 8, "uint64_t")[0] == 0
    client.host(flag, "uint32_t")[0] = 3
    assert queue.wait() == "active" and client.host(flag + 8, "uint64_t")[0] == 1


def test_hdp_flush_acquire_mem_and_padding_nops(client: KFDClient, queue: QueueHarness) -> None:
    signal, _ = client.alloc(4096)
    hdp = pm4.WAIT_REG_MEM_FUNCTION(3) | pm4.WAIT_REG_MEM_MEM_SPACE(0) | pm4.WAIT_REG_MEM_OPERATION(1)
    request, done = (NBIO_BASE[getattr(nbio, f"{reg}_BASE_IDX")] + getattr(nbio, reg)
                     for reg in ("regBIF_BX_PF0_GPU_HDP_FLUSH_REQ", "regBIF_BX_PF0_GPU_HDP_FLUSH_DONE"))  # fmt: skip
    queue.submit(pm4.PACKET3(pm4.PACKET3_WAIT_REG_MEM, 5), hdp, request, done, 1, 1, 0x20,
                 pm4.PACKET3(pm4.PACKET3_ACQUIRE_MEM, 6), 0, 0xFFFFFFFF, 0xFFFFFF, 0, 0, 10, 0,
                 pm4.PACKET3(pm4.PACKET3_NOP, 0x3FFF), pm4.PACKET3(pm4.PACKET3_NOP, 1), 0, 0,
                 *release_mem(signal, 5))  # fmt: skip
    assert queue.wait() == "active" and client.host(signal, "uint64_t")[0] == 5


def test_the_ring_wraps_and_indirect_buffers_run(client: KFDClient) -> None:
    queue = QueueHarness(client, COMPUTE, ring_size=1024)
    signal, _ = client.alloc(4096)
    indirect, _ = client.alloc(4096)
    body = release_mem(signal + 8, 99)
    for i, dword in enumerate(body):
        client.host(indirect, "uint32_t")[i] = dword & 0xFFFFFFFF
    for value in range(1, 40):  # 40 x 8 dwords: more than a 256-dword ring
        queue.submit(*release_mem(signal, value))
        assert queue.wait() == "active"
    queue.submit(pm4.PACKET3(pm4.PACKET3_INDIRECT_BUFFER, 2), indirect & 0xFFFFFFFF, indirect >> 32,
                 len(body) | pm4.INDIRECT_BUFFER_VALID)  # fmt: skip
    assert queue.wait() == "active"
    deadline = time.monotonic() + 5
    while client.host(signal + 8, "uint64_t")[0] != 99 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert client.host(signal, "uint64_t")[0] == 39 and client.host(signal + 8, "uint64_t")[0] == 99


def test_dispatch_direct_runs_the_kernel(client: KFDClient, queue: QueueHarness) -> None:
    out, _ = client.alloc(4 * 256)
    signal, _ = client.alloc(4096)
    queue.submit(*dispatch(client, TWICE, "twice", out, 4), *release_mem(signal, 1))
    assert queue.wait(60) == "active" and client.host(signal, "uint64_t")[0] == 1
    result = np.frombuffer(host_bytes(out, 4 * 256), np.uint32)
    np.testing.assert_array_equal(result, np.arange(256, dtype=np.uint32) * 2)


def exception_event(client: KFDClient, event_type: int) -> tuple[int, object]:
    event = client.call("CREATE_EVENT", "create_event", event_type=event_type, auto_reset=1)
    data = ffi.new("struct kfd_event_data[1]", [{"event_id": event.event_id}])
    return event.event_id, data


def wait_exception(client: KFDClient, data) -> int:
    return client.call("WAIT_EVENTS", "wait_events", events_ptr=int(ffi.cast("uintptr_t", data)), num_events=1,
                       timeout=5000).wait_result  # fmt: skip


@pytest.mark.parametrize(
    ("packets", "message"),
    [
        ([pm4.PACKET3(0x01, 0), 0], "unknown PM4 opcode 0x01"),
        (release_mem(0, 0)[:1] + [0] * 5, "announced only 6 more dwords"),  # the doorbell cuts the packet
        ([pm4.PACKET3(pm4.PACKET3_RELEASE_MEM, 5), 0, 0, 0, 0, 0, 0], "has 6 body dwords, expected 7"),
        (
            [pm4.PACKET3(pm4.PACKET3_RELEASE_MEM, 6), 0, pm4.PACKET3_RELEASE_MEM_DATA_SEL(1), 0, 0, 0, 0, 0],
            "EVENT_INDEX 0 is reserved",
        ),
        ([pm4.PACKET3(pm4.PACKET3_SET_SH_REG, 2), 0x3FF, 1, 2], "leaves the SH register range"),
        ([pm4.PACKET3(pm4.PACKET3_WAIT_REG_MEM, 5), 7, 0, 0, 0, 0, 0], "FUNCTION 7"),
        ([0x0000_1234], "type-0 packet"),
        ([pm4.PACKET3(pm4.PACKET3_DISPATCH_DIRECT, 3), 1, 1, 1, COMPUTE_SHADER_EN], "wave64 dispatches"),
        (
            [*set_sh_reg("COMPUTE_START_X", 2), pm4.PACKET3(pm4.PACKET3_DISPATCH_DIRECT, 3), 1, 1, 1, WAVE32],
            "COMPUTE_START",
        ),
    ],
)
def test_malformed_packets_stop_the_queue_with_a_hardware_exception(
    client: KFDClient, queue: QueueHarness, packets: list[int], message: str
) -> None:
    _, data = exception_event(client, kfd.KFD_IOC_EVENT_HW_EXCEPTION)
    queue.submit(*packets)
    assert queue.wait() == "faulted"
    assert message in queue.queue.fault
    assert wait_exception(client, data) == kfd.KFD_IOC_WAIT_RESULT_COMPLETE
    assert data[0].hw_exception_data.gpu_id == client.gpu_id


def test_a_page_fault_reports_the_page_in_a_memory_exception(client: KFDClient, queue: QueueHarness) -> None:
    _, data = exception_event(client, kfd.KFD_IOC_EVENT_MEMORY)
    queue.submit(*release_mem(0x7654_3210_8, 1))
    assert queue.wait() == "faulted" and "0x765432108" in queue.queue.fault
    assert wait_exception(client, data) == kfd.KFD_IOC_WAIT_RESULT_COMPLETE
    exception = data[0].memory_exception_data
    assert exception.va == 0x7654_3210_8 & ~0xFFF and exception.failure.NotPresent == 1


def test_a_kernel_past_its_instruction_budget_hangs_its_queue(client: KFDClient, queue: QueueHarness) -> None:
    flag, _ = client.alloc(4096)
    signal, _ = client.alloc(4096)
    queue.submit(*dispatch(client, SPIN, "spin", flag, 1), *release_mem(signal, 1))
    assert queue.wait(60) == "hung" and "budget" in queue.queue.fault
    assert client.host(signal, "uint64_t")[0] == 0
