"""The KFD interface: one AMD GPU node driven through /dev/kfd and its DRM render node.

Everything goes through the OS-access seam (`tinyhw.hcq.os_access`): open, ioctl, mmap. The
ioctl argument structs come from the generated kfd_ioctl.h bindings (cffi, ABI mode). The model
is the one the ROCm thunk uses, done directly: GPU virtual addresses equal host addresses (a host
range is reserved with an anonymous mapping, the buffer object is placed at that address in the
GPU's VM, and host-visible memory is mapped there from the render node).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cffi

from tinyhw.errors import DeviceFault, DeviceNotFound, OutOfMemory, PluginError
from tinyhw.hcq import os_access as seam
from tinyhw_amd.autogen import kfd

__all__ = ["KFDInterface", "KFDMemory", "MIN_KFD_VERSION", "QueueBuffers", "context_save_sizes"]

ffi = cffi.FFI()
ffi.cdef(kfd.CDEF)

MIN_KFD_VERSION = (1, 9)
"""KFD 1.9 added the available-memory ioctl, the newest one this module uses."""

DOORBELL_SLICE = 2 * 4096
"""A process's doorbell frame on SOC15 and later: 2 pages, one 64-bit doorbell per queue."""

PAGE = 4096
_RW = seam.PROT_READ | seam.PROT_WRITE
_RESERVE = seam.MAP_PRIVATE | seam.MAP_ANONYMOUS | seam.MAP_NORESERVE


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


@dataclass(slots=True)
class KFDMemory:
    """One buffer object mapped into the GPU's VM at `va`; `cpu_addr` is its host mapping (0 if none)."""

    va: int
    size: int
    handle: int
    flags: int
    cpu_addr: int = 0


@dataclass(frozen=True, slots=True)
class QueueBuffers:
    """The memory KFD needs besides the ring to create a compute queue (eop and context-save area)."""

    eop: KFDMemory
    cwsr: KFDMemory
    cwsr_size: int
    ctl_stack_size: int


def context_save_sizes(properties: Mapping[str, int]) -> tuple[int, int, int, int]:
    """(ctx_save_restore_size, ctl_stack_size, debug_memory_size, eop_buffer_size) of a KFD node.

    KFD validates a compute queue's context save/restore (CWSR) area against sizes it derives
    from the node's properties (amdkfd kfd_queue.c); newer kernels also publish cwsr_size and
    ctl_stack_size in the topology, which win when present.
    """
    gfxv = properties["gfx_target_version"]
    cus = properties["simd_count"] // properties["simd_per_cu"] // max(properties.get("num_xcc", 1), 1)
    waves = cus * 32  # gfx10+: 32 waves per CU
    vgpr_bytes = 0x60000 if gfxv in (110000, 110001, 120000, 120001) else 0x40000
    wg_data = _align(cus * (vgpr_bytes + 0x4000 + 0x10000 + 0x1000), PAGE)  # VGPRs, SGPRs, LDS, HW registers
    ctl_stack = _align(40 + waves * 12 + 8, PAGE)  # context save area header + 12 bytes per wave
    ctl_stack = properties.get("ctl_stack_size") or ctl_stack
    cwsr = properties.get("cwsr_size") or ctl_stack + wg_data
    return cwsr, ctl_stack, _align(waves * 32, 64), 4096


