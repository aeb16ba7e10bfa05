"""A model of the KFD ioctl interface (/dev/kfd) for one process and one simulated gfx1100.

Arguments are the real `struct kfd_ioctl_*_args` (cffi, from the generated kfd_ioctl.h bindings),
validated as amdgpu's kfd_chardev.c does: a wrong size, alignment, flag or handle fails with the
errno the kernel returns, so a plugin bug fails here instead of passing. Memory objects are backed
by real shared host memory (one memfd each, created sparse, so VRAM costs nothing until touched):
the simulated OS maps it where the plugin mmaps the render node or /dev/kfd, and the simulated GPU
maps it at the object's GPU virtual address, so both see the same bytes.

mmap offsets follow the kernel's encoding (kfd_priv.h): /dev/kfd offsets carry a type in bits 62-63
and the gpu_id in bits 46-61; render-node offsets are DRM's fake offsets, one range per object.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cffi

from tests.sim.amd.gpu import HardwareQueue, SimulatedGPU
from tests.sim.amd.pm4 import PM4Processor
from tests.sim.amd.sdma import SDMAProcessor
from tests.sim.amd.topology import GPUProperties
from tinyhw_amd.autogen import kfd

__all__ = ["HostMemory", "KFDProcess", "PAGE_SIZE", "DOORBELL_SLICE", "MMAP_TYPE_DOORBELL", "MMAP_TYPE_EVENTS",
           "MMAP_TYPE_MMIO"]  # fmt: skip

ffi = cffi.FFI()
ffi.cdef(kfd.CDEF)

PAGE_SIZE = 4096
DOORBELL_SLICE = 8 * 1024  # kfd_doorbell_process_slice: 1024 queues x 64-bit doorbells
MMAP_TYPE_SHIFT, MMAP_GPU_ID_SHIFT = 62, 46  # kfd_priv.h KFD_MMAP_TYPE_SHIFT / KFD_MMAP_GPU_ID_SHIFT
MMAP_TYPE_DOORBELL, MMAP_TYPE_EVENTS, MMAP_TYPE_MMIO = 3 << 62, 2 << 62, 0 << 62
DRM_FILE_PAGE_OFFSET = 0x100000 * PAGE_SIZE  # drm_vma_manager: fake offsets start at DRM_FILE_PAGE_OFFSET_START
GPUVM_BASE, GPUVM_LIMIT = PAGE_SIZE, (1 << 47) - 1  # kfd_init_apertures_v9 with a 48-bit VM
LDS_BASE, SCRATCH_BASE, APERTURE_SPAN = 1 << 48, 2 << 48, 0xFFFFFFFF  # MAKE_LDS_APP_BASE_V9 / SCRATCH_APP_BASE_V9
EVENT_TIMEOUT_INFINITE = 0xFFFFFFFF  # kfd_events.c KFD_EVENT_TIMEOUT_INFINITE
UNSIGNALED_EVENT_SLOT = 0xFFFF_FFFF_FFFF_FFFF
FIRST_NONSIGNAL_EVENT_ID = 0x80000000  # kfd_events.c KFD_FIRST_NONSIGNAL_EVENT_ID
INTERRUPT_EVENT_ID_BITS = 23  # kfd_int_process_v11: context_id0 & 0x7fffff names the event
MEMORY_TYPES = ("VRAM", "GTT", "USERPTR", "DOORBELL", "MMIO_REMAP")  # the kernel checks them in this order
MAX_SDMA_QUEUES = 12  # 2 engines x 6 queues (topology num_sdma_engines x num_sdma_queues_per_engine)
MAX_QUEUES = 1024  # KFD_MAX_NUM_OF_QUEUES_PER_PROCESS


def fail(code: int, message: str) -> OSError:
    """The OSError an ioctl returns with `code`; the message says what the simulated kernel rejected."""
    return OSError(code, f"{os.strerror(code)} (simulated KFD: {message})")


class HostMemory:
    """Shared host memory for one memory object: a sparse memfd, and a mapping of it the GPU reads through."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.fd = os.memfd_create(f"sim-amd-{name}", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self.view = mmap.mmap(self.fd, size)

    def close(self) -> None:
        """Release the memfd; mappings made from it stay valid until unmapped."""
        os.close(self.fd)


