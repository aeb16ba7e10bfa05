"""HCQAllocator: freed buffers are reused by size and options; out of memory flushes the cache once."""

from __future__ import annotations

import pytest

from tinyhw import BufferOptions, OutOfMemory
from tinyhw.hcq import Allocation, HCQAllocator


class FakeTimeline:
    """The device has completed value 9; work up to 10 is submitted."""

    def __init__(self) -> None:
        self.value = 9

    def wait(self, value, queue=""):
        self.value = max(self.value, value)


class FakeDevice:
    name = "fake:0"
    timeline_value = 11

    def __init__(self) -> None:
        self.timeline = FakeTimeline()


class BudgetAllocator(HCQAllocator):
    """A device with `budget` bytes."""

    def __init__(self, budget: int, cache_bytes: int = 1 << 30) -> None:
        super().__init__(FakeDevice(), cache_bytes)
        self.budget, self.used, self.released, self.next_va = budget, 0, [], 0x1000

    def _alloc(self, size, options):
        if self.used + size > self.budget:
            raise OutOfMemory("driver says no")
        self.used += size
        self.next_va += size
        return Allocation(self.next_va - size, size)

    def _release(self, allocation):
        self.used -= allocation.size
        self.released.append(allocation.va)

    def free_bytes(self):
        return self.budget - self.used


def test_freed_buffer_is_reused_for_same_size_and_options():
    allocator = BudgetAllocator(1 << 20)
    first = allocator.alloc(4096, BufferOptions())
    va = first.handle.va
    allocator.free(first)
    assert first.freed
    assert allocator.alloc(4096, BufferOptions(host_visible=True)).handle.va != va
    assert allocator.alloc(4096, BufferOptions()).handle.va == va


def test_out_of_memory_flushes_the_cache_and_retries_once():
    allocator = BudgetAllocator(8192)
    allocator.free(allocator.alloc(4096, BufferOptions()))
    allocator.alloc(4096, BufferOptions(host_visible=True))
    big = allocator.alloc(4096, BufferOptions(uncached=True))
    assert allocator.released == [0x1000] and big.size == 4096


def test_out_of_memory_names_requested_and_free_sizes():
    allocator = BudgetAllocator(8192)
    with pytest.raises(OutOfMemory, match=r"cannot allocate 16384 bytes.*8192 bytes free"):
        allocator.alloc(16384, BufferOptions())


def test_cache_limit_releases_oldest_once_the_device_is_done():
    allocator = BudgetAllocator(1 << 20, cache_bytes=4096)
    a, b = allocator.alloc(4096, BufferOptions()), allocator.alloc(4096, BufferOptions())
    allocator.free(a)
    allocator.free(b)
    assert allocator.released == []  # evicted `a` may be in use until the timeline reaches 10
    allocator.device.timeline.value = 10
    allocator.free(allocator.alloc(8, BufferOptions()))
    assert allocator.released[0] == 0x1000  # the oldest goes first