class KFDInterface:
    """The KFD side of one GPU: memory, queues and fault events, for one process.

    Opening checks the KFD version, opens the node's render node and acquires its VM. Memory is
    allocated as buffer objects at reserved host addresses; queues are created on rings the
    caller allocated. `close` destroys what is left. Used by one device from one thread.
    """

    def __init__(self, gpu_id: int, render_minor: int, name: str, osa: seam.OSAccess | None = None) -> None:
        self.gpu_id, self.name, self.os = gpu_id, name, osa or seam.os_access()
        self._gpu_ids = ffi.new("uint32_t[1]", [gpu_id])
        self._doorbell_pages: dict[int, int] = {}
        self._fault_events: list[int] = []
        self._queues: set[int] = set()
        self.drm_fd = -1
        self.kfd_fd = self._open("/dev/kfd")
        try:
            self.version = self._check_version()
            self.drm_fd = self._open(f"/dev/dri/renderD{render_minor}")
            self._ioctl(kfd.AMDKFD_IOC_ACQUIRE_VM, "acquire_vm", drm_fd=self.drm_fd, gpu_id=gpu_id)
        except BaseException:
            self.close()
            raise

    # -- opening --

    def _open(self, path: str) -> int:
        try:
            return self.os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise DeviceNotFound(f"{self.name}: {path} does not exist: the amdgpu kernel driver is not loaded "
                                 "or was built without KFD (CONFIG_HSA_AMD); load it with `modprobe amdgpu`"
                                 ) from None  # fmt: skip
        except PermissionError as exc:
            raise PluginError(f"{self.name}: {exc}") from None

    def _check_version(self) -> tuple[int, int]:
        args = self._ioctl(kfd.AMDKFD_IOC_GET_VERSION, "get_version")
        version = (args.major_version, args.minor_version)
        if version[0] != MIN_KFD_VERSION[0] or version < MIN_KFD_VERSION:
            raise PluginError(f"{self.name}: the kernel's KFD interface is version {version[0]}.{version[1]}, "
                              f"tinyhw-amd needs {MIN_KFD_VERSION[0]}.{MIN_KFD_VERSION[1]} or newer: "
                              "update the kernel (or its amdgpu driver)")  # fmt: skip
        return version

    def _ioctl(self, request: int, struct: str, fd: int | None = None, **fields: int) -> Any:
        """Issue one KFD ioctl with `struct kfd_ioctl_<struct>_args` filled from `fields`; the updated args."""
        args = ffi.new(f"struct kfd_ioctl_{struct}_args *", fields)
        self.os.ioctl(self.kfd_fd if fd is None else fd, request, ffi.buffer(args))
        return args

    # -- memory --

    def alloc(self, size: int, flags: int, *, host_visible: bool = False, mmap_offset: int = 0) -> KFDMemory:
        """Allocate a buffer object of `size` bytes with KFD_IOC_ALLOC_MEM_FLAGS_* `flags` and map it to the GPU.

        host_visible: also map it at the same address on the host (VRAM needs the PUBLIC flag).
        mmap_offset: for USERPTR the host address of the memory, for DOORBELL its mmap offset.
        OutOfMemory names the size and the kind of memory.
        """
        size, flags = _align(size, PAGE), flags & 0xFFFFFFFF  # WRITABLE is (1 << 31), a negative C int
        userptr = flags & kfd.KFD_IOC_ALLOC_MEM_FLAGS_USERPTR
        va = mmap_offset if userptr else self._reserve(size)
        try:
            memory, offset = self._alloc_at(va, size, flags, mmap_offset)
        except BaseException:
            if not userptr:
                self.os.munmap(va, size)
            raise
        if userptr:
            memory.cpu_addr = va
        elif host_visible:  # the render node maps the buffer object at its mmap offset
            memory.cpu_addr = self.os.mmap(va, size, _RW, seam.MAP_SHARED | seam.MAP_FIXED, self.drm_fd, offset)
        return memory

    def _reserve(self, size: int) -> int:
        """A host address range of `size` bytes for a buffer object's GPU (and host) address."""
        try:
            return self.os.mmap(0, size, seam.PROT_NONE, _RESERVE, -1, 0)
        except OSError as exc:
            if exc.errno != errno.ENOMEM:
                raise
            raise OutOfMemory(f"{self.name}: cannot reserve {size} bytes of address space: {exc.strerror}") from None

    def _alloc_at(self, va: int, size: int, flags: int, mmap_offset: int) -> tuple[KFDMemory, int]:
        """Allocate a buffer object at `va` and map it to the GPU; the memory and its render-node mmap offset."""
        try:
            args = self._ioctl(kfd.AMDKFD_IOC_ALLOC_MEMORY_OF_GPU, "alloc_memory_of_gpu", va_addr=va, size=size,
                               mmap_offset=mmap_offset, gpu_id=self.gpu_id, flags=flags)  # fmt: skip
        except OSError as exc:
            if exc.errno == errno.ENOMEM:
                raise OutOfMemory(f"{self.name}: KFD cannot allocate {size} bytes of {_kind(flags)} memory") from None
            raise PluginError(f"{self.name}: allocating {size} bytes of {_kind(flags)} memory failed: {exc}") from None
        memory = KFDMemory(va=va, size=size, handle=args.handle, flags=flags)
        try:
            self._ioctl(kfd.AMDKFD_IOC_MAP_MEMORY_TO_GPU, "map_memory_to_gpu", handle=args.handle,
                        device_ids_array_ptr=int(ffi.cast("uintptr_t", self._gpu_ids)), n_devices=1)  # fmt: skip
        except OSError as exc:
            self._ioctl(kfd.AMDKFD_IOC_FREE_MEMORY_OF_GPU, "free_memory_of_gpu", handle=args.handle)
            if exc.errno == errno.ENOMEM:
                raise OutOfMemory(f"{self.name}: no GPU address space left to map {size} bytes") from None
            raise PluginError(f"{self.name}: mapping {size} bytes of {_kind(flags)} memory failed: {exc}") from None
        return memory, args.mmap_offset

    def free(self, memory: KFDMemory) -> None:
        """Unmap `memory` from the GPU, free it, and release its host address range."""
        self._ioctl(kfd.AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU, "unmap_memory_from_gpu", handle=memory.handle,
                    device_ids_array_ptr=int(ffi.cast("uintptr_t", self._gpu_ids)), n_devices=1)  # fmt: skip
        self._ioctl(kfd.AMDKFD_IOC_FREE_MEMORY_OF_GPU, "free_memory_of_gpu", handle=memory.handle)
        if not memory.flags & kfd.KFD_IOC_ALLOC_MEM_FLAGS_USERPTR:
            self.os.munmap(memory.va, memory.size)

    def available_memory(self) -> int:
        """Bytes of VRAM this process may still allocate."""
        return self._ioctl(kfd.AMDKFD_IOC_AVAILABLE_MEMORY, "get_available_memory", gpu_id=self.gpu_id).available

    # -- queues --

    def create_queue(self, queue_type: int, ring: KFDMemory, rptr_va: int, wptr_va: int,
                     buffers: QueueBuffers | None = None) -> tuple[int, int]:  # fmt: skip
        """Create a user queue of KFD_IOC_QUEUE_TYPE_* `queue_type` on `ring`.

        rptr_va, wptr_va: where the engine reports its read pointer and reads the write pointer
        (both in one mapped page). buffers: the EOP buffer and CWSR area a compute queue needs.
        Returns (queue_id, host address of the queue's 64-bit doorbell).
        """
        extra = {}
        if buffers is not None:
            extra = {"eop_buffer_address": buffers.eop.va, "eop_buffer_size": buffers.eop.size,
                     "ctx_save_restore_address": buffers.cwsr.va, "ctx_save_restore_size": buffers.cwsr_size,
                     "ctl_stack_size": buffers.ctl_stack_size}  # fmt: skip
        try:
            args = self._ioctl(kfd.AMDKFD_IOC_CREATE_QUEUE, "create_queue", ring_base_address=ring.va,
                               ring_size=ring.size, gpu_id=self.gpu_id, queue_type=queue_type,
                               queue_percentage=kfd.KFD_MAX_QUEUE_PERCENTAGE, queue_priority=7,
                               write_pointer_address=wptr_va, read_pointer_address=rptr_va, **extra)  # fmt: skip
        except OSError as exc:
            raise PluginError(f"{self.name}: KFD refused to create a queue (type {queue_type}): {exc}") from None
        self._queues.add(args.queue_id)
        return args.queue_id, self._doorbell(args.doorbell_offset)

    def _doorbell(self, doorbell_offset: int) -> int:
        """Host address of a doorbell: the process's doorbell frame is mapped once from /dev/kfd."""
        base = doorbell_offset & ~(DOORBELL_SLICE - 1)
        if base not in self._doorbell_pages:
            self._doorbell_pages[base] = self.os.mmap(0, DOORBELL_SLICE, _RW, seam.MAP_SHARED, self.kfd_fd, base)
        return self._doorbell_pages[base] + (doorbell_offset & (DOORBELL_SLICE - 1))

    def destroy_queue(self, queue_id: int) -> None:
        """Destroy a queue made by `create_queue`; the engine stops reading its ring."""
        self._queues.discard(queue_id)
        self._ioctl(kfd.AMDKFD_IOC_DESTROY_QUEUE, "destroy_queue", queue_id=queue_id)

    # -- fault events --

    def check_fault(self) -> DeviceFault | None:
        """A DeviceFault if KFD reported that the GPU faulted, else None: a memory exception names the
        faulting address; a hardware exception means the GPU stopped a queue (a malformed packet, an
        illegal instruction) and reset it.

        Polls (timeout 0) one KFD_IOC_EVENT_MEMORY and one KFD_IOC_EVENT_HW_EXCEPTION event, created
        on the first call (KFD signals only events that exist: devices call this once when they open).
        """
        if not self._fault_events:
            self._fault_events = [self._ioctl(kfd.AMDKFD_IOC_CREATE_EVENT, "create_event", event_type=kind,
                                              auto_reset=1, node_id=0).event_id
                                  for kind in (kfd.KFD_IOC_EVENT_MEMORY, kfd.KFD_IOC_EVENT_HW_EXCEPTION)]  # fmt: skip
        memory_event, hardware_event = self._fault_events
        if (data := self._poll_event(memory_event)) is not None:
            exception = data.memory_exception_data
            failure = exception.failure
            why = ("page not present" if failure.NotPresent else "write to a read-only page" if failure.ReadOnly
                   else "execute on a no-execute page" if failure.NoExecute else "memory error")  # fmt: skip
            where = " (imprecise)" if failure.imprecise else ""
            return DeviceFault(f"{self.name}: GPU page fault at address {exception.va:#x}{where}: {why}")
        if (data := self._poll_event(hardware_event)) is not None:
            exception = data.hw_exception_data
            return DeviceFault(f"{self.name}: the GPU stopped and reset a queue (KFD hardware exception, reset type "
                               f"{exception.reset_type}, cause {exception.reset_cause}): a malformed command packet "
                               "or an illegal instruction")  # fmt: skip
        return None

    def _poll_event(self, event_id: int) -> Any:
        """The event's data if KFD signalled it (the wait does not block), else None."""
        data = ffi.new("struct kfd_event_data *", {"event_id": event_id})
        args = self._ioctl(kfd.AMDKFD_IOC_WAIT_EVENTS, "wait_events", events_ptr=int(ffi.cast("uintptr_t", data)),
                           num_events=1, wait_for_all=1, timeout=0)  # fmt: skip
        return data if args.wait_result == kfd.KFD_IOC_WAIT_RESULT_COMPLETE else None

    def close(self) -> None:
        """Destroy remaining queues and the fault events, unmap doorbells, close the device files."""
        for queue_id in list(self._queues):
            self.destroy_queue(queue_id)
        for event_id in self._fault_events:
            self._ioctl(kfd.AMDKFD_IOC_DESTROY_EVENT, "destroy_event", event_id=event_id)
        self._fault_events = []
        for address in self._doorbell_pages.values():
            self.os.munmap(address, DOORBELL_SLICE)
        self._doorbell_pages = {}
        for fd in (self.drm_fd, self.kfd_fd):
            if fd >= 0:
                self.os.close(fd)
        self.drm_fd = self.kfd_fd = -1


def _kind(flags: int) -> str:
    for name in ("VRAM", "GTT", "USERPTR", "DOORBELL", "MMIO_REMAP"):
        if flags & getattr(kfd, f"KFD_IOC_ALLOC_MEM_FLAGS_{name}"):
            return name.lower() if name != "VRAM" else "VRAM"
    return "device"
