"""The OS-access seam: everything a kernel-driver path (KFD, NVIDIA RM, KGSL) may ask of the OS.

Drivers never call `os.open`, `fcntl.ioctl` or `mmap` themselves: they call `os_access()` once
and go through the `OSAccess` it returns — open/close device nodes, ioctls, mappings of device
memory or reserved host address ranges, and reads of sysfs. On a real machine that is
`LinuxOSAccess`; a test-only plugin answers the `tinyhw_os_access` hook with a simulated OS for
the whole run, and every layer above the driver runs unchanged (no "if simulated" branches).

An OSAccess may be used from several threads at once; it keeps no state of its own beyond what
the OS keeps (fds, mappings). Errors are the OS's own (`PermissionError`, `FileNotFoundError`,
`OSError` with errno), except that a character device the user may not open raises
`DeviceAccessDenied`, which says which groups to join.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import grp
import os
import stat
from abc import ABC, abstractmethod
from typing import Any

from tinyhw.errors import TinyHWError

__all__ = [
    "DeviceAccessDenied",
    "GPU_GROUPS",
    "LinuxOSAccess",
    "OSAccess",
    "os_access",
    "PROT_NONE",
    "PROT_READ",
    "PROT_WRITE",
    "MAP_SHARED",
    "MAP_PRIVATE",
    "MAP_FIXED",
    "MAP_ANONYMOUS",
    "MAP_NORESERVE",
]

GPU_GROUPS = ("render", "video")
"""The groups that own GPU device nodes (/dev/kfd, /dev/dri/renderD*) on Linux distributions."""

PROT_NONE, PROT_READ, PROT_WRITE = 0x0, 0x1, 0x2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x01, 0x02, 0x10, 0x20, 0x4000
"""Linux's mmap constants (the same on x86-64 and arm64), for drivers and for simulated OSes."""


class DeviceAccessDenied(TinyHWError, PermissionError):
    """The user may not open a device node; the message says which groups to join (never runs sudo)."""

    def __init__(self, path: str, groups: tuple[str, ...]) -> None:
        joined = ",".join(groups)
        super().__init__(
            errno.EACCES,
            f"permission denied opening {path}: your user is not in the group(s) that may use it. "
            f"Add it to {' and '.join(groups)} by running `sudo usermod -aG {joined} $USER` yourself, "
            "then log out and back in (tinyhw never runs sudo)",
            path,
        )
        self.groups = groups

    def __str__(self) -> str:
        return str(self.strerror)


class OSAccess(ABC):
    """What a kernel-driver path may do to the OS. Tests replace it through `tinyhw_os_access`."""

    @abstractmethod
    def open(self, path: str, flags: int) -> int:
        """Open `path` with `os.O_*` `flags`; returns an fd. Raises the OS error (PermissionError, ...)."""

    @abstractmethod
    def close(self, fd: int) -> None:
        """Close `fd`, returned by `open`."""

    @abstractmethod
    def ioctl(self, fd: int, request: int, arg: Any) -> int:
        """Issue ioctl `request` on `fd`; `arg` is a writable buffer updated in place. Returns the result."""

    @abstractmethod
    def mmap(self, address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        """Map `length` bytes of `fd` at `offset` (fd -1 with MAP_ANONYMOUS reserves host memory).

        address: a hint, or the exact address with MAP_FIXED; 0 lets the OS choose.
        Returns the host address of the mapping; raises OSError on failure.
        """

    @abstractmethod
    def munmap(self, address: int, length: int) -> None:
        """Remove the mapping of `length` bytes at `address`."""

    @abstractmethod
    def read_text(self, path: str) -> str:
        """The whole text of the file at `path` (sysfs attributes)."""

    @abstractmethod
    def list_dir(self, path: str) -> list[str]:
        """The names in directory `path`, sorted."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether `path` exists."""


class LinuxOSAccess(OSAccess):
    """The real OS: `os.open`, `fcntl.ioctl`, and libc's mmap/munmap through ctypes."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._mmap, self._munmap = libc.mmap, libc.munmap
        self._mmap.restype = ctypes.c_void_p
        self._mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int64)  # fmt: skip
        self._munmap.restype = ctypes.c_int
        self._munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)

    def open(self, path: str, flags: int) -> int:
        try:
            return os.open(path, flags)
        except PermissionError:
            if not _is_device_node(path):
                raise
            raise DeviceAccessDenied(path, _groups_of(path)) from None

    def close(self, fd: int) -> None:
        os.close(fd)

    def ioctl(self, fd: int, request: int, arg: Any) -> int:
        return fcntl.ioctl(fd, request, arg, True)

    def mmap(self, address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        result = self._mmap(address or None, length, prot, flags, fd, offset)
        if result is None or result == ctypes.c_void_p(-1).value:
            code = ctypes.get_errno()
            raise OSError(code, f"mmap of {length} bytes (fd {fd}, offset {offset:#x}) failed: {os.strerror(code)}")
        return result

    def munmap(self, address: int, length: int) -> None:
        if self._munmap(address, length) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"munmap of {length} bytes at {address:#x} failed: {os.strerror(code)}")

    def read_text(self, path: str) -> str:
        with open(path, encoding="utf-8") as file:
            return file.read()

    def list_dir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


def _is_device_node(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def _groups_of(path: str) -> tuple[str, ...]:
    """The groups to suggest for device node `path`: the GPU groups, plus its own group if another."""
    try:
        owner = grp.getgrgid(os.stat(path).st_gid).gr_name
    except (OSError, KeyError):
        return GPU_GROUPS
    return GPU_GROUPS if owner in GPU_GROUPS or owner == "root" else (*GPU_GROUPS, owner)


def os_access() -> OSAccess:
    """The OSAccess of this process: a plugin's answer to `tinyhw_os_access`, else `LinuxOSAccess`."""
    from tinyhw.registry import registry  # the registry imports device code; import it only when asked

    return registry.os_access() or _linux()


@functools.cache
def _linux() -> LinuxOSAccess:
    return LinuxOSAccess()
