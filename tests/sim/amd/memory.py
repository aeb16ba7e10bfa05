"""GPU virtual memory for the simulated AMD GPU: virtual address ranges backed by host memory.

A mapping backs a page-aligned virtual range with a writable host buffer (a bytearray, an mmap
object, a numpy uint8 array or a cffi buffer), so the plugin and the simulated GPU see the same
bytes. Every access outside a mapping raises PageFault naming the address, as the GPU's VM fault
would. Per-lane `gather`/`scatter` are vectorised with numpy: one lookup per distinct mapping.
"""

from __future__ import annotations

import bisect
import functools

import numpy as np

from tinyhw.errors import DeviceFault

__all__ = ["PAGE_SIZE", "GPUMemory", "PageFault"]

PAGE_SIZE = 4096


class PageFault(DeviceFault):
    """An access to an unmapped GPU virtual address; `address` is the first faulting byte, `access` "read"/"write".

    `detail` names another address space when the fault is outside LDS or a lane's scratch memory.
    """

    def __init__(self, address: int, access: str, detail: str = "") -> None:
        where = f" ({detail})" if detail else ""
        super().__init__(f"GPU page fault: {access} of unmapped address {address:#x}{where}")
        self.address = address
        self.access = access


class GPUMemory:
    """A GPU virtual address space whose mappings are host buffers.

    Not thread-safe: one simulated GPU owns it. Mappings may not overlap; an access must lie
    within one mapping (mappings are not stitched together even when adjacent).
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._arrays: list[np.ndarray] = []

    def map(self, va: int, backing) -> None:
        """Back [va, va + len(backing)) with `backing`; ValueError if unaligned, empty or overlapping."""
        array = np.frombuffer(backing, np.uint8)
        if va % PAGE_SIZE or va < 0:
            raise ValueError(f"GPU mapping address {va:#x} is not {PAGE_SIZE}-byte page aligned")
        if array.size == 0:
            raise ValueError(f"GPU mapping at {va:#x} has an empty backing buffer")
        if not array.flags.writeable:
            raise ValueError(f"GPU mapping at {va:#x}: the backing buffer is read-only")
        i = bisect.bisect_left(self._starts, va)
        end = va + array.size
        if (i < len(self._starts) and self._starts[i] < end) or (i and self._ends[i - 1] > va):
            raise ValueError(f"GPU mapping [{va:#x}, {end:#x}) overlaps an existing mapping")
        self._starts.insert(i, va)
        self._ends.insert(i, end)
        self._arrays.insert(i, array)

    def unmap(self, va: int) -> None:
        """Remove the mapping that starts at `va`; ValueError if none does."""
        i = bisect.bisect_left(self._starts, va)
        if i == len(self._starts) or self._starts[i] != va:
            raise ValueError(f"no GPU mapping starts at {va:#x}")
        del self._starts[i], self._ends[i], self._arrays[i]

    def _view(self, va: int, n: int, access: str) -> np.ndarray:
        """The bytes [va, va + n) as a view of their mapping; PageFault at the first unmapped byte."""
        i = bisect.bisect_right(self._starts, va) - 1
        if i < 0 or va >= self._ends[i]:
            raise PageFault(va, access)
        if va + n > self._ends[i]:
            raise PageFault(self._ends[i], access)
        offset = va - self._starts[i]
        return self._arrays[i][offset : offset + n]

    def mapped_bytes(self, va: int) -> int:
        """How many bytes from `va` to the end of its mapping; PageFault if `va` is unmapped."""
        i = bisect.bisect_right(self._starts, va) - 1
        if i < 0 or va >= self._ends[i]:
            raise PageFault(va, "read")
        return self._ends[i] - va

    def read(self, va: int, n: int) -> bytes:
        """A copy of the `n` bytes at `va`."""
        return self._view(va, n, "read").tobytes()

    def write(self, va: int, data) -> None:
        """Store the bytes of `data` (any buffer) at `va`."""
        src = np.frombuffer(data, np.uint8)
        self._view(va, src.size, "write")[:] = src

    def _lanes(self, addresses: np.ndarray, nbytes: int, active: np.ndarray, access: str):
        """[(mapping array, offsets, lane indices)] covering the active lanes; PageFault if any byte is unmapped.

        The common case, every lane in one mapping, costs one bisect; otherwise lanes are grouped by mapping.
        """
        every = np.logical_and.reduce(active)  # usually: a slice instead of lane indices, no copy of the addresses
        lanes = slice(None) if every else np.flatnonzero(active)
        addr = addresses.astype(np.uint64, copy=False) if every else addresses[lanes].astype(np.uint64)
        low, high = int(np.minimum.reduce(addr)), int(np.maximum.reduce(addr))
        i = bisect.bisect_right(self._starts, low) - 1
        if i >= 0 and high + nbytes <= self._ends[i]:
            return [(self._arrays[i], addr.view(np.int64) - self._starts[i], lanes)]
        lanes = np.flatnonzero(active)
        addr = addresses[lanes].astype(np.uint64)
        starts = np.asarray(self._starts, np.uint64)
        index = np.searchsorted(starts, addr, side="right").astype(np.int64) - 1
        ends = np.asarray(self._ends + [0], np.uint64)[index]
        bad = (index < 0) | (addr + np.uint64(nbytes) > ends)
        if bad.any():
            address, i = int(addr[np.argmax(bad)]), int(index[np.argmax(bad)])
            raise PageFault(address if i < 0 or address >= self._ends[i] else self._ends[i], access)
        groups = []
        for i in np.unique(index):
            sel = index == i
            groups.append((self._arrays[i], (addr[sel] - starts[i]).astype(np.int64), lanes[sel]))
        return groups

    def gather(self, addresses: np.ndarray, nbytes: int, active: np.ndarray) -> np.ndarray:
        """Per-lane loads: uint8[lanes, nbytes] with the `nbytes` at each active lane's address (zeros elsewhere)."""
        out = np.zeros((addresses.size, nbytes), np.uint8)
        if active.any():
            span = _spans(nbytes)
            for array, offsets, lanes in self._lanes(addresses, nbytes, active, "read"):
                out[lanes] = array[offsets[:, None] + span]
        return out

    def scatter(self, addresses: np.ndarray, values: np.ndarray, nbytes: int, active: np.ndarray) -> None:
        """Per-lane stores of `values` (uint8[lanes, nbytes]) at each active lane's address; later lanes win."""
        if active.any():
            span, data = _spans(nbytes), np.asarray(values, np.uint8).reshape(addresses.size, nbytes)
            for array, offsets, lanes in self._lanes(addresses, nbytes, active, "write"):
                array[offsets[:, None] + span] = data[lanes]


@functools.cache
def _spans(nbytes: int) -> np.ndarray:
    """0..nbytes-1: the byte offsets of one lane's access."""
    return np.arange(nbytes)
