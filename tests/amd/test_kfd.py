"""KFDInterface against a recording fake OS: the ioctls it issues (request numbers, argument structs) and its errors."""

from __future__ import annotations

import errno
from typing import Any

import cffi
import pytest

from tinyhw.errors import DeviceFault, DeviceNotFound, OutOfMemory, PluginError
from tinyhw.hcq import os_access as seam
from tinyhw_amd.autogen import kfd
from tinyhw_amd.kfd import KFDInterface, QueueBuffers, context_save_sizes

ffi = cffi.FFI()
ffi.cdef(kfd.CDEF)
STRUCTS = {getattr(kfd, name): f"struct kfd_ioctl_{struct}_args" for name, struct in [
    ("AMDKFD_IOC_GET_VERSION", "get_version"), ("AMDKFD_IOC_ACQUIRE_VM", "acquire_vm"),
    ("AMDKFD_IOC_ALLOC_MEMORY_OF_GPU", "alloc_memory_of_gpu"),
    ("AMDKFD_IOC_FREE_MEMORY_OF_GPU", "free_memory_of_gpu"), ("AMDKFD_IOC_MAP_MEMORY_TO_GPU", "map_memory_to_gpu"),
    ("AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU", "unmap_memory_from_gpu"),
    ("AMDKFD_IOC_CREATE_QUEUE", "create_queue"), ("AMDKFD_IOC_DESTROY_QUEUE", "destroy_queue"),
    ("AMDKFD_IOC_CREATE_EVENT", "create_event"), ("AMDKFD_IOC_DESTROY_EVENT", "destroy_event"),
    ("AMDKFD_IOC_WAIT_EVENTS", "wait_events"), ("AMDKFD_IOC_AVAILABLE_MEMORY", "get_available_memory")]}  # fmt: skip
GPU_ID, KFD_FD, DRM_FD = 0xB5E1, 3, 4
DOORBELL_OFFSET = (3 << 62) | (GPU_ID << 46) | 0x2000 * 5 + 0x18  # mmap type, gpu id, frame, queue slot


