"""amd:0 end to end on the simulated gfx1100 (tests/sim): kernels, copies, faults, hangs, refusals."""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator

import numpy as np
import pytest

import tinyhw
from tests.sim.amd.fault_kernels import SPIN, STORE_TO
from tests.sim.amd.os import SimulatedOS
from tinyhw.errors import CompileError, DeviceFault, DeviceHang, PluginError
from tinyhw.testing.support import download, upload
from tinyhw_amd.device import AMDDevice
from tinyhw_amd.kfd import KFDMemory
from tinyhw_amd.memory import Ring
from tinyhw_amd.pm4 import ComputeQueue
from tinyhw_amd.topology import gpu_nodes

IDS = "".join(f"declare i32 @llvm.amdgcn.{kind}.id.{axis}()\n" for kind in ("workgroup", "workitem") for axis in "xyz")

SAXPY = """
define amdgpu_kernel void @saxpy(ptr addrspace(1) %x, ptr addrspace(1) %y, float %a, i32 %n)
    "amdgpu-flat-work-group-size"="1,256" {
  %g = call i32 @llvm.amdgcn.workgroup.id.x()
  %l = call i32 @llvm.amdgcn.workitem.id.x()
  %base = mul i32 %g, 64
  %i32 = add i32 %base, %l
  %inside = icmp ult i32 %i32, %n
  br i1 %inside, label %body, label %done
body:
  %i = zext i32 %i32 to i64
  %px = getelementptr inbounds float, ptr addrspace(1) %x, i64 %i
  %py = getelementptr inbounds float, ptr addrspace(1) %y, i64 %i
  %vx = load float, ptr addrspace(1) %px
  %vy = load float, ptr addrspace(1) %py
  %ax = fmul float %a, %vx
  %r = fadd float %ax, %vy
  store float %r, ptr addrspace(1) %py
  br label %done
done:
  ret void
}
"""

GRID = """
define amdgpu_kernel void @grid(ptr addrspace(1) %out) "amdgpu-flat-work-group-size"="1,256" {
  %gx = call i32 @llvm.amdgcn.workgroup.id.x()
  %gy = call i32 @llvm.amdgcn.workgroup.id.y()
  %lx = call i32 @llvm.amdgcn.workitem.id.x()
  %ly = call i32 @llvm.amdgcn.workitem.id.y()
  %x0 = mul i32 %gx, 8
  %x = add i32 %x0, %lx
  %y0 = mul i32 %gy, 4
  %y = add i32 %y0, %ly
  %row = mul i32 %y, 24
  %i32 = add i32 %row, %x
  %i = zext i32 %i32 to i64
  %p = getelementptr inbounds i32, ptr addrspace(1) %out, i64 %i
  store i32 %i32, ptr addrspace(1) %p
  ret void
}
"""

WORKGROUP_SIZE = """
declare ptr addrspace(4) @llvm.amdgcn.dispatch.ptr()
define amdgpu_kernel void @workgroup_size(ptr addrspace(1) %out) {
  %packet = call ptr addrspace(4) @llvm.amdgcn.dispatch.ptr()
  %px = getelementptr inbounds i8, ptr addrspace(4) %packet, i64 4
  %py = getelementptr inbounds i8, ptr addrspace(4) %packet, i64 6
  %pg = getelementptr inbounds i8, ptr addrspace(4) %packet, i64 12
  %x = load i16, ptr addrspace(4) %px
  %y = load i16, ptr addrspace(4) %py
  %grid = load i32, ptr addrspace(4) %pg
  %x32 = zext i16 %x to i32
  %y32 = zext i16 %y to i32
  store i32 %x32, ptr addrspace(1) %out
  %o1 = getelementptr inbounds i32, ptr addrspace(1) %out, i64 1
  store i32 %y32, ptr addrspace(1) %o1
  %o2 = getelementptr inbounds i32, ptr addrspace(1) %out, i64 2
  store i32 %grid, ptr addrspace(1) %o2
  ret void
}
"""

LDS_SUM = """
@tmp = internal addrspace(3) global [64 x i32] undef, align 4
declare void @llvm.amdgcn.s.barrier()
define amdgpu_kernel void @lds_sum(ptr addrspace(1) %out) "amdgpu-flat-work-group-size"="64,64" {
entry:
  %g = call i32 @llvm.amdgcn.workgroup.id.x()
  %l = call i32 @llvm.amdgcn.workitem.id.x()
  %gl = mul i32 %g, 100
  %v = add i32 %gl, %l
  %slot = getelementptr inbounds [64 x i32], ptr addrspace(3) @tmp, i32 0, i32 %l
  store i32 %v, ptr addrspace(3) %slot
  fence syncscope("workgroup") release
  call void @llvm.amdgcn.s.barrier()
  fence syncscope("workgroup") acquire
  %first = icmp eq i32 %l, 0
  br i1 %first, label %sum, label %done
sum:
  %i = phi i32 [ 0, %entry ], [ %next, %sum ]
  %acc = phi i32 [ 0, %entry ], [ %total, %sum ]
  %p = getelementptr inbounds [64 x i32], ptr addrspace(3) @tmp, i32 0, i32 %i
  %x = load i32, ptr addrspace(3) %p
  %total = add i32 %acc, %x
  %next = add i32 %i, 1
  %more = icmp ult i32 %next, 64
  br i1 %more, label %sum, label %write
write:
  %o = getelementptr inbounds i32, ptr addrspace(1) %out, i32 %g
  store i32 %total, ptr addrspace(1) %o
  br label %done
done:
  ret void
}
"""