@dataclass
class Allocation:
    """One memory object (ALLOC_MEMORY_OF_GPU): where it lives and how it is mapped."""

    handle: int
    va: int
    size: int
    kind: str
    backing: object
    memory: HostMemory | None
    mmap_offset: int
    mapped: bool = False


@dataclass
class Event:
    """One KFD event: its type, auto-reset, signaled state and exception data (MEMORY / HW_EXCEPTION)."""

    event_id: int
    event_type: int
    auto_reset: bool
    signaled: bool = False
    data: bytes = b""


class KFDProcess:
    """The KFD state of one process: VM, memory objects, queues and events on one simulated GPU.

    `is_render_fd(fd)` tells whether an fd is this GPU's render node (for ACQUIRE_VM). Thread-safe:
    ioctls run under one lock, except that WAIT_EVENTS sleeps without holding it.
    """

    def __init__(self, props: GPUProperties, is_render_fd: Callable[[int], bool], budget: int) -> None:
        self.props = props
        self.is_render_fd = is_render_fd
        self.doorbells = HostMemory(DOORBELL_SLICE, "doorbells")
        self.gpu = SimulatedGPU(memoryview(self.doorbells.view), budget=budget)
        self.gpu.on_interrupt = self._interrupt
        self.gpu.on_fault = self._queue_fault
        self.lock = threading.RLock()
        self.events_changed = threading.Condition(self.lock)
        self.drm_fd: int | None = None
        self.allocations: dict[int, Allocation] = {}
        self.queues: dict[int, HardwareQueue] = {}
        self.events: dict[int, Event] = {}
        self.event_page: memoryview | None = None
        self.kernel_event_page: HostMemory | None = None
        self.vram_used = 0
        self._next_idr = 1
        self._next_drm_offset = DRM_FILE_PAGE_OFFSET
        self._next_nonsignal_id = FIRST_NONSIGNAL_EVENT_ID
        self.scratch_backing_va = 0
        self.trap_handler = (0, 0)
        self.handlers: dict[int, tuple[str, Callable]] = {
            kfd.AMDKFD_IOC_GET_VERSION: ("get_version", self._get_version),
            kfd.AMDKFD_IOC_ACQUIRE_VM: ("acquire_vm", self._acquire_vm),
            kfd.AMDKFD_IOC_GET_PROCESS_APERTURES_NEW: ("get_process_apertures_new", self._apertures),
            kfd.AMDKFD_IOC_GET_CLOCK_COUNTERS: ("get_clock_counters", self._clock_counters),
            kfd.AMDKFD_IOC_AVAILABLE_MEMORY: ("get_available_memory", self._available_memory),
            kfd.AMDKFD_IOC_SET_MEMORY_POLICY: ("set_memory_policy", self._set_memory_policy),
            kfd.AMDKFD_IOC_SET_SCRATCH_BACKING_VA: ("set_scratch_backing_va", self._set_scratch_backing_va),
            kfd.AMDKFD_IOC_SET_TRAP_HANDLER: ("set_trap_handler", self._set_trap_handler),
            kfd.AMDKFD_IOC_SET_XNACK_MODE: ("set_xnack_mode", self._set_xnack_mode),
            kfd.AMDKFD_IOC_ALLOC_MEMORY_OF_GPU: ("alloc_memory_of_gpu", self._alloc),
            kfd.AMDKFD_IOC_FREE_MEMORY_OF_GPU: ("free_memory_of_gpu", self._free),
            kfd.AMDKFD_IOC_MAP_MEMORY_TO_GPU: ("map_memory_to_gpu", self._map),
            kfd.AMDKFD_IOC_UNMAP_MEMORY_FROM_GPU: ("unmap_memory_from_gpu", self._unmap),
            kfd.AMDKFD_IOC_CREATE_QUEUE: ("create_queue", self._create_queue),
            kfd.AMDKFD_IOC_DESTROY_QUEUE: ("destroy_queue", self._destroy_queue),
            kfd.AMDKFD_IOC_CREATE_EVENT: ("create_event", self._create_event),
            kfd.AMDKFD_IOC_DESTROY_EVENT: ("destroy_event", self._destroy_event),
            kfd.AMDKFD_IOC_SET_EVENT: ("set_event", self._set_event),
            kfd.AMDKFD_IOC_RESET_EVENT: ("reset_event", self._reset_event),
            kfd.AMDKFD_IOC_WAIT_EVENTS: ("wait_events", self._wait_events),
        }

    # -- dispatch -------------------------------------------------------------------------------

    def ioctl(self, request: int, arg) -> int:
        """Run one KFD ioctl on `arg` (a writable buffer holding the args struct); raises OSError like the kernel."""
        entry = self.handlers.get(request)
        if entry is None:
            names = [name for name, value in vars(kfd).items() if name.startswith("AMDKFD_IOC_") and value == request]
            what = names[0] if names else f"request {request:#x}"
            raise fail(errno.EINVAL if names else errno.ENOTTY, f"{what} is not modelled")
        name, handler = entry
        ctype = f"struct kfd_ioctl_{name}_args"
        size = (request >> 16) & 0x3FFF
        if size != ffi.sizeof(ctype) or len(memoryview(arg).cast("B")) < size:
            raise fail(errno.EFAULT, f"{name}: argument buffer of {len(memoryview(arg).cast('B'))} bytes, "
                                     f"the struct has {ffi.sizeof(ctype)}")  # fmt: skip
        args = ffi.from_buffer(ctype + " *", arg, require_writable=True)
        if name == "wait_events":
            return handler(args)  # sleeps; takes the lock itself
        with self.lock:
            return handler(args)

    def _device(self, gpu_id: int, *, need_vm: bool = True) -> None:
        """EINVAL unless `gpu_id` is this GPU (and, for memory and queues, its VM was acquired)."""
        if gpu_id != self.props.gpu_id:
            raise fail(errno.EINVAL, f"no GPU with gpu_id {gpu_id:#x} (the GPU is {self.props.gpu_id:#x})")
        if need_vm and self.drm_fd is None:
            raise fail(errno.EINVAL, "the process has no VM on this GPU: call AMDKFD_IOC_ACQUIRE_VM first")

    # -- process, VM, clocks ----------------------------------------------------------------------

    def _get_version(self, args) -> int:
        args.major_version, args.minor_version = kfd.KFD_IOCTL_MAJOR_VERSION, kfd.KFD_IOCTL_MINOR_VERSION
        return 0

    def _acquire_vm(self, args) -> int:
        self._device(args.gpu_id, need_vm=False)
        if not self.is_render_fd(args.drm_fd):
            raise fail(errno.EINVAL, f"drm_fd {args.drm_fd} is not an open render node of this GPU")
        if self.drm_fd is not None and self.drm_fd != args.drm_fd:
            raise fail(errno.EBUSY, f"the VM was already acquired through drm_fd {self.drm_fd}")
        self.drm_fd = args.drm_fd
        return 0

    def _apertures(self, args) -> int:
        if args.num_of_nodes == 0:
            args.num_of_nodes = 1
            return 0
        if not args.kfd_process_device_apertures_ptr:
            raise fail(errno.EFAULT, "kfd_process_device_apertures_ptr is NULL")
        aperture = ffi.new("struct kfd_process_device_apertures *")
        aperture.lds_base, aperture.lds_limit = LDS_BASE, LDS_BASE + APERTURE_SPAN
        aperture.scratch_base, aperture.scratch_limit = SCRATCH_BASE, SCRATCH_BASE + APERTURE_SPAN
        aperture.gpuvm_base, aperture.gpuvm_limit, aperture.gpu_id = GPUVM_BASE, GPUVM_LIMIT, self.props.gpu_id
        ctypes.memmove(args.kfd_process_device_apertures_ptr, bytes(ffi.buffer(aperture)), ffi.sizeof(aperture[0]))
        args.num_of_nodes = 1
        return 0

    def _clock_counters(self, args) -> int:
        args.gpu_clock_counter = self.gpu.clock() if args.gpu_id == self.props.gpu_id else 0
        args.cpu_clock_counter = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
        args.system_clock_counter = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        args.system_clock_freq = 1_000_000_000
        return 0

    def _available_memory(self, args) -> int:
        self._device(args.gpu_id, need_vm=False)
        args.available = self.props.vram_size - self.vram_used
        return 0

    def _set_memory_policy(self, args) -> int:
        self._device(args.gpu_id, need_vm=False)
        policies = (kfd.KFD_IOC_CACHE_POLICY_COHERENT, kfd.KFD_IOC_CACHE_POLICY_NONCOHERENT)
        if args.default_policy not in policies or args.alternate_policy not in policies:
            raise fail(errno.EINVAL, f"cache policies {args.default_policy}/{args.alternate_policy} are not "
                                     "KFD_IOC_CACHE_POLICY_COHERENT or _NONCOHERENT")  # fmt: skip
        return 0

    def _set_scratch_backing_va(self, args) -> int:
        self._device(args.gpu_id)
        self.scratch_backing_va = args.va_addr
        return 0

    def _set_trap_handler(self, args) -> int:
        self._device(args.gpu_id)
        self.trap_handler = (args.tba_addr, args.tma_addr)
        return 0

    def _set_xnack_mode(self, args) -> int:
        if args.xnack_enabled > 0:
            raise fail(errno.EPERM, "gfx1100 has no XNACK (retry on page fault) support")
        args.xnack_enabled = 0
        return 0

    # -- memory -------------------------------------------------------------------------------------

    def _alloc(self, args) -> int:
        self._device(args.gpu_id)
        flags, size, va = args.flags, args.size, args.va_addr
        kinds = [kind for kind in MEMORY_TYPES if flags & getattr(kfd, f"KFD_IOC_ALLOC_MEM_FLAGS_{kind}")]
        if not kinds:
            raise fail(errno.EINVAL, f"flags {flags:#x} name no memory type (VRAM, GTT, USERPTR, DOORBELL, MMIO_REMAP)")
        if size == 0:
            raise fail(errno.EINVAL, "size is 0")
        kind, size = kinds[0], -(-size // PAGE_SIZE) * PAGE_SIZE
        if va % PAGE_SIZE or va < GPUVM_BASE or va + size - 1 > GPUVM_LIMIT:
            raise fail(errno.EINVAL, f"va_addr {va:#x} (+{size:#x}) is not a page-aligned address in the GPU VM "
                                     f"[{GPUVM_BASE:#x}, {GPUVM_LIMIT:#x}]")  # fmt: skip
        for other in self.allocations.values():
            if other.va < va + size and va < other.va + other.size:
                raise fail(errno.EINVAL, f"[{va:#x}, {va + size:#x}) overlaps the object at {other.va:#x}")
        memory, backing, offset = self._backing(kind, size, args.mmap_offset)
        handle = (args.gpu_id << 32) | self._next_idr
        self._next_idr += 1
        if offset is None:
            offset = self._next_drm_offset
            self._next_drm_offset += size
        self.allocations[handle] = Allocation(handle, va, size, kind, backing, memory, offset)
        args.handle, args.mmap_offset = handle, offset
        return 0

    def _backing(self, kind: str, size: int, user_offset: int) -> tuple[HostMemory | None, object, int | None]:
        """(host memory, GPU backing buffer, mmap offset or None for a new render-node offset) of a new object."""
        if kind == "VRAM":
            if self.vram_used + size > self.props.vram_size:
                raise fail(errno.ENOMEM, f"VRAM exhausted: {size} bytes asked, "
                                         f"{self.props.vram_size - self.vram_used} free")  # fmt: skip
            self.vram_used += size
        if kind in ("VRAM", "GTT"):
            memory = HostMemory(size, kind.lower())
            return memory, memory.view, None
        if kind == "USERPTR":
            if user_offset % PAGE_SIZE or not user_offset:
                raise fail(errno.EINVAL, f"userptr address {user_offset:#x} is not page aligned")
            return None, (ctypes.c_char * size).from_address(user_offset), user_offset
        if kind == "DOORBELL":
            if size != DOORBELL_SLICE:
                raise fail(errno.EINVAL, f"a doorbell object is the process doorbell slice: {DOORBELL_SLICE} bytes")
            return self.doorbells, self.doorbells.view, None
        if size != PAGE_SIZE:
            raise fail(errno.EINVAL, f"the MMIO remap object is one page ({PAGE_SIZE} bytes)")
        memory = HostMemory(PAGE_SIZE, "mmio-remap")
        return memory, memory.view, MMAP_TYPE_MMIO | (self.props.gpu_id << MMAP_GPU_ID_SHIFT)

    def _allocation(self, handle: int) -> Allocation:
        if handle not in self.allocations:
            raise fail(errno.EINVAL, f"no memory object with handle {handle:#x}")
        return self.allocations[handle]

    def _free(self, args) -> int:
        allocation = self._allocation(args.handle)
        if allocation.mapped:
            raise fail(errno.EBUSY, f"the object at {allocation.va:#x} is still mapped to the GPU")
        del self.allocations[args.handle]
        if allocation.kind == "VRAM":
            self.vram_used -= allocation.size
        if allocation.memory is not None and allocation.memory is not self.doorbells:
            allocation.memory.close()
        return 0

    def _device_ids(self, args) -> list[int]:
        if args.n_devices == 0 or not args.device_ids_array_ptr:
            raise fail(errno.EINVAL, "n_devices is 0 or device_ids_array_ptr is NULL")
        if args.n_success > args.n_devices:
            raise fail(errno.EINVAL, f"n_success {args.n_success} > n_devices {args.n_devices}")
        raw = ctypes.string_at(args.device_ids_array_ptr, 4 * args.n_devices)
        return list(struct.unpack(f"<{args.n_devices}I", raw))

    def _map(self, args) -> int:
        allocation = self._allocation(args.handle)
        for gpu_id in self._device_ids(args)[args.n_success :]:
            self._device(gpu_id)
            if not allocation.mapped:
                self.gpu.map(allocation.va, allocation.backing)
                allocation.mapped = True
            args.n_success += 1
        return 0

    def _unmap(self, args) -> int:
        allocation = self._allocation(args.handle)
        for gpu_id in self._device_ids(args)[args.n_success :]:
            self._device(gpu_id)
            if not allocation.mapped:
                raise fail(errno.EINVAL, f"the object at {allocation.va:#x} is not mapped to the GPU")
            self.gpu.unmap(allocation.va)
            allocation.mapped = False
            args.n_success += 1
        return 0

    def mmap_target(self, device: str, offset: int, length: int) -> tuple[int, int]:
        """(memfd, offset in it) that an mmap of `device` ("kfd" or "render") at `offset` maps; OSError if none."""
        with self.lock:
            if offset % PAGE_SIZE or length <= 0:
                raise fail(errno.EINVAL, f"mmap offset {offset:#x} is not page aligned or length {length} <= 0")
            if device == "kfd":
                return self._kfd_mmap_target(offset, length)
            for allocation in self.allocations.values():
                start = allocation.mmap_offset
                if allocation.memory is not None and allocation.kind not in ("USERPTR", "MMIO_REMAP") and \
                        start <= offset and offset + length <= start + allocation.size:  # fmt: skip
                    return allocation.memory.fd, offset - start
            raise fail(errno.EACCES, f"no memory object at render-node offset {offset:#x} (+{length:#x})")

    def _kfd_mmap_target(self, offset: int, length: int) -> tuple[int, int]:
        kind, gpu_id = offset & (3 << MMAP_TYPE_SHIFT), (offset >> MMAP_GPU_ID_SHIFT) & 0xFFFF
        if kind == MMAP_TYPE_EVENTS and self.kernel_event_page is not None:
            if length > self.kernel_event_page.size:
                raise fail(errno.EINVAL, f"the event page is {self.kernel_event_page.size} bytes, not {length}")
            return self.kernel_event_page.fd, 0
        if gpu_id != self.props.gpu_id:
            raise fail(errno.EINVAL, f"mmap offset {offset:#x} names no GPU (gpu_id {gpu_id:#x})")
        if kind == MMAP_TYPE_DOORBELL:
            if length != DOORBELL_SLICE:
                raise fail(errno.EINVAL, f"the doorbell mapping must be the {DOORBELL_SLICE}-byte process slice")
            return self.doorbells.fd, 0
        for allocation in self.allocations.values():
            if allocation.kind == "MMIO_REMAP" and allocation.mmap_offset == offset and length == PAGE_SIZE:
                return allocation.memory.fd, 0
        raise fail(errno.EINVAL, f"no /dev/kfd mapping at offset {offset:#x} (+{length:#x})")

    def _mapped(self, va: int, size: int) -> bool:
        return any(a.mapped and a.va <= va and va + size <= a.va + a.size for a in self.allocations.values())

    # -- queues -------------------------------------------------------------------------------------

    def _create_queue(self, args) -> int:
        self._device(args.gpu_id)
        if (
            args.queue_percentage & 0xFF > kfd.KFD_MAX_QUEUE_PERCENTAGE
            or args.queue_priority > kfd.KFD_MAX_QUEUE_PRIORITY
        ):
            raise fail(errno.EINVAL, f"queue_percentage {args.queue_percentage} or priority {args.queue_priority} "
                                     "out of range")  # fmt: skip
        if args.ring_size & (args.ring_size - 1):
            raise fail(errno.EINVAL, f"ring_size {args.ring_size} is not a power of 2")
        ring_size = max(args.ring_size, kfd.KFD_MIN_QUEUE_RING_SIZE)
        kinds = {kfd.KFD_IOC_QUEUE_TYPE_COMPUTE: ("compute", 4), kfd.KFD_IOC_QUEUE_TYPE_SDMA: ("sdma", 1),
                 kfd.KFD_IOC_QUEUE_TYPE_SDMA_XGMI: ("sdma", 1)}  # fmt: skip
        if args.queue_type not in kinds:
            raise fail(errno.EINVAL, f"queue_type {args.queue_type}: only PM4 compute and SDMA queues are modelled")
        kind, unit = kinds[args.queue_type]
        if not self._mapped(args.ring_base_address, ring_size):
            raise fail(
                errno.EINVAL, f"the ring [{args.ring_base_address:#x}, +{ring_size:#x}) is not GPU-mapped memory"
            )
        for name in ("read_pointer_address", "write_pointer_address"):
            if not self._mapped(getattr(args, name), 8) or getattr(args, name) % 8:
                raise fail(errno.EINVAL, f"{name} {getattr(args, name):#x} is not 8-byte aligned GPU-mapped memory")
        if kind == "sdma" and sum(q.kind == "sdma" for q in self.queues.values()) >= MAX_SDMA_QUEUES:
            raise fail(errno.ENOMEM, f"all {MAX_SDMA_QUEUES} SDMA queues are in use")
        queue_id = next((i for i in range(MAX_QUEUES) if i not in self.queues), None)
        if queue_id is None:
            raise fail(errno.ENOMEM, f"all {MAX_QUEUES} queues of the process are in use")
        doorbell = queue_id * 8
        struct.pack_into("<Q", self.doorbells.view, doorbell, 0)
        queue = HardwareQueue(
            queue_id, kind, args.ring_base_address, ring_size, args.read_pointer_address, doorbell, unit
        )
        self.queues[queue_id] = queue
        processor = PM4Processor(self.gpu, queue) if kind == "compute" else SDMAProcessor(self.gpu, queue)
        self.gpu.add_queue(queue, processor)
        args.queue_id = queue_id
        args.doorbell_offset = MMAP_TYPE_DOORBELL | (self.props.gpu_id << MMAP_GPU_ID_SHIFT) | doorbell
        return 0

    def _destroy_queue(self, args) -> int:
        if args.queue_id not in self.queues:
            raise fail(errno.EINVAL, f"no queue {args.queue_id}")
        del self.queues[args.queue_id]
        self.gpu.remove_queue(args.queue_id)
        return 0

    # -- events -------------------------------------------------------------------------------------

    def _create_event(self, args) -> int:
        if args.event_page_offset:
            if self.event_page is not None:
                raise fail(errno.EINVAL, "the event page is already set")
            self.event_page = memoryview(self._allocation(args.event_page_offset).backing).cast("B")
        if args.event_type == kfd.KFD_IOC_EVENT_SIGNAL:
            if self.event_page is None:
                self.kernel_event_page = HostMemory(kfd.KFD_SIGNAL_EVENT_LIMIT * 8, "events")
                self.event_page = memoryview(self.kernel_event_page.view)
            limit = min(len(self.event_page) // 8, kfd.KFD_SIGNAL_EVENT_LIMIT)
            event_id = next((i for i in range(limit) if i not in self.events), None)
            if event_id is None:
                raise fail(errno.ENOSPC, f"all {limit} signal event slots are in use")
            struct.pack_into("<Q", self.event_page, event_id * 8, UNSIGNALED_EVENT_SLOT)
            args.event_page_offset = MMAP_TYPE_EVENTS
            args.event_slot_index = args.event_trigger_data = event_id
        elif args.event_type in (kfd.KFD_IOC_EVENT_MEMORY, kfd.KFD_IOC_EVENT_HW_EXCEPTION,
                                 kfd.KFD_IOC_EVENT_NODECHANGE, kfd.KFD_IOC_EVENT_DEVICESTATECHANGE):  # fmt: skip
            event_id = self._next_nonsignal_id
            self._next_nonsignal_id += 1
        else:
            raise fail(errno.EINVAL, f"event_type {args.event_type} is not a KFD event type that is modelled")
        self.events[event_id] = Event(event_id, args.event_type, bool(args.auto_reset))
        args.event_id = event_id
        return 0

    def _event(self, event_id: int, *, cpu_signaled: bool = False) -> Event:
        event = self.events.get(event_id)
        if event is None or (cpu_signaled and event.event_type != kfd.KFD_IOC_EVENT_SIGNAL):
            raise fail(errno.EINVAL, f"no {'signal ' if cpu_signaled else ''}event {event_id}")
        return event

    def _destroy_event(self, args) -> int:
        self._event(args.event_id)
        del self.events[args.event_id]
        return 0

    def _set_event(self, args) -> int:
        self._signal(self._event(args.event_id, cpu_signaled=True))
        return 0

    def _reset_event(self, args) -> int:
        self._event(args.event_id, cpu_signaled=True).signaled = False
        return 0

    def _signal(self, event: Event, data: bytes = b"") -> None:
        event.signaled, event.data = True, data or event.data
        self.events_changed.notify_all()

    def _wait_events(self, args) -> int:
        size = ffi.sizeof("struct kfd_event_data")
        if args.num_events and not args.events_ptr:
            raise fail(errno.EFAULT, "events_ptr is NULL")
        raw = bytearray(ctypes.string_at(args.events_ptr, size * args.num_events)) if args.num_events else bytearray()
        entries = ffi.from_buffer(f"struct kfd_event_data[{args.num_events}]", raw)
        deadline = None if args.timeout == EVENT_TIMEOUT_INFINITE else time.monotonic() + args.timeout / 1000
        with self.lock:
            events = [self._event(entries[i].event_id) for i in range(args.num_events)]
            done = all if args.wait_for_all else any
            while not done(event.signaled for event in events):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    args.wait_result = kfd.KFD_IOC_WAIT_RESULT_TIMEOUT
                    return 0
                self.events_changed.wait(left)
            for i, event in enumerate(events):
                if event.signaled and event.data:
                    ffi.memmove(ffi.addressof(entries[i]), event.data, len(event.data))
                if event.signaled and event.auto_reset:
                    event.signaled = False
        ctypes.memmove(args.events_ptr, bytes(raw), len(raw))
        args.wait_result = kfd.KFD_IOC_WAIT_RESULT_COMPLETE
        return 0

    # -- what the GPU reports -----------------------------------------------------------------------

    def _interrupt(self, ctxid: int) -> None:
        """An end-of-pipe interrupt: signal the event its context id names if its mailbox slot was written."""
        with self.lock:
            if self.event_page is None:
                return
            event_id = ctxid & ((1 << INTERRUPT_EVENT_ID_BITS) - 1)
            candidates = [event_id] if event_id in self.events else list(self.events)
            for candidate in candidates:
                event = self.events[candidate]
                if event.event_type != kfd.KFD_IOC_EVENT_SIGNAL:
                    continue
                if struct.unpack_from("<Q", self.event_page, candidate * 8)[0] != UNSIGNALED_EVENT_SLOT:
                    struct.pack_into("<Q", self.event_page, candidate * 8, UNSIGNALED_EVENT_SLOT)
                    self._signal(event)

    def _queue_fault(self, queue: HardwareQueue, message: str, address: int | None) -> None:
        """A queue stopped: a page fault signals MEMORY events with the page, anything else HW_EXCEPTION events."""
        with self.lock:
            if address is not None:
                data = ffi.new("struct kfd_hsa_memory_exception_data *")
                data.failure.NotPresent, data.va = 1, address // PAGE_SIZE * PAGE_SIZE
                data.gpu_id, data.ErrorType = self.props.gpu_id, kfd.KFD_MEM_ERR_NO_RAS
                kind = kfd.KFD_IOC_EVENT_MEMORY
            else:
                data = ffi.new("struct kfd_hsa_hw_exception_data *")
                data.reset_type, data.reset_cause = kfd.KFD_HW_EXCEPTION_PER_ENGINE_RESET, kfd.KFD_HW_EXCEPTION_GPU_HANG
                data.memory_lost, data.gpu_id = 0, self.props.gpu_id
                kind = kfd.KFD_IOC_EVENT_HW_EXCEPTION
            for event in self.events.values():
                if event.event_type == kind:
                    self._signal(event, bytes(ffi.buffer(data)))

    def close(self) -> None:
        """The process closed /dev/kfd: stop the GPU, drop queues, events and memory."""
        self.gpu.shutdown()
        with self.lock:
            for allocation in self.allocations.values():
                if allocation.memory is not None and allocation.memory is not self.doorbells:
                    allocation.memory.close()
            self.allocations.clear()
            self.queues.clear()
            self.events.clear()
            self.events_changed.notify_all()
        self.doorbells.close()
        if self.kernel_event_page is not None:
            self.kernel_event_page.close()
