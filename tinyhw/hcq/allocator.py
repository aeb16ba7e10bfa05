"""Device memory for HCQ backends: allocations, an LRU cache of freed buffers, deferred release."""

from __future__ import annotations

import ctypes
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from tinyhw.buffer import Buffer, BufferOptions
from tinyhw.errors import OutOfMemory

__all__ = ["Allocation", "HCQAllocator"]

DEFAULT_CACHE_BYTES = 1 << 30


@dataclass(slots=True)
class Allocation:
    """One allocation: its device address, host mapping (0 if not host-visible) and backend state."""

    va: int
    size: int
    cpu_addr: int = 0
    backing: Any = None

    def cpu_view(self) -> memoryview:
        """A writable host view of the whole allocation; ValueError if it is not host-visible."""
        if not self.cpu_addr:
            raise ValueError("allocation is not host-visible")
        return memoryview((ctypes.c_char * self.size).from_address(self.cpu_addr)).cast("B")


class HCQAllocator(ABC):
    """Allocates device memory, caching freed buffers for reuse (LRU, by size and options).

    Reuse is safe at once because every operation on an HCQ device is ordered on its timeline;
    memory is only *released* to the driver once the device's timeline passed every use, or after
    a full wait when out of memory. Backends implement `_alloc`, `_release`, `free_bytes`.
    """

    def __init__(self, device: Any, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        """device: the HCQDevice whose `timeline` orders every use of this memory."""
        self.device, self.cache_bytes = device, cache_bytes
        self._cache: OrderedDict[tuple[int, BufferOptions], list[Allocation]] = OrderedDict()
        self._cached = 0
        self._deferred: list[tuple[int, Allocation]] = []

    def alloc(self, size: int, options: BufferOptions) -> Buffer:
        """A new Buffer, from the cache when one of the same size and options is free."""
        entries = self._cache.get((size, options))
        if entries:
            allocation = entries.pop()
            self._cached -= size
            if not entries:
                del self._cache[(size, options)]
        else:
            allocation = self._alloc_or_flush(size, options)
        return Buffer(self.device, size, options, allocation)

    def free(self, buffer: Buffer) -> None:
        """Return `buffer`'s memory to the cache; evict least-recently-freed entries over the limit."""
        allocation, buffer.handle = buffer.handle, None
        self._cache.setdefault((buffer.size, buffer.options), []).append(allocation)
        self._cache.move_to_end((buffer.size, buffer.options))
        self._cached += buffer.size
        while self._cached > self.cache_bytes:
            self._evict_oldest()
        self._release_retired()

    def flush(self) -> None:
        """Release every cached and deferred allocation, waiting for the device where needed."""
        while self._cache:
            self._evict_oldest()
        if self._deferred:
            self.device.timeline.wait(max(value for value, _ in self._deferred), queue="memory release")
        self._release_retired()

    def _alloc_or_flush(self, size: int, options: BufferOptions) -> Allocation:
        try:
            return self._alloc(size, options)
        except OutOfMemory:
            self.flush()
        try:
            return self._alloc(size, options)
        except OutOfMemory:
            raise OutOfMemory(f"{self.device.name}: cannot allocate {size} bytes ({options}); "
                              f"{self.free_bytes()} bytes free after flushing the buffer cache") from None  # fmt: skip

    def _evict_oldest(self) -> None:
        key, entries = next(iter(self._cache.items()))
        allocation = entries.pop(0)
        if not entries:
            del self._cache[key]
        self._cached -= key[0]
        self._deferred.append((self.device.timeline_value - 1, allocation))

    def _release_retired(self) -> None:
        if not self._deferred:
            return
        done = self.device.timeline.value
        keep = []
        for value, allocation in self._deferred:
            self._release(allocation) if value <= done else keep.append((value, allocation))
        self._deferred = keep

    @abstractmethod
    def _alloc(self, size: int, options: BufferOptions) -> Allocation:
        """Get fresh memory from the driver; raise OutOfMemory when it has none."""

    @abstractmethod
    def _release(self, allocation: Allocation) -> None:
        """Give memory back to the driver; the device no longer uses it."""

    @abstractmethod
    def free_bytes(self) -> int:
        """Device memory still free, for error messages and `tinyhw info`."""
