"""The OS-access seam: LinuxOSAccess against real files, pipes and memory; a plugin's OS replaces it."""

from __future__ import annotations

import ctypes
import os
import pwd
import stat
import subprocess
import sys
import termios
from pathlib import Path

import cffi
import pytest

import tinyhw
from tinyhw.hcq.os_access import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    DeviceAccessDenied,
    LinuxOSAccess,
    OSAccess,
    os_access,
)

PAGE = 4096


@pytest.fixture
def linux() -> LinuxOSAccess:
    return LinuxOSAccess()


def host_bytes(address: int, size: int) -> memoryview:
    """A writable view of `size` bytes of host memory at `address`."""
    return memoryview((ctypes.c_char * size).from_address(address)).cast("B")


def test_sysfs_style_reads(linux: LinuxOSAccess, tmp_path: Path) -> None:
    (tmp_path / "nodes" / "1").mkdir(parents=True)
    (tmp_path / "nodes" / "0").mkdir()
    (tmp_path / "nodes" / "1" / "properties").write_text("simd_count 192\n")
    assert linux.list_dir(str(tmp_path / "nodes")) == ["0", "1"]
    assert linux.read_text(str(tmp_path / "nodes" / "1" / "properties")) == "simd_count 192\n"
    assert linux.exists(str(tmp_path / "nodes" / "0")) and not linux.exists(str(tmp_path / "nodes" / "2"))
    with pytest.raises(FileNotFoundError):
        linux.read_text(str(tmp_path / "missing"))


def test_open_and_close_a_file(linux: LinuxOSAccess, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"hello")
    fd = linux.open(str(tmp_path / "f"), os.O_RDONLY | os.O_CLOEXEC)
    assert os.read(fd, 5) == b"hello"
    linux.close(fd)
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(FileNotFoundError):
        linux.open(str(tmp_path / "missing"), os.O_RDONLY)


def test_anonymous_mmap_round_trip(linux: LinuxOSAccess) -> None:
    address = linux.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    assert address % PAGE == 0
    view = host_bytes(address, 2 * PAGE)
    assert bytes(view[:16]) == bytes(16)  # anonymous memory starts zeroed
    view[PAGE - 2 : PAGE + 2] = b"ring"
    assert ctypes.string_at(address + PAGE - 2, 4) == b"ring"
    view.release()
    linux.munmap(address, 2 * PAGE)


def test_shared_file_mapping_writes_reach_the_file(linux: LinuxOSAccess, tmp_path: Path) -> None:
    path = tmp_path / "backing"
    path.write_bytes(bytes(PAGE))
    fd = linux.open(str(path), os.O_RDWR)
    try:
        address = linux.mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        ctypes.memmove(address + 100, b"doorbell", 8)
        linux.munmap(address, PAGE)
    finally:
        linux.close(fd)
    assert path.read_bytes()[100:108] == b"doorbell"


def test_mmap_and_munmap_failures_raise_os_errors(linux: LinuxOSAccess) -> None:
    with pytest.raises(OSError, match="mmap of 4096 bytes .*failed: Bad file descriptor"):
        linux.mmap(0, PAGE, PROT_READ, MAP_SHARED, 987654, 0)
    with pytest.raises(OSError, match="munmap of 4096 bytes at 0x1001 failed"):
        linux.munmap(0x1001, PAGE)  # not page aligned: EINVAL


def test_ioctl_updates_its_buffer_in_place(linux: LinuxOSAccess) -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"12345")
        count = bytearray(4)
        assert linux.ioctl(read_end, termios.FIONREAD, count) == 0
        assert int.from_bytes(count, "little") == 5
    finally:
        os.close(read_end)
        os.close(write_end)


def test_ioctl_takes_cffi_buffers_and_requests_above_2_31(linux: LinuxOSAccess) -> None:
    ffi = cffi.FFI()
    args = ffi.new("char[24]")
    read_end, write_end = os.pipe()
    try:  # AMDKFD_IOC_GET_VERSION's number (_IOR('K', 1, 8) is 0x80084B01); a pipe answers ENOTTY
        with pytest.raises(OSError, match="Inappropriate ioctl for device"):
            linux.ioctl(read_end, 0x80084B01, ffi.buffer(args))
    finally:
        os.close(read_end)
        os.close(write_end)


