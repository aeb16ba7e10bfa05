"""Memory of an AMD GPU under KFD: device buffers, and the rings its engines read.

`KFDAllocator` places device buffers in VRAM and host-visible ones in GTT (system memory the
GPU reaches over PCIe, mapped on the host at the buffer's GPU address; uncached for memory the
GPU polls, such as signals). `Ring` is a user-mode ring buffer with its read and write pointers
and doorbell: engines (the PM4 command processor, SDMA) fetch from it after a doorbell write.
"""

from __future__ import annotations

import time
from array import array
from typing import TYPE_CHECKING, Any

import cffi

from tinyhw.buffer import BufferOptions
from tinyhw.errors import DeviceHang
from tinyhw.hcq.allocator import Allocation, HCQAllocator
from tinyhw.hcq.signal import wait_timeout_ms
from tinyhw_amd.autogen import kfd

if TYPE_CHECKING:
    from tinyhw_amd.kfd import KFDInterface, KFDMemory

__all__ = ["KFDAllocator", "Ring", "memory_flags"]

_ffi = cffi.FFI()

_COMMON = kfd.KFD_IOC_ALLOC_MEM_FLAGS_WRITABLE | kfd.KFD_IOC_ALLOC_MEM_FLAGS_EXECUTABLE
_COMMON |= kfd.KFD_IOC_ALLOC_MEM_FLAGS_NO_SUBSTITUTE


def memory_flags(options: BufferOptions) -> int:
    """KFD allocation flags for `options`: VRAM for device memory, GTT (uncached if asked) for host-visible."""
    if not options.host_visible:
        return _COMMON | kfd.KFD_IOC_ALLOC_MEM_FLAGS_VRAM
    flags = _COMMON | kfd.KFD_IOC_ALLOC_MEM_FLAGS_GTT
    if options.uncached:  # the GPU polls it: no CPU-side caching, coherent over PCIe
        flags |= kfd.KFD_IOC_ALLOC_MEM_FLAGS_UNCACHED | kfd.KFD_IOC_ALLOC_MEM_FLAGS_COHERENT
    return flags


class KFDAllocator(HCQAllocator):
    """Device memory through KFD: VRAM buffers, and GTT buffers mapped on the host at their GPU address."""

    def __init__(self, device: Any, kfd_interface: KFDInterface) -> None:
        super().__init__(device)
        self.kfd = kfd_interface

    def _alloc(self, size: int, options: BufferOptions) -> Allocation:
        memory = self.kfd.alloc(size, memory_flags(options), host_visible=options.host_visible)
        return Allocation(va=memory.va, size=size, cpu_addr=memory.cpu_addr, backing=memory)

    def _release(self, allocation: Allocation) -> None:
        self.kfd.free(allocation.backing)

    def free_bytes(self) -> int:
        return self.kfd.available_memory()


class Ring:
    """A ring buffer an engine fetches commands from, with its read/write pointers and doorbell.

    memory: the ring (host-visible); pointers: one host-visible page holding the 64-bit read
    pointer (written by the engine) at offset 0 and the write pointer at offset 8. The write
    pointer counts `unit`-byte steps from creation and never wraps (4 for the PM4 command
    processor, which counts dwords; 1 for SDMA, which counts bytes); the engine wraps it by the
    ring size. `write` waits for room, copies, publishes the write pointer and rings the doorbell.
    The queue is created on the ring, with the pointers at `pointers.va + RPTR/WPTR`, before this object.
    """

    RPTR, WPTR = 0, 8

    def __init__(self, name: str, memory: KFDMemory, pointers: KFDMemory, doorbell: int, unit: int) -> None:
        self.name, self.memory, self.pointers, self.unit = name, memory, pointers, unit
        self.size = memory.size
        self.base = memory.cpu_addr
        self.rptr = _ffi.cast("uint64_t *", pointers.cpu_addr + self.RPTR)
        self.wptr = _ffi.cast("uint64_t *", pointers.cpu_addr + self.WPTR)
        self.doorbell = _ffi.cast("uint64_t *", doorbell)
        self.written = 0  # bytes written since creation; the pointers start at 0 (KFD memory is zero-filled)

    def write(self, words: list[int]) -> None:
        """Append 32-bit `words` (wrapping at the ring's end) and ring the doorbell."""
        data = array("I", words).tobytes()
        if len(data) >= self.size:
            raise ValueError(f"{self.name}: a submission of {len(data)} bytes does not fit a ring of {self.size} bytes")
        self._wait_for_room(len(data))
        start = self.written % self.size
        first = min(len(data), self.size - start)
        _ffi.memmove(_ffi.cast("char *", self.base + start), data[:first], first)
        if first < len(data):
            _ffi.memmove(_ffi.cast("char *", self.base), data[first:], len(data) - first)
        self.written += len(data)
        self.wptr[0] = self.written // self.unit
        self.doorbell[0] = self.written // self.unit

    def pending(self) -> int:
        """Bytes written but not yet fetched by the engine (its read pointer may be wrapped or not)."""
        return (self.written - self.rptr[0] * self.unit) % self.size

    def _wait_for_room(self, nbytes: int) -> None:
        """Wait until `nbytes` fit without reaching the read pointer; DeviceHang if the engine stops fetching."""
        if self.pending() + nbytes < self.size:
            return
        limit = wait_timeout_ms() / 1000
        deadline, seen = time.monotonic() + limit, self.rptr[0]
        while self.pending() + nbytes >= self.size:
            if self.rptr[0] != seen:
                deadline, seen = time.monotonic() + limit, self.rptr[0]
            elif time.monotonic() > deadline:
                raise DeviceHang(f"{self.name} ring: the engine stopped fetching commands (read pointer stuck at "
                                 f"{seen}, {self.pending()} bytes pending) for {limit * 1000:.0f} ms")  # fmt: skip
            time.sleep(1e-5)