SCRATCH = """
define amdgpu_kernel void @scratch(ptr addrspace(1) %out) "amdgpu-flat-work-group-size"="32,32" {
entry:
  %values = alloca [40 x i32], align 4, addrspace(5)
  %lane = call i32 @llvm.amdgcn.workitem.id.x()
  %group = call i32 @llvm.amdgcn.workgroup.id.x()
  br label %fill
fill:
  %i = phi i32 [ 0, %entry ], [ %i.next, %fill ]
  %v = add i32 %lane, %i
  %slot = getelementptr inbounds [40 x i32], ptr addrspace(5) %values, i32 0, i32 %i
  store volatile i32 %v, ptr addrspace(5) %slot
  %i.next = add i32 %i, 1
  %filling = icmp ult i32 %i.next, 40
  br i1 %filling, label %fill, label %sum
sum:
  %j = phi i32 [ 0, %fill ], [ %j.next, %sum ]
  %acc = phi i32 [ 0, %fill ], [ %total, %sum ]
  %back = sub i32 39, %j
  %p = getelementptr inbounds [40 x i32], ptr addrspace(5) %values, i32 0, i32 %back
  %x = load volatile i32, ptr addrspace(5) %p
  %total = add i32 %acc, %x
  %j.next = add i32 %j, 1
  %summing = icmp ult i32 %j.next, 40
  br i1 %summing, label %sum, label %write
write:
  %g32 = mul i32 %group, 32
  %index = add i32 %g32, %lane
  %o = getelementptr inbounds i32, ptr addrspace(1) %out, i32 %index
  store i32 %total, ptr addrspace(1) %o
  ret void
}
"""


@pytest.fixture
def amd() -> Iterator[tinyhw.Device]:
    """A freshly opened amd:0 (the simulated gfx1100), closed after the test."""
    device = tinyhw.Device("amd:0")
    yield device
    device.close()


def test_the_device_describes_the_gpu(amd):
    info = amd.info
    assert info.target == "gfx1100" and info.compute_units > 0 and info.memory > 0
    assert info.details["family"] == "RDNA3"


