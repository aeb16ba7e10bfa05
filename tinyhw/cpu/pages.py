"""Page mappings from libc: anonymous memory for buffers and code, protection changes, icache flush."""

from __future__ import annotations

import ctypes
import mmap
import os
from typing import NoReturn

from tinyhw.cpu.symbols import lookup
from tinyhw.errors import CompileError

__all__ = ["map_pages", "protect_pages", "unmap_pages", "flush_icache", "PAGE"]

PAGE = mmap.PAGESIZE


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def map_pages(size: int) -> int:
    """A fresh private anonymous read-write mapping of `size` bytes."""
    address = _libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        _raise_errno(f"mmap of {size} bytes")
    return address


def protect_pages(address: int, size: int, prot: int) -> None:
    if _libc.mprotect(ctypes.c_void_p(address), size, prot) != 0:
        _raise_errno(f"mprotect({address:#x}, {size}, {prot})")


def unmap_pages(address: int, size: int) -> None:
    if _libc.munmap(ctypes.c_void_p(address), size) != 0:
        _raise_errno(f"munmap({address:#x}, {size})")


def _raise_errno(what: str) -> NoReturn:
    errno = ctypes.get_errno()
    raise OSError(errno, f"{what} failed: {os.strerror(errno)}")


def flush_icache(address: int, size: int) -> None:
    """Make code just written visible to instruction fetch (arm64: macOS or libgcc's helper)."""
    if (invalidate := lookup("sys_icache_invalidate")) is not None:
        ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)(invalidate)(address, size)
    elif (clear := lookup("__clear_cache")) is not None:
        ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(clear)(address, address + size)
    else:
        raise CompileError("cannot flush the instruction cache: no sys_icache_invalidate or __clear_cache found")
