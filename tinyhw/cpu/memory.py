"""Memory of the CPU device: anonymous page mappings, where device address = host address."""

from __future__ import annotations

import os

from tinyhw.buffer import BufferOptions
from tinyhw.cpu.pages import map_pages, unmap_pages
from tinyhw.errors import OutOfMemory
from tinyhw.hcq.allocator import Allocation, HCQAllocator

__all__ = ["CPUAllocator", "available_memory", "total_memory"]


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
        try:
            address = map_pages(size)
        except OSError as exc:
            raise OutOfMemory(str(exc)) from None
        return Allocation(va=address, size=size, cpu_addr=address)

    def _release(self, allocation: Allocation) -> None:
        unmap_pages(allocation.cpu_addr, allocation.size)

    def free_bytes(self) -> int:
        return available_memory()
