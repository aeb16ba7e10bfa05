"""Small helpers the conformance tests share: moving numpy arrays to and from a device."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tinyhw.buffer import Buffer
    from tinyhw.device import Device

__all__ = ["download", "random_array", "resident_bytes", "upload"]

RNG_SEED = 1234


def upload(device: Device, array: np.ndarray) -> Buffer:
    """A new buffer of `device` holding a copy of `array` (enqueued; no sync)."""
    buffer = device.allocate(max(array.nbytes, 1))
    device.copy(buffer, np.ascontiguousarray(array))
    return buffer


def download(device: Device, buffer: Buffer, dtype: np.dtype | str, count: int | None = None) -> np.ndarray:
    """The first `count` elements (default: all) of `buffer` as `dtype`, after a sync."""
    dtype = np.dtype(dtype)
    out = np.empty(buffer.size // dtype.itemsize if count is None else count, dtype)
    device.copy(out, buffer, out.nbytes)
    device.sync()
    return out


def random_array(dtype: np.dtype | str, count: int, seed: int = RNG_SEED) -> np.ndarray:
    """`count` reproducible random elements of `dtype` (finite for floats, full range for ints)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(count).astype(dtype)
    return rng.integers(0, 256, count * dtype.itemsize, dtype=np.uint8).view(dtype)


def resident_bytes() -> int:
    """This process's resident memory in bytes (Linux /proc/self/statm; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0
