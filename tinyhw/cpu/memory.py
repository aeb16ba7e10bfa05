"""Memory of the CPU device: anonymous page mappings, where device address = host address."""

from __future__ import annotations

import ctypes
import mmap
import os

from tinyhw.buffer import BufferOptions
from tinyhw.errors import OutOfMemory
from tinyhw.hcq.allocator import Allocation, HCQAllocator

__all__ = ["CPUAllocator", "available_memory", "total_memory"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_FAILED = ctypes.c_void_p(-1).value


def _meminfo(field: str) -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def total_memory() -> int:
    """Bytes of RAM in this machine."""
    return _meminfo("MemTotal")


def available_memory() -> int:
    """Bytes of RAM the kernel reports as available for new allocations."""
    return _meminfo("MemAvailable")


class CPUAllocator(HCQAllocator):
    """Allocates page-aligned, zero-filled anonymous mappings; every allocation is host-visible."""

    def _alloc(self, size: int, options: BufferOptions) -> Allocation:
        address = _libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if address in (None, MAP_FAILED):
            raise OutOfMemory(f"mmap of {size} bytes failed: {os.strerror(ctypes.get_errno())}")
        return Allocation(va=address, size=size, cpu_addr=address)

    def _release(self, allocation: Allocation) -> None:
        _libc.munmap(allocation.cpu_addr, allocation.size)

    def free_bytes(self) -> int:
        return available_memory()
