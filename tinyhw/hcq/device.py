"""HCQDevice: the contract's operations built once on a backend's queues, memory and signals."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from tinyhw.buffer import Buffer, BufferOptions
from tinyhw.errors import DeviceFault, DeviceHang, TinyHWError
from tinyhw.hcq.signal import Signal
from tinyhw.hookspec import hookimpl

if TYPE_CHECKING:
    from tinyhw.backend import DeviceInfo
    from tinyhw.hcq.allocator import Allocation, HCQAllocator
    from tinyhw.hcq.program import HCQProgram
    from tinyhw.hcq.queue import HWQueue

__all__ = ["HCQDevice", "HostRing"]

HOST_VISIBLE = BufferOptions(host_visible=True)
SIGNAL_BYTES = 16
OPERATION_LOG_MASK = 255


class HostRing:
    """A ring of host-visible device memory for short-lived data the device reads (kernel args).

    `take(n)` returns an offset; when the ring wraps, it first waits for every operation
    submitted so far, because those may still read the region about to be overwritten.
    """

    def __init__(self, device: HCQDevice, size: int, align: int = 64) -> None:
        self.device, self.size, self.align, self.head = device, size, align, 0
        self.buffer = device.allocator.alloc(size, HOST_VISIBLE)
        self.allocation: Allocation = self.buffer.handle
        self.view = self.allocation.cpu_view()

    def take(self, nbytes: int) -> int:
        """Offset of `nbytes` free bytes in the ring."""
        start = self.head
        if start + nbytes > self.size:
            self.device.timeline.wait(self.device.timeline_value - 1, queue="kernel argument ring")
            start = 0
        self.head = (start + nbytes + self.align - 1) & ~(self.align - 1)
        return start


class StagingChunk:
    """One chunk of host-visible memory for host<->device copies, and the last timeline value using it."""

    __slots__ = ("buffer", "va", "view", "last_use")

    def __init__(self, buffer: Buffer) -> None:
        self.buffer, self.va, self.view, self.last_use = buffer, buffer.handle.va, buffer.handle.cpu_view(), 0


class HCQDevice(ABC):
    """Base class of command-queue devices: implements allocate, free, copy, compile, load,
    launch and sync from a backend's queue types, allocator, signal memory and program loader.

    One timeline signal per device orders everything: operation n waits for value n-1 and
    signals n, so work on different hardware queues runs in enqueue order. Host-to-device copies
    go through a staging ring of host-visible memory; device-to-host copies land in it and are
    delivered to the caller's memory at `sync`. Execution errors (hangs, faults) are recorded in
    `error` and raised by `sync` and every later operation. Used from one thread at a time.
    Backends set `info` and the two queue classes, and implement the abstract methods.
    """

    compute_queue_type: type[HWQueue]
    copy_queue_type: type[HWQueue]
    staging_chunk = 4 << 20
    staging_chunks = 4
    kernarg_ring_bytes = 1 << 20

    def __init__(self, name: str, info: DeviceInfo, allocator: HCQAllocator) -> None:
        self.name, self.info, self.allocator = name, info, allocator
        self.error: TinyHWError | None = None
        self.timeline_value = 1
        self.operation_log: list[str | None] = [None] * (OPERATION_LOG_MASK + 1)  # queue of each recent value
        self._signal_pages: list[Buffer] = []
        self._free_signal_slots: list[tuple[memoryview, int]] = []
        self.timeline = self.new_signal("timeline")
        self.kernargs = HostRing(self, self.kernarg_ring_bytes)
        self._staging: list[StagingChunk] = []
        self._staging_next = 0
        self._deliveries: list[tuple[int, memoryview, memoryview]] = []

    # -- the contract --

    @hookimpl
    def allocate(self, size: int, options: BufferOptions) -> Buffer:
        self._raise_if_failed()
        return self.allocator.alloc(size, options)

    @hookimpl
    def free(self, buffer: Buffer) -> None:
        self.allocator.free(buffer)

    @hookimpl
    def copy(self, dst: Buffer | memoryview, src: Buffer | memoryview, size: int) -> None:
        self._raise_if_failed()
        if isinstance(src, Buffer) and isinstance(dst, Buffer):
            self._enqueue_copy(_va(dst), _va(src), size)
        elif isinstance(dst, Buffer):
            self._copy_in(_va(dst), src, size)
        else:
            self._copy_out(dst, _va(src), size)

    @hookimpl
    def compile(self, source: str | bytes, entry: str | None) -> bytes:
        return self.compile_binary(source, entry)

    @hookimpl
    def load(self, binary: bytes) -> HCQProgram:
        return self.load_program(binary)

    @hookimpl
    def launch(self, program: HCQProgram, args: tuple, global_size: tuple, local_size: tuple) -> None:
        if self.error is not None:
            raise self.error
        ring = self.kernargs
        offset = ring.take(program.kernarg_size)
        program.pack_into(ring.view, offset, args)
        value = self.timeline_value
        queue = self.compute_queue_type().wait(self.timeline, value - 1)
        queue.exec(program, ring.allocation.va + offset, global_size, local_size)
        queue.signal(self.timeline, value).submit(self)
        self.timeline_value = value + 1
        self.operation_log[value & OPERATION_LOG_MASK] = "compute"  # next_timeline_value, inlined for speed

    @hookimpl
    def sync(self) -> None:
        self._raise_if_failed()
        self.wait_timeline(self.timeline_value - 1)
        self._deliver(self.timeline_value - 1)

    # -- for backends and graphs --

    def new_signal(self, name: str, value: int = 0) -> Signal:
        """A signal in host-visible memory, set to `value`; lives as long as the device."""
        if not self._free_signal_slots:
            page = self.allocator.alloc(4096, BufferOptions(host_visible=True, uncached=True))
            self._signal_pages.append(page)
            view = page.handle.cpu_view()
            self._free_signal_slots = [(view[i : i + SIGNAL_BYTES], page.handle.va + i)
                                       for i in range(0, 4096, SIGNAL_BYTES)][::-1]  # fmt: skip
        memory, va = self._free_signal_slots.pop()
        signal = self.make_signal(name, memory, va)
        signal.value = value
        return signal

    def make_signal(self, name: str, memory: memoryview, va: int) -> Signal:
        """Wrap 16 bytes of signal memory; backends override to return their Signal subclass."""
        return Signal(self.name, name, memory, va)

    def next_timeline_value(self, queue: str) -> int:
        """Reserve the next timeline value for a submission to `queue` ("compute", "copy", ...),
        which must signal it; the name is what a DeviceHang reports if that submission never ends."""
        value = self.timeline_value
        self.timeline_value = value + 1
        self.operation_log[value & OPERATION_LOG_MASK] = queue
        return value

    def wait_timeline(self, value: int) -> None:
        """Block until the timeline reaches `value`; a hang is recorded and raised as DeviceHang."""
        try:
            self.timeline.wait(value)
        except DeviceHang as hang:
            stuck = self.timeline.value + 1
            queue = self.operation_log[stuck & OPERATION_LOG_MASK] if value - stuck <= OPERATION_LOG_MASK else None
            where = f" (the {queue} queue's operation {stuck} never completed)" if queue else ""
            self.error = DeviceHang(f"{hang}{where}")
            raise self.error from None

    def record_fault(self, fault: DeviceFault) -> None:
        """Called by a backend when the device reports an execution fault; raised at the next sync."""
        self.error = fault

    @hookimpl
    def close(self) -> None:
        if self.error is None:
            self.sync()
        for buffer in [self.kernargs.buffer, *self._signal_pages, *(chunk.buffer for chunk in self._staging)]:
            self.allocator.free(buffer)
        if self.error is None:  # a failed device may still touch its memory: leave it mapped, and do not wait
            self.allocator.flush()

    # -- copies through staging memory --

    def _enqueue_copy(self, dst: int, src: int, size: int) -> int:
        value = self.next_timeline_value("copy")
        queue = self.copy_queue_type().wait(self.timeline, value - 1)
        queue.copy(dst, src, size).signal(self.timeline, value).submit(self)
        return value

    def _copy_in(self, dst: int, src: memoryview, size: int) -> None:
        for start in range(0, size, self.staging_chunk):
            n = min(self.staging_chunk, size - start)
            chunk = self._take_staging()
            chunk.view[:n] = src[start : start + n]
            chunk.last_use = self._enqueue_copy(dst + start, chunk.va, n)

    def _copy_out(self, dst: memoryview, src: int, size: int) -> None:
        for start in range(0, size, self.staging_chunk):
            n = min(self.staging_chunk, size - start)
            chunk = self._take_staging()
            chunk.last_use = self._enqueue_copy(chunk.va, src + start, n)
            self._deliveries.append((chunk.last_use, dst[start : start + n], chunk.view[:n]))

    def _take_staging(self) -> StagingChunk:
        """The next staging chunk, once the device and pending deliveries are done with it."""
        if len(self._staging) < self.staging_chunks:
            self._staging.append(StagingChunk(self.allocator.alloc(self.staging_chunk, HOST_VISIBLE)))
        chunk = self._staging[self._staging_next]
        self._staging_next = (self._staging_next + 1) % self.staging_chunks
        if chunk.last_use > self.timeline.value:
            self.wait_timeline(chunk.last_use)
        self._deliver(chunk.last_use)
        return chunk

    def _deliver(self, done: int) -> None:
        """Copy finished device-to-host results (timeline value <= done) to the caller's memory."""
        if not self._deliveries:
            return
        pending = []
        for value, dst, staged in self._deliveries:
            if value <= done:
                dst[:] = staged
            else:
                pending.append((value, dst, staged))
        self._deliveries = pending

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    # -- what a backend implements --

    @abstractmethod
    def compile_binary(self, source: str | bytes, entry: str | None) -> bytes:
        """Compile source in the backend's language to a self-describing binary."""

    @abstractmethod
    def load_program(self, binary: bytes) -> HCQProgram:
        """Load a binary into device memory and return its HCQProgram."""


def _va(buffer: Buffer) -> int:
    handle = buffer.root.handle
    return handle.va + buffer.offset
