"""The user-facing device: the contract's operations, checked, cached and bound for speed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinyhw.buffer import DEFAULT_OPTIONS, Buffer, BufferOptions
from tinyhw.cache import CompileCache, cache_key, default_directory
from tinyhw.errors import CompileError
from tinyhw.program import Program

if TYPE_CHECKING:
    from tinyhw.backend import Backend, DeviceInfo

__all__ = ["Device"]

Size3 = tuple[int, int, int]
OPERATIONS = ("allocate", "free", "copy", "compile", "load", "launch", "sync", "close")


class Device:
    """One opened accelerator (or the CPU), driven through allocate, copy, compile, launch, sync.

    `Device("cpu:0")` opens a device, or returns the one already open under that name;
    `Device()` opens the default (`TINYHW_DEVICE`, else the highest-priority backend that
    opens). A Device lives until `close()`. Work is enqueued in call order and runs
    asynchronously; `sync()` waits for all of it. Calls on one device must not race each other
    from several threads. After an execution error the device reports it at the next `sync`.
    Nearest equivalents: VkDevice with one queue; an HSA agent.
    """

    name: str
    backend: Backend
    impl: Any
    layers: tuple[str, ...]

    def __new__(cls, name: str | None = None) -> Device:
        from tinyhw.registry import registry

        return registry.open_device(name)

    @classmethod
    def _create(cls, name: str, backend: Backend, impl: Any, hooks: Any, layers: tuple[str, ...]) -> Device:
        """Wrap an opened implementation: through its pluggy relay `hooks` when layers are on,
        else by binding the implementation's methods directly (no pluggy frame per call)."""
        self = object.__new__(cls)
        self.name, self.backend, self.impl, self.layers = name, backend, impl, layers
        self._programs: dict[str, Program] = {}
        self._cache = CompileCache(default_directory())
        if layers:
            source = _KeywordCaller(hooks)
        else:
            source = impl
            self._close = impl.close if hooks.close.get_hookimpls() else _nothing
        for op in OPERATIONS:
            if not hasattr(self, "_" + op):
                setattr(self, "_" + op, getattr(source, op))
        return self

    @property
    def info(self) -> DeviceInfo:
        """Name, memory, compute units, target and compiler of this device."""
        return self.impl.info

    def allocate(self, size: int, options: BufferOptions | None = None) -> Buffer:
        """A new buffer of `size` bytes (contents undefined). Raises OutOfMemory when none is left."""
        if type(size) is not int or size <= 0:
            raise ValueError(f"{self.name}: allocation size must be a positive int, got {size!r}")
        return self._allocate(size, options or DEFAULT_OPTIONS)

    def free(self, buffer: Buffer) -> None:
        """Release `buffer`; enqueued work that uses it still completes. Double free raises ValueError."""
        self._check_buffer(buffer, "free")
        if buffer.is_view:
            raise ValueError(f"{self.name}: cannot free {buffer!r}; free the buffer it views")
        self._free(buffer)

    def copy(
        self, dst: Buffer | Any, src: Buffer | Any, size: int | None = None, dst_offset: int = 0, src_offset: int = 0
    ) -> None:
        """Enqueue a copy of `size` bytes (default: all of `src` after `src_offset`).

        Either side may be a Buffer of this device or a host object with the buffer protocol
        (numpy array, bytes, bytearray); host destinations hold the data after the next `sync`.
        Bounds are checked before anything is enqueued (ValueError).
        """
        src_view, src_len = self._copy_side(src, "source", writable=False)
        dst_view, dst_len = self._copy_side(dst, "destination", writable=True)
        if size is None:
            size = src_len - src_offset
        _check_range(self.name, "source", src_offset, size, src_len)
        _check_range(self.name, "destination", dst_offset, size, dst_len)
        self._copy(_slice(dst_view, dst_offset, size), _slice(src_view, src_offset, size), size)

    def compile(self, source: str | bytes, entry: str | None = None) -> Program:
        """Compile and load a kernel; repeated sources are served from memory, then from disk."""
        info = self.impl.info
        key = cache_key(self.backend.name, info.target, info.compiler, entry, source)
        if (program := self._programs.get(key)) is not None:
            return program
        cached = self._cache.get(key)
        if cached is not None:
            try:
                program = self._programs[key] = self._load(cached)
                return program
            except CompileError:
                pass  # a stale or damaged cache entry: compile afresh and overwrite it
        binary = self._compile(source, entry)
        self._cache.put(key, binary)
        program = self._programs[key] = self._load(binary)
        return program

    def launch(self, program: Program, *args: Any, global_size: Any = (1, 1, 1), local_size: Any = (1, 1, 1)) -> None:
        """Enqueue `program` over `global_size` workgroups of `local_size` work-items each."""
        if program.device is not self.impl:
            raise ValueError(f"{self.name}: {program!r} was loaded on another device")
        self._launch(program, args, as_size3(global_size, "global_size"), as_size3(local_size, "local_size"))

    def sync(self) -> None:
        """Block until all enqueued work is done; raises DeviceHang or DeviceFault on failure."""
        self._sync()

    def close(self) -> None:
        """Wait for pending work, release the device, and forget it; `Device(name)` reopens it."""
        from tinyhw.registry import registry

        registry.forget(self)
        self._close()

    def _check_buffer(self, buffer: Buffer, action: str) -> None:
        if not isinstance(buffer, Buffer):
            raise TypeError(f"{self.name}: cannot {action} {type(buffer).__name__}; expected a tinyhw.Buffer")
        if buffer.device is not self.impl:
            raise ValueError(f"{self.name}: cannot {action} {buffer!r}: it belongs to another device")
        if buffer.freed:
            raise ValueError(f"{self.name}: cannot {action} {buffer!r}: it was already freed (use after free)")

    def _copy_side(self, side: Any, role: str, writable: bool) -> tuple[Buffer | memoryview, int]:
        if isinstance(side, Buffer):
            self._check_buffer(side, f"copy with {role}")
            return side, side.size
        try:
            view = memoryview(side)
        except TypeError:
            raise TypeError(f"{self.name}: copy {role} must be a tinyhw.Buffer or support the buffer protocol, "
                            f"got {type(side).__name__}") from None  # fmt: skip
        if not view.c_contiguous:
            raise ValueError(f"{self.name}: host copy {role} must be C-contiguous")
        if writable and view.readonly:
            raise ValueError(f"{self.name}: host copy destination is read-only")
        return view.cast("B"), view.nbytes

    def __repr__(self) -> str:
        return f"<tinyhw.Device {self.name}: {self.impl.info.name}>"


