"""SimulatedOS: the OS-access seam answered by a simulated machine with one gfx1100 behind KFD.

Device nodes /dev/kfd and /dev/dri/renderD128 open to fake fds; ioctls on /dev/kfd go to the KFD
model (`KFDProcess`: one per process as in the kernel, shared by every open of /dev/kfd, torn down
with its GPU when the last of them closes); the KFD topology is a tree of sysfs files. mmap is real:
anonymous reservations are libc mmaps, and mappings of /dev/kfd or the render node map the memory
object's memfd at the requested address, so the plugin reads and writes device memory through plain
host pointers. Anything else fails with the error Linux would give (ENOENT, EBADF, ENOTTY, EINVAL).
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import threading
from typing import Any

from tests.sim.amd.kfd import KFDProcess
from tests.sim.amd.topology import GFX1100, GPUProperties, SimulatedTopology
from tinyhw.hcq.os_access import MAP_ANONYMOUS, MAP_SHARED, PROT_WRITE, OSAccess

__all__ = ["SimulatedOS"]

KFD_PATH = "/dev/kfd"
FIRST_FD = 1000  # fake fds, far from the real ones this process holds

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64)
_libc.munmap.restype = ctypes.c_int
_libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
MAP_FAILED = ctypes.c_void_p(-1).value


def _os_error(code: int, message: str, path: str | None = None) -> OSError:
    return OSError(code, f"{os.strerror(code)} (simulated OS: {message})", *([path] if path else []))


class SimulatedOS(OSAccess):
    """A Linux machine with one simulated Radeon RX 7900 XTX-like GPU (gfx1100) driven through KFD.

    gpu: the GPU's KFD node properties (VRAM size, ids). budget: the instruction budget of one
    wave before the simulated kernel counts as hung. Thread-safe.
    """

    def __init__(self, gpu: GPUProperties = GFX1100, *, budget: int = 200_000) -> None:
        self.gpu_props = gpu
        self.budget = budget
        self.topology = SimulatedTopology((gpu,))
        self.render_path = f"/dev/dri/renderD{gpu.drm_render_minor}"
        self._fds: dict[int, str] = {}
        self._process: KFDProcess | None = None
        self._next_fd = itertools.count(FIRST_FD)
        self._lock = threading.Lock()

    @property
    def process(self) -> KFDProcess | None:
        """The KFD process (while /dev/kfd is open), or None."""
        with self._lock:
            return self._process

    def open(self, path: str, flags: int) -> int:
        if path not in (KFD_PATH, self.render_path):
            if self.topology.exists(path):
                raise _os_error(errno.EACCES, f"{path} is a sysfs attribute: read it with read_text", path)
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        with self._lock:
            fd = next(self._next_fd)
            self._fds[fd] = path
            if path == KFD_PATH and self._process is None:
                self._process = KFDProcess(self.gpu_props, self._is_render_fd, self.budget)
            return fd

    def _is_render_fd(self, fd: int) -> bool:
        with self._lock:
            return self._fds.get(fd) == self.render_path

    def _path(self, fd: int) -> str:
        with self._lock:
            if fd not in self._fds:
                raise _os_error(errno.EBADF, f"fd {fd} is not open")
            return self._fds[fd]

    def close(self, fd: int) -> None:
        self._path(fd)
        with self._lock:
            del self._fds[fd]
            process = self._process
            if KFD_PATH in self._fds.values():
                return
            self._process = None
        if process is not None:
            process.close()

    def ioctl(self, fd: int, request: int, arg: Any) -> int:
        if self._path(fd) != KFD_PATH:
            raise _os_error(errno.ENOTTY, f"the render node answers no ioctl {request:#x} here (only KFD is modelled)")
        return self.process.ioctl(request, arg)

    def mmap(self, address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        if length <= 0:
            raise _os_error(errno.EINVAL, f"mmap length {length}")
        if fd == -1:
            if not flags & MAP_ANONYMOUS:
                raise _os_error(errno.EBADF, "mmap of fd -1 without MAP_ANONYMOUS")
            return _libc_mmap(address, length, prot, flags, -1, 0)
        path = self._path(fd)
        if flags & MAP_ANONYMOUS:
            return _libc_mmap(address, length, prot, flags, -1, 0)
        if prot & PROT_WRITE and not flags & MAP_SHARED:
            raise _os_error(errno.EINVAL, "a writable private (copy-on-write) mapping of device memory")
        process = self.process if path == KFD_PATH else self._vm_process(fd)
        memfd, file_offset = process.mmap_target("kfd" if path == KFD_PATH else "render", offset, length)
        return _libc_mmap(address, length, prot, flags, memfd, file_offset)

    def _vm_process(self, fd: int) -> KFDProcess:
        """The KFD process whose VM was acquired through render-node fd `fd` (its objects are mappable there)."""
        process = self.process
        if process is not None and process.drm_fd == fd:
            return process
        raise _os_error(errno.EACCES, f"render node fd {fd} has no VM: no memory object can be mapped through it")

    def munmap(self, address: int, length: int) -> None:
        if _libc.munmap(address, length) != 0:
            code = ctypes.get_errno()
            raise _os_error(code, f"munmap of {length} bytes at {address:#x}")

    def read_text(self, path: str) -> str:
        return self.topology.read_text(path)

    def list_dir(self, path: str) -> list[str]:
        if path.rstrip("/") == "/dev/dri":
            return [os.path.basename(self.render_path)]
        return self.topology.list_dir(path)

    def exists(self, path: str) -> bool:
        return path in (KFD_PATH, self.render_path, "/dev/dri") or self.topology.exists(path)

    def shutdown(self) -> None:
        """Close every fd still open (ends each KFD process and stops its GPU)."""
        with self._lock:
            fds = list(self._fds)
        for fd in fds:
            self.close(fd)


def _libc_mmap(address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    result = _libc.mmap(address or None, length, prot, flags, fd, offset)
    if result is None or result == MAP_FAILED:
        code = ctypes.get_errno()
        raise _os_error(code, f"mmap of {length} bytes at {address:#x}")
    return result