def _open_unprivileged(path: str, flags: int) -> str:
    """`LinuxOSAccess().open(path, flags)` as the user nobody (in a child when root); the error, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, try the open, report, exit without running pytest's cleanup
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            LinuxOSAccess().open(path, flags)
            report = "opened"
        except Exception as exc:
            report = f"{type(exc).__name__}|{isinstance(exc, PermissionError)}|{exc}"
        os.write(write_end, report.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode()
    os.waitpid(pid, 0)
    return report


def _unwritable_device_node() -> str:
    for name in sorted(os.listdir("/dev")):
        path = f"/dev/{name}"
        mode = os.lstat(path).st_mode
        if stat.S_ISCHR(mode) and not mode & stat.S_IWOTH and (os.geteuid() == 0 or not os.access(path, os.W_OK)):
            return path
    pytest.skip("no character device in /dev that an unprivileged user cannot open for writing")


def test_a_device_node_without_permission_says_which_groups_to_join() -> None:
    report = _open_unprivileged(_unwritable_device_node(), os.O_WRONLY)
    kind, is_permission_error, message = report.split("|", 2)
    assert kind == "DeviceAccessDenied" and is_permission_error == "True"
    assert "permission denied opening /dev/" in message
    assert "`sudo usermod -aG render,video $USER`" in message and "tinyhw never runs sudo" in message


def test_a_plain_file_without_permission_stays_a_permission_error(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("x")
    path.chmod(0)
    tmp_path.chmod(0o755)
    kind, is_permission_error, _ = _open_unprivileged(str(path), os.O_RDONLY).split("|", 2)
    assert (kind, is_permission_error) == ("PermissionError", "True")


def test_device_access_denied_is_a_tinyhw_error() -> None:
    error = DeviceAccessDenied("/dev/kfd", ("render", "video"))
    assert isinstance(error, tinyhw.TinyHWError) and isinstance(error, PermissionError)
    assert str(error).startswith("permission denied opening /dev/kfd") and error.filename == "/dev/kfd"


class FakeOS(OSAccess):
    """A tiny simulated OS: one sysfs file, and fds that are counters."""

    def __init__(self) -> None:
        self.files = {"/sys/fake/name": "gfx1100\n"}
        self.opened: list[str] = []

    def open(self, path: str, flags: int) -> int:
        self.opened.append(path)
        return 100 + len(self.opened)

    def close(self, fd: int) -> None:
        self.opened[fd - 101] = ""

    def ioctl(self, fd: int, request: int, arg) -> int:
        arg[:4] = request.to_bytes(4, "little")
        return 0

    def mmap(self, address: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        return 0x7000_0000_0000 + offset

    def munmap(self, address: int, length: int) -> None:
        pass

    def read_text(self, path: str) -> str:
        return self.files[path]

    def list_dir(self, path: str) -> list[str]:
        return sorted(p.rsplit("/", 1)[1] for p in self.files if p.rsplit("/", 1)[0] == path)

    def exists(self, path: str) -> bool:
        return path in self.files


class SimulatedOSPlugin:
    def __init__(self, access: OSAccess) -> None:
        self.access = access

    @tinyhw.hookimpl
    def tinyhw_os_access(self) -> OSAccess:
        return self.access


def test_without_a_plugin_os_access_is_linux() -> None:
    code = "from tinyhw.hcq.os_access import os_access; print(type(os_access()).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "LinuxOSAccess"


def test_a_registered_os_access_replaces_the_os_for_the_run(plugin) -> None:
    fake = FakeOS()
    plugin(SimulatedOSPlugin(fake), "sim-os")
    access = os_access()
    assert access is fake
    assert access.read_text("/sys/fake/name") == "gfx1100\n" and access.list_dir("/sys/fake") == ["name"]
    assert access.open("/dev/kfd", os.O_RDWR) == 101 and fake.opened == ["/dev/kfd"]


def test_the_os_access_is_restored_once_the_plugin_is_gone(plugin) -> None:
    before = type(os_access())
    plugin(SimulatedOSPlugin(FakeOS()), "sim-os")
    tinyhw.registry.unregister("sim-os")
    assert type(os_access()) is before


def test_an_os_access_must_implement_every_operation() -> None:
    class Partial(OSAccess):
        def read_text(self, path: str) -> str:
            return ""

    with pytest.raises(TypeError, match="abstract"):
        Partial()