class RecordingOS(seam.OSAccess):
    """Answers KFD's ioctls like a kernel with one gfx1100, and records every call."""

    def __init__(self, version: tuple[int, int] = (1, 14), missing: tuple[str, ...] = ()) -> None:
        self.version, self.missing = version, missing
        self.calls: list[tuple] = []
        self.ioctls: list[tuple[str, dict[str, int]]] = []
        self.next_address, self.fault_at, self.vram_left = 0x7F00_0000_0000, None, 1 << 30

    def open(self, path: str, flags: int) -> int:
        if path in self.missing:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.calls.append(("open", path))
        return KFD_FD if path == "/dev/kfd" else DRM_FD

    def close(self, fd: int) -> None:
        self.calls.append(("close", fd))

    def ioctl(self, fd: int, request: int, arg: Any) -> int:
        struct = STRUCTS[request]
        args = ffi.from_buffer(f"{struct} *", arg)
        self.ioctls.append((struct.split("kfd_ioctl_")[1].removesuffix("_args"), _fields(args, struct)))
        assert fd == KFD_FD and len(arg) == ffi.sizeof(struct)
        if request == kfd.AMDKFD_IOC_GET_VERSION:
            args.major_version, args.minor_version = self.version
        elif request == kfd.AMDKFD_IOC_ALLOC_MEMORY_OF_GPU:
            if args.size > self.vram_left:
                raise OSError(errno.ENOMEM, "Cannot allocate memory")
            args.handle, args.mmap_offset = 0x100 + len(self.ioctls), 0x10_0000_0000 + len(self.ioctls) * 0x1000
        elif request in (kfd.AMDKFD_IOC_MAP_MEMORY_TO_GPU, kfd.AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU):
            assert ffi.cast("uint32_t *", args.device_ids_array_ptr)[0] == GPU_ID
            args.n_success = args.n_devices
        elif request == kfd.AMDKFD_IOC_CREATE_QUEUE:
            args.queue_id, args.doorbell_offset = 2, DOORBELL_OFFSET
        elif request == kfd.AMDKFD_IOC_CREATE_EVENT:
            args.event_id = 77
        elif request == kfd.AMDKFD_IOC_WAIT_EVENTS:
            event = ffi.cast("struct kfd_event_data *", args.events_ptr)
            assert event.event_id == 77
            args.wait_result = kfd.KFD_IOC_WAIT_RESULT_TIMEOUT
            if self.fault_at is not None:
                args.wait_result = kfd.KFD_IOC_WAIT_RESULT_COMPLETE
                event.memory_exception_data.va, event.memory_exception_data.failure.NotPresent = self.fault_at, 1
        elif request == kfd.AMDKFD_IOC_AVAILABLE_MEMORY:
            args.available = self.vram_left
        return 0

    def mmap(self, address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        self.calls.append(("mmap", address, length, prot, flags, fd, offset))
        if address:
            return address
        self.next_address += 1 << 32
        return self.next_address

    def munmap(self, address: int, length: int) -> None:
        self.calls.append(("munmap", address, length))

    def read_text(self, path: str) -> str:
        raise FileNotFoundError(path)

    def list_dir(self, path: str) -> list[str]:
        raise FileNotFoundError(path)

    def exists(self, path: str) -> bool:
        return False


def _fields(args: Any, struct: str) -> dict[str, int]:
    return {name: getattr(args, name) for name, kind in ffi.typeof(struct).fields if kind.type.kind == "primitive"}


def open_kfd(osa: RecordingOS) -> KFDInterface:
    return KFDInterface(GPU_ID, 128, "amd:0", osa)


def test_open_checks_the_version_then_acquires_the_vm_of_the_render_node():
    osa = RecordingOS()
    interface = open_kfd(osa)
    assert [c for c in osa.calls if c[0] == "open"] == [("open", "/dev/kfd"), ("open", "/dev/dri/renderD128")]
    assert osa.ioctls == [("get_version", {"major_version": 0, "minor_version": 0}),
                          ("acquire_vm", {"drm_fd": DRM_FD, "gpu_id": GPU_ID})]  # fmt: skip
    assert interface.version == (1, 14)
    interface.close()
    assert osa.calls[-2:] == [("close", DRM_FD), ("close", KFD_FD)]


def test_a_too_old_kfd_is_refused_with_what_to_do():
    osa = RecordingOS(version=(1, 5))
    with pytest.raises(PluginError, match=r"version 1\.5, tinyhw-amd needs 1\.9 or newer: update the kernel"):
        open_kfd(osa)
    assert ("close", KFD_FD) in osa.calls


def test_without_dev_kfd_the_error_says_to_load_amdgpu():
    with pytest.raises(DeviceNotFound, match="/dev/kfd does not exist.*modprobe amdgpu"):
        open_kfd(RecordingOS(missing=("/dev/kfd",)))


def test_permission_errors_name_the_groups_to_join():
    class Denied(RecordingOS):
        def open(self, path: str, flags: int) -> int:
            raise seam.DeviceAccessDenied(path, seam.GPU_GROUPS)

    with pytest.raises(PluginError, match="amd:0: permission denied opening /dev/kfd.*render and video"):
        open_kfd(Denied())


def test_vram_is_allocated_at_a_reserved_address_and_mapped_to_the_gpu():
    osa = RecordingOS()
    interface = open_kfd(osa)
    osa.calls.clear()
    flags = (kfd.KFD_IOC_ALLOC_MEM_FLAGS_VRAM | kfd.KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE) & 0xFFFFFFFF
    memory = interface.alloc(5000, flags)
    reserve = ("mmap", 0, 8192, seam.PROT_NONE, seam.MAP_PRIVATE | seam.MAP_ANONYMOUS | seam.MAP_NORESERVE, -1, 0)
    assert osa.calls == [reserve]  # VRAM is not mapped on the host
    (_, alloc), (_, mapping) = osa.ioctls[-2:]
    assert alloc | {"handle": 0, "mmap_offset": 0} == {"va_addr": memory.va, "size": 8192, "handle": 0,
                                                       "mmap_offset": 0, "gpu_id": GPU_ID, "flags": flags}  # fmt: skip
    assert mapping["handle"] == memory.handle and mapping["n_devices"] == 1
    assert memory.cpu_addr == 0
    interface.free(memory)
    assert [name for name, _ in osa.ioctls[-2:]] == ["unmap_memory_from_gpu", "free_memory_of_gpu"]
    assert osa.calls[-1] == ("munmap", memory.va, 8192)


def test_host_visible_memory_is_mapped_from_the_render_node_at_its_gpu_address():
    osa = RecordingOS()
    interface = open_kfd(osa)
    memory = interface.alloc(4096, kfd.KFD_IOC_ALLOC_MEM_FLAGS_GTT, host_visible=True)
    offset = next(args for name, args in reversed(osa.ioctls) if name == "alloc_memory_of_gpu")
    _, address, length, prot, flags, fd, mmap_offset = osa.calls[-1]
    assert (address, length, fd) == (memory.va, 4096, DRM_FD)
    assert prot == seam.PROT_READ | seam.PROT_WRITE and flags == seam.MAP_SHARED | seam.MAP_FIXED
    assert mmap_offset == 0x10_0000_0000 + 3 * 0x1000 and offset["va_addr"] == memory.va == memory.cpu_addr


def test_userptr_memory_is_the_callers_host_memory_at_its_own_address():
    osa = RecordingOS()
    interface = open_kfd(osa)
    osa.calls.clear()
    memory = interface.alloc(8192, kfd.KFD_IOC_ALLOC_MEM_FLAGS_USERPTR, mmap_offset=0x7F55_0000_0000)
    _, alloc = next(call for call in reversed(osa.ioctls) if call[0] == "alloc_memory_of_gpu")
    assert (alloc["va_addr"], alloc["mmap_offset"]) == (0x7F55_0000_0000, 0x7F55_0000_0000)
    assert memory.va == memory.cpu_addr == 0x7F55_0000_0000
    interface.free(memory)
    assert osa.calls == []  # nothing reserved, mapped or unmapped: the memory stays the caller's


def test_out_of_memory_names_the_size_and_releases_the_reservation():
    osa = RecordingOS()
    osa.vram_left = 1 << 20
    interface = open_kfd(osa)
    with pytest.raises(OutOfMemory, match="cannot allocate 2097152 bytes of VRAM"):
        interface.alloc(2 << 20, kfd.KFD_IOC_ALLOC_MEM_FLAGS_VRAM)
    assert osa.calls[-1][0] == "munmap"
    assert interface.available_memory() == 1 << 20


def test_compute_queue_creation_passes_ring_pointers_eop_and_cwsr_and_maps_the_doorbell():
    osa = RecordingOS()
    interface = open_kfd(osa)
    ring, eop, cwsr = (interface.alloc(n, kfd.KFD_IOC_ALLOC_MEM_FLAGS_GTT) for n in (65536, 4096, 1 << 20))
    buffers = QueueBuffers(eop=eop, cwsr=cwsr, cwsr_size=900_000, ctl_stack_size=40960)
    queue_id, doorbell = interface.create_queue(kfd.KFD_IOC_QUEUE_TYPE_COMPUTE, ring, 0x5000, 0x5008, buffers)
    _, args = next(call for call in osa.ioctls if call[0] == "create_queue")
    assert args | {"queue_id": 0, "doorbell_offset": 0} == {
        "ring_base_address": ring.va, "write_pointer_address": 0x5008, "read_pointer_address": 0x5000,
        "doorbell_offset": 0, "ring_size": 65536, "gpu_id": GPU_ID, "queue_type": kfd.KFD_IOC_QUEUE_TYPE_COMPUTE,
        "queue_percentage": 100, "queue_priority": 7, "queue_id": 0, "eop_buffer_address": eop.va,
        "eop_buffer_size": 4096, "ctx_save_restore_address": cwsr.va, "ctx_save_restore_size": 900_000,
        "ctl_stack_size": 40960}  # fmt: skip
    _, _, length, _, _, fd, offset = osa.calls[-1]
    assert (length, fd, offset) == (8192, KFD_FD, DOORBELL_OFFSET & ~0x1FFF)  # the process's 2-page doorbell frame
    assert queue_id == 2 and doorbell == osa.next_address + 0x18
    interface.close()
    assert ("destroy_queue", {"queue_id": 2, "pad": 0}) in osa.ioctls
    assert ("munmap", osa.next_address, 8192) in osa.calls


def test_a_gpu_memory_fault_becomes_a_device_fault_naming_the_address():
    osa = RecordingOS()
    interface = open_kfd(osa)
    assert interface.check_fault() is None
    create = next(args for name, args in osa.ioctls if name == "create_event")
    assert create["event_type"] == kfd.KFD_IOC_EVENT_MEMORY
    osa.fault_at = 0xDEAD_B000
    fault = interface.check_fault()
    assert isinstance(fault, DeviceFault) and "page fault at address 0xdeadb000" in str(fault)
    assert osa.ioctls[-1][1]["timeout"] == 0  # a poll, never a block


def test_context_save_area_sizes_follow_kfd_for_an_rx_7900_xtx():
    props = {"gfx_target_version": 110000, "simd_count": 192, "simd_per_cu": 2, "num_xcc": 1}
    cwsr, ctl_stack, debug, eop = context_save_sizes(props)
    waves = 96 * 32
    assert ctl_stack == 40960  # 40-byte header + 12 bytes per wave + 8, page aligned
    assert cwsr == ctl_stack + 96 * (0x60000 + 0x4000 + 0x10000 + 0x1000)  # VGPRs, SGPRs, LDS, HW regs per CU
    assert (debug, eop) == (waves * 32, 4096)
    assert context_save_sizes(props | {"cwsr_size": 123 << 12, "ctl_stack_size": 5 << 12})[:2] == (123 << 12, 5 << 12)
