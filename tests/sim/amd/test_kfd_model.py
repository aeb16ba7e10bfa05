"""The simulated KFD answers ioctls, topology reads and mmaps as the amdgpu kernel driver would."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from tests.sim.amd.conftest import KFDClient, host_bytes
from tests.sim.amd.kfd import DOORBELL_SLICE, ffi
from tests.sim.amd.os import SimulatedOS
from tests.sim.amd.topology import GFX1100
from tinyhw.hcq.os_access import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE
from tinyhw_amd.autogen import kfd

NODES = "/sys/devices/virtual/kfd/kfd/topology/nodes"


def properties(text: str) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in text.splitlines())}


def test_topology_has_a_cpu_node_and_a_gfx1100_node() -> None:
    sim = SimulatedOS()
    assert sim.list_dir(NODES) == ["0", "1"]
    gpu = properties(sim.read_text(f"{NODES}/1/properties"))
    assert gpu["gfx_target_version"] == 110000 and gpu["wave_front_size"] == 32 and gpu["drm_render_minor"] == 128
    assert gpu["simd_count"] == gpu["array_count"] * gpu["cu_per_simd_array"] * gpu["simd_per_cu"]
    assert int(sim.read_text(f"{NODES}/1/gpu_id")) == GFX1100.gpu_id and int(sim.read_text(f"{NODES}/0/gpu_id")) == 0
    bank = properties(sim.read_text(f"{NODES}/1/mem_banks/0/properties"))
    assert bank["size_in_bytes"] == GFX1100.vram_size
    assert sim.read_text("/sys/class/kfd/kfd/topology/nodes/1/gpu_id") == sim.read_text(f"{NODES}/1/gpu_id")
    assert sim.exists("/dev/kfd") and sim.list_dir("/dev/dri") == ["renderD128"] and not sim.exists(f"{NODES}/2")


def test_unknown_paths_and_fds_fail_as_linux_does() -> None:
    sim = SimulatedOS()
    with pytest.raises(FileNotFoundError):
        sim.read_text(f"{NODES}/7/properties")
    with pytest.raises(FileNotFoundError):
        sim.open("/dev/dri/renderD129", os.O_RDWR)
    with pytest.raises(IsADirectoryError):
        sim.read_text(NODES)
    with pytest.raises(OSError) as bad_fd:
        sim.ioctl(4242, kfd.AMDKFD_IOC_GET_VERSION, bytearray(8))
    assert bad_fd.value.errno == errno.EBADF
    render = sim.open("/dev/dri/renderD128", os.O_RDWR)
    with pytest.raises(OSError) as not_kfd:
        sim.ioctl(render, kfd.AMDKFD_IOC_GET_VERSION, bytearray(8))
    assert not_kfd.value.errno == errno.ENOTTY
    sim.close(render)
    with pytest.raises(OSError) as closed:
        sim.close(render)
    assert closed.value.errno == errno.EBADF


def test_version_and_apertures(client: KFDClient) -> None:
    version = client.call("GET_VERSION", "get_version")
    assert (version.major_version, version.minor_version) == (kfd.KFD_IOCTL_MAJOR_VERSION, kfd.KFD_IOCTL_MINOR_VERSION)
    count = client.call("GET_PROCESS_APERTURES_NEW", "get_process_apertures_new", num_of_nodes=0)
    assert count.num_of_nodes == 1
    apertures = ffi.new("struct kfd_process_device_apertures[1]")
    got = client.call("GET_PROCESS_APERTURES_NEW", "get_process_apertures_new", num_of_nodes=1,
                      kfd_process_device_apertures_ptr=int(ffi.cast("uintptr_t", apertures)))  # fmt: skip
    assert got.num_of_nodes == 1 and apertures[0].gpu_id == GFX1100.gpu_id
    assert apertures[0].gpuvm_base < apertures[0].gpuvm_limit and apertures[0].lds_base > apertures[0].gpuvm_limit


def test_a_wrong_ioctl_number_or_short_buffer_is_rejected(client: KFDClient) -> None:
    with pytest.raises(OSError) as unknown:
        client.os.ioctl(client.kfd, 0xC0084BFF, bytearray(8))
    assert unknown.value.errno == errno.ENOTTY
    with pytest.raises(OSError) as short:
        client.os.ioctl(client.kfd, kfd.AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, bytearray(16))
    assert short.value.errno == errno.EFAULT


def test_memory_needs_the_vm_and_a_render_node() -> None:
    sim = SimulatedOS()
    kfd_fd = sim.open("/dev/kfd", os.O_RDWR)
    args = ffi.new("struct kfd_ioctl_alloc_memory_of_gpu_args *", {"va_addr": 1 << 30, "size": 4096,
                   "gpu_id": GFX1100.gpu_id, "flags": kfd.KFD_IOC_ALLOC_MEM_FLAGS_GTT})  # fmt: skip
    with pytest.raises(OSError, match="ACQUIRE_VM") as no_vm:
        sim.ioctl(kfd_fd, kfd.AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, ffi.buffer(args))
    assert no_vm.value.errno == errno.EINVAL
    acquire = ffi.new("struct kfd_ioctl_acquire_vm_args *", {"drm_fd": kfd_fd, "gpu_id": GFX1100.gpu_id})
    with pytest.raises(OSError, match="not an open render node"):
        sim.ioctl(kfd_fd, kfd.AMDKFD_IOC_ACQUIRE_VM, ffi.buffer(acquire))
    sim.shutdown()


def test_host_and_gpu_share_the_bytes_of_an_object(client: KFDClient) -> None:
    for kind in ("VRAM", "GTT"):
        va, _ = client.alloc(1 << 16, kind)
        client.host(va, "uint32_t")[5] = 0xCAFEF00D
        assert client.gpu.read(va + 20, 4) == (0xCAFEF00D).to_bytes(4, "little")
        client.gpu.write(va + 0x8000, b"sim")
        assert host_bytes(va + 0x8000, 3) == b"sim"


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"size": 0}, errno.EINVAL, "size is 0"),
        ({"va_addr": (1 << 32) + 8}, errno.EINVAL, "page-aligned"),
        ({"flags": kfd.KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE}, errno.EINVAL, "no memory type"),
        ({"gpu_id": 1}, errno.EINVAL, "no GPU with gpu_id"),
        ({"size": GFX1100.vram_size + 4096}, errno.ENOMEM, "VRAM exhausted"),
        ({"flags": kfd.KFD_IOC_ALLOC_MEM_FLAGS_DOORBELL}, errno.EINVAL, "doorbell slice"),
    ],
)
def test_bad_allocations_fail_like_the_kernel(client: KFDClient, fields: dict, code: int, message: str) -> None:
    args = {"va_addr": 1 << 32, "size": 1 << 20, "gpu_id": client.gpu_id, "flags": kfd.KFD_IOC_ALLOC_MEM_FLAGS_VRAM}
    with pytest.raises(OSError, match=message) as error:
        client.call("ALLOC_MEMORY_OF_GPU", "alloc_memory_of_gpu", **(args | fields))
    assert error.value.errno == code


def test_vram_accounting_overlap_and_free(client: KFDClient) -> None:
    before = client.call("AVAILABLE_MEMORY", "get_available_memory", gpu_id=client.gpu_id).available
    va, handle = client.alloc(1 << 20, "VRAM")
    assert client.call("AVAILABLE_MEMORY", "get_available_memory", gpu_id=client.gpu_id).available == before - (1 << 20)
    with pytest.raises(OSError, match="overlaps"):
        client.call("ALLOC_MEMORY_OF_GPU", "alloc_memory_of_gpu", va_addr=va + 4096, size=4096, gpu_id=client.gpu_id,
                    flags=kfd.KFD_IOC_ALLOC_MEM_FLAGS_GTT)  # fmt: skip
    with pytest.raises(OSError, match="still mapped") as busy:
        client.call("FREE_MEMORY_OF_GPU", "free_memory_of_gpu", handle=handle)
    assert busy.value.errno == errno.EBUSY
    client.map(handle, "UNMAP_MEMORY_FROM_GPU", "unmap_memory_from_gpu")
    with pytest.raises(OSError, match="not mapped"):
        client.map(handle, "UNMAP_MEMORY_FROM_GPU", "unmap_memory_from_gpu")
    client.call("FREE_MEMORY_OF_GPU", "free_memory_of_gpu", handle=handle)
    assert client.call("AVAILABLE_MEMORY", "get_available_memory", gpu_id=client.gpu_id).available == before
    with pytest.raises(OSError, match="no memory object") as gone:
        client.call("FREE_MEMORY_OF_GPU", "free_memory_of_gpu", handle=handle)
    assert gone.value.errno == errno.EINVAL


def test_only_existing_objects_can_be_mapped_on_the_host(client: KFDClient) -> None:
    va, _ = client.alloc(8192, "GTT", map_gpu=False)
    with pytest.raises(OSError) as private:
        client.os.mmap(va, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, client.render, 0x100000 * 4096)
    assert private.value.errno == errno.EINVAL
    with pytest.raises(OSError) as nothing:
        client.os.mmap(0, 4096, PROT_READ, MAP_SHARED, client.render, 1 << 40)
    assert nothing.value.errno == errno.EACCES
    anonymous = client.os.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    client.host(anonymous, "uint8_t")[0] = 7
    client.os.munmap(anonymous, 4096)


def make_queue(client: KFDClient, queue_type: int = kfd.KFD_IOC_QUEUE_TYPE_COMPUTE, ring_size: int = 4096, **fields):
    ring, _ = client.alloc(ring_size)
    pointers, _ = client.alloc(4096)
    args = {"ring_base_address": ring, "ring_size": ring_size, "read_pointer_address": pointers,
            "write_pointer_address": pointers + 8, "gpu_id": client.gpu_id, "queue_type": queue_type,
            "queue_percentage": 100, "queue_priority": 7} | fields  # fmt: skip
    return client.call("CREATE_QUEUE", "create_queue", **args)


def test_queues_get_doorbells_in_the_process_slice(client: KFDClient) -> None:
    compute = make_queue(client)
    sdma = make_queue(client, kfd.KFD_IOC_QUEUE_TYPE_SDMA)
    assert compute.queue_id != sdma.queue_id
    slots = {compute.doorbell_offset % DOORBELL_SLICE, sdma.doorbell_offset % DOORBELL_SLICE}
    assert len(slots) == 2 and all(slot % 8 == 0 for slot in slots)
    base = compute.doorbell_offset - compute.doorbell_offset % DOORBELL_SLICE
    assert base == sdma.doorbell_offset - sdma.doorbell_offset % DOORBELL_SLICE
    doorbells = client.os.mmap(0, DOORBELL_SLICE, PROT_READ | PROT_WRITE, MAP_SHARED, client.kfd, base)
    client.host(doorbells + compute.doorbell_offset % DOORBELL_SLICE, "uint64_t")[0] = 0
    client.call("DESTROY_QUEUE", "destroy_queue", queue_id=compute.queue_id)
    with pytest.raises(OSError, match="no queue") as again:
        client.call("DESTROY_QUEUE", "destroy_queue", queue_id=compute.queue_id)
    assert again.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ring_size": 3000}, "power of 2"),
        ({"ring_base_address": 1 << 40}, "not GPU-mapped"),
        ({"read_pointer_address": 1 << 40}, "read_pointer_address"),
        ({"queue_priority": 16}, "out of range"),
        ({"queue_type": kfd.KFD_IOC_QUEUE_TYPE_COMPUTE_AQL}, "only PM4 compute and SDMA"),
    ],
)
def test_bad_queues_are_rejected(client: KFDClient, fields: dict, message: str) -> None:
    with pytest.raises(OSError, match=message) as error:
        make_queue(client, **fields)
    assert error.value.errno == errno.EINVAL


def test_signal_events_set_and_wait(client: KFDClient) -> None:
    page, handle = client.alloc(0x8000)
    first = client.call("CREATE_EVENT", "create_event", event_type=kfd.KFD_IOC_EVENT_SIGNAL, auto_reset=1,
                        event_page_offset=handle)  # fmt: skip
    with pytest.raises(OSError, match="already set"):
        client.call("CREATE_EVENT", "create_event", event_type=kfd.KFD_IOC_EVENT_SIGNAL, event_page_offset=handle)
    data = ffi.new("struct kfd_event_data[1]")
    data[0].event_id = first.event_id

    def wait(timeout_ms: int) -> int:
        return client.call("WAIT_EVENTS", "wait_events", events_ptr=int(ffi.cast("uintptr_t", data)), num_events=1,
                           timeout=timeout_ms).wait_result  # fmt: skip

    assert wait(0) == kfd.KFD_IOC_WAIT_RESULT_TIMEOUT
    setter = threading.Timer(0.05, client.call, ("SET_EVENT", "set_event"), {"event_id": first.event_id})
    setter.start()
    assert wait(5000) == kfd.KFD_IOC_WAIT_RESULT_COMPLETE
    assert wait(0) == kfd.KFD_IOC_WAIT_RESULT_TIMEOUT  # auto-reset
    assert client.host(page, "uint64_t")[first.event_slot_index] == 0xFFFF_FFFF_FFFF_FFFF
    client.call("DESTROY_EVENT", "destroy_event", event_id=first.event_id)
    with pytest.raises(OSError, match="no event"):
        client.call("DESTROY_EVENT", "destroy_event", event_id=first.event_id)


def test_opens_of_kfd_share_the_process_until_the_last_closes() -> None:
    sim = SimulatedOS()
    client = KFDClient(sim)
    make_queue(client)
    client.alloc(1 << 20, "VRAM")
    second = sim.open("/dev/kfd", os.O_RDWR)
    assert sim.process is client.process
    available = ffi.new("struct kfd_ioctl_get_available_memory_args *", {"gpu_id": client.gpu_id})
    sim.ioctl(second, kfd.AMDKFD_IOC_AVAILABLE_MEMORY, ffi.buffer(available))
    assert available.available == GFX1100.vram_size - (1 << 20)
    thread = client.gpu._thread
    assert thread is not None and thread.is_alive()
    client.close()
    assert thread.is_alive() and sim.process is not None
    sim.close(second)
    assert not thread.is_alive() and sim.process is None