class _KeywordCaller:
    """Calls pluggy hooks (which take keywords only) with the operations' positional arguments."""

    def __init__(self, hooks: Any) -> None:
        h = hooks
        self.allocate = lambda size, options: h.allocate(size=size, options=options)
        self.free = lambda buffer: h.free(buffer=buffer)
        self.copy = lambda dst, src, size: h.copy(dst=dst, src=src, size=size)
        self.compile = lambda source, entry: h.compile(source=source, entry=entry)
        self.load = lambda binary: h.load(binary=binary)
        self.launch = lambda p, args, g, l: h.launch(program=p, args=args, global_size=g, local_size=l)  # noqa: E741
        self.sync = lambda: h.sync()
        self.close = lambda: h.close()


def _nothing() -> None:
    """The `close` of an implementation that has nothing to release."""


def _check_range(device: str, role: str, offset: int, size: int, length: int) -> None:
    if type(size) is not int or type(offset) is not int or size <= 0 or offset < 0 or offset + size > length:
        raise ValueError(f"{device}: copy of {size!r} bytes at {role} offset {offset!r} "
                         f"does not fit the {role}'s {length} bytes")  # fmt: skip


def _slice(side: Buffer | memoryview, offset: int, size: int) -> Buffer | memoryview:
    if isinstance(side, Buffer):
        return side if offset == 0 and size == side.size else side.view(offset, size)
    return side[offset : offset + size]


def as_size3(size: Any, what: str) -> Size3:
    """`size` (an int or 1 to 3 ints) as an (x, y, z) tuple of positive ints; ValueError otherwise."""
    if type(size) is tuple and len(size) == 3:  # the common case, checked without building anything
        x, y, z = size
        if type(x) is int and type(y) is int and type(z) is int and x > 0 and y > 0 and z > 0:
            return size  # type: ignore[return-value]
    elif type(size) is int and size > 0:
        return (size, 1, 1)
    try:
        dims = tuple(size)
    except TypeError:  # not a sequence (e.g. 2.0): reported below as a bad size, naming `what`
        dims = (size,)
    if not 1 <= len(dims) <= 3 or any(type(d) is not int or d < 1 for d in dims):
        raise ValueError(f"{what} must be 1 to 3 positive ints, got {size!r}")
    return dims + (1,) * (3 - len(dims))  # type: ignore[return-value]