def test_saxpy_matches_numpy(amd):
    n = 1000
    x, y = np.linspace(-3, 3, n, dtype=np.float32), np.arange(n, dtype=np.float32)
    bx, by = upload(amd, x), upload(amd, y)
    kernel = amd.compile(IDS + SAXPY)
    assert kernel.signature == "saxpy(buffer x, buffer y, float32 a, int32 n)"
    amd.launch(kernel, bx, by, 2.5, n, global_size=(n + 63) // 64, local_size=64)
    np.testing.assert_array_equal(download(amd, by, "float32"), np.float32(2.5) * x + y)


def test_two_dimensional_workgroups_cover_the_grid_once(amd):
    out = amd.allocate(24 * 8 * 4)
    amd.launch(amd.compile(IDS + GRID), out, global_size=(3, 2), local_size=(8, 4))
    np.testing.assert_array_equal(download(amd, out, "int32"), np.arange(24 * 8, dtype=np.int32))


def test_kernels_reading_the_dispatch_packet_see_their_launch(amd):
    out = amd.allocate(12)
    amd.launch(amd.compile(WORKGROUP_SIZE), out, global_size=(5, 2), local_size=(16, 2))
    assert download(amd, out, "uint32").tolist() == [16, 2, 5 * 16]


def test_workgroups_share_local_memory(amd):
    out = amd.allocate(3 * 4)
    amd.launch(amd.compile(IDS + LDS_SUM), out, global_size=3, local_size=64)
    assert download(amd, out, "int32").tolist() == [64 * 100 * g + sum(range(64)) for g in range(3)]


def test_device_to_device_copies_run_on_the_copy_engine(amd):
    data = np.arange(300_000, dtype=np.uint32)
    a, b = upload(amd, data), amd.allocate(data.nbytes)
    amd.copy(b, a)
    np.testing.assert_array_equal(download(amd, b, "uint32"), data)


def test_a_gpu_page_fault_is_a_device_fault_naming_the_address(amd):
    amd.launch(amd.compile(STORE_TO), 0x7A5A_0000_1000)
    with pytest.raises(DeviceFault, match="amd:0: GPU page fault at address 0x7a5a00001000"):
        amd.sync()
    with pytest.raises(DeviceFault):  # the device stays failed
        amd.allocate(16)


def test_a_malformed_command_packet_is_a_device_fault_not_a_hang(amd, monkeypatch):
    monkeypatch.setenv("TINYHW_WAIT_TIMEOUT_MS", "20000")  # a fault must be reported long before this
    device = amd.impl
    value = device.next_timeline_value("compute")
    queue = ComputeQueue().wait(device.timeline, value - 1)
    queue._packet(0x7F, 0)  # no PM4 opcode 0x7f: the command processor stops the queue
    queue.signal(device.timeline, value).submit(device)
    start = time.monotonic()
    with pytest.raises(DeviceFault, match="amd:0: the GPU stopped and reset a queue"):
        amd.sync()
    assert time.monotonic() - start < 10


def test_the_compute_queue_flushes_the_hdp_at_the_nbio_registers_ip_discovery_lists(amd):
    assert amd.impl.compute_queue_type.hdp_flush_registers == (0xD20 + 0x106, 0xD20 + 0x107)  # NBIF segment 2


def test_an_hdp_flush_at_the_wrong_nbio_registers_is_a_device_fault(amd):
    device = amd.impl
    value = device.next_timeline_value("compute")
    wrong_base = ComputeQueue.for_nbio((0x0, 0x14, 0xD00, 0x10400, 0x241B000, 0x4040000))
    wrong_base().wait(device.timeline, value - 1).memory_barrier().signal(device.timeline, value).submit(device)
    with pytest.raises(DeviceFault, match="amd:0: the GPU stopped and reset a queue"):
        amd.sync()


def test_opening_a_gpu_without_ip_discovery_in_sysfs_fails_with_the_file_and_releases_kfd():
    machine = SimulatedOS()
    path = "/sys/class/drm/renderD128/device/ip_discovery/die/0/NBIF/0/base_addr"
    del machine.topology.files[path]
    (node,) = gpu_nodes(machine)
    with pytest.raises(PluginError, match=path):
        AMDDevice(node, "amd:0", machine)
    assert machine.process is None  # /dev/kfd was closed again


def test_a_kernel_that_never_ends_is_a_device_hang(amd, monkeypatch):
    monkeypatch.setenv("TINYHW_WAIT_TIMEOUT_MS", "3000")
    flag = amd.allocate(4)
    amd.launch(amd.compile(SPIN), flag)
    with pytest.raises(DeviceHang, match="amd:0.*compute queue"):
        amd.sync()


def test_private_arrays_live_in_scratch_memory(amd):
    out = amd.allocate(4 * 64)
    amd.launch(amd.compile(IDS + SCRATCH), out, global_size=2, local_size=32)
    expected = [sum(range(lane % 32, lane % 32 + 40)) for lane in range(64)]
    assert download(amd, out, "int32").tolist() == expected


def test_parameters_the_abi_cannot_pass_are_compile_errors(amd):
    vector = "define amdgpu_kernel void @v(<4 x float> %x) {\n  ret void\n}\n"
    with pytest.raises(CompileError, match="parameter 0 has type <4 x float>"):
        amd.compile(vector)


def test_the_device_reopens_after_close():
    for _ in range(2):
        device = tinyhw.Device("amd:0")
        out = device.allocate(64)
        device.launch(device.compile(IDS + GRID.replace("mul i32 %y, 24", "mul i32 %y, 0")), out)
        device.sync()
        device.close()


def host_memory(size: int) -> tuple[KFDMemory, ctypes.Array]:
    backing = (ctypes.c_uint8 * size)()
    address = ctypes.addressof(backing)
    return KFDMemory(va=address, size=size, handle=0, flags=0, cpu_addr=address), backing


def test_ring_writes_wrap_at_the_end_and_publish_the_write_pointer_in_engine_units():
    (ring_memory, ring_bytes), (pointers, pointer_bytes) = host_memory(64), host_memory(4096)
    doorbell = ctypes.c_uint64()
    ring = Ring("test", ring_memory, pointers, ctypes.addressof(doorbell), unit=4)
    ring.write(list(range(1, 13)))  # 48 of 64 bytes
    ctypes.c_uint64.from_buffer(pointer_bytes, Ring.RPTR).value = 12  # the engine fetched everything
    ring.write([100, 101, 102, 103, 104, 105])  # 4 words to the end, 2 from the start
    words = np.frombuffer(bytes(ring_bytes), np.uint32)
    assert words[12:].tolist() == [100, 101, 102, 103] and words[:2].tolist() == [104, 105]
    assert doorbell.value == ctypes.c_uint64.from_buffer(pointer_bytes, Ring.WPTR).value == 18


def test_a_ring_the_engine_stops_reading_is_a_device_hang(monkeypatch):
    monkeypatch.setenv("TINYHW_WAIT_TIMEOUT_MS", "50")
    (memory, _ring), (pointers, _pointers), doorbell = host_memory(64), host_memory(4096), ctypes.c_uint64()
    ring = Ring("stuck", memory, pointers, ctypes.addressof(doorbell), unit=1)
    ring.write([0] * 12)
    with pytest.raises(DeviceHang, match="stuck ring: the engine stopped fetching commands"):
        ring.write([0] * 8)
