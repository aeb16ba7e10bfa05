"""The CPU device's command queue and the worker thread that plays its command processor.

Commands are 32-bit words, as on a GPU ring, so queues bind, patch and replay exactly like
hardware queues. Each command is an opcode word followed by 64-bit operands as (low, high):

    WAIT      signal_va, value            stall until *signal_va >= value
    SIGNAL    signal_va, value            *signal_va = value; wake host waiters
    TIMESTAMP signal_va                   *(signal_va + 8) = monotonic ns
    EXEC      entry, kernargs, gx, gy, gz run the kernel's entry over gx*gy*gz workgroups
    COPY      dst, src, size              memmove
"""

from __future__ import annotations

import ctypes
import threading
import time
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

import cffi

from tinyhw.cpu.team import Team
from tinyhw.errors import DeviceFault
from tinyhw.hcq.queue import HWQueue, Sym

if TYPE_CHECKING:
    from tinyhw.hcq.signal import Signal

__all__ = ["CPUQueue", "CommandProcessor"]

WAIT, SIGNAL, TIMESTAMP, EXEC, COPY = 1, 2, 3, 4, 5
LENGTHS = {WAIT: 5, SIGNAL: 5, TIMESTAMP: 3, EXEC: 8, COPY: 7}
SPLIT_SECONDS = 20e-6
"""A launch is spread over the cores only when its workgroups took longer than this on one core
(handing parts to the team costs a few microseconds while it polls, tens when it must be woken)."""

INLINE_SECONDS = 20e-6
INLINE_COPY_BYTES = 1 << 20
INLINE_WORDS = 64
"""An idle processor runs submissions of up to INLINE_WORDS words on the submitting thread, as far as
their kernels were measured below INLINE_SECONDS and their copies are up to INLINE_COPY_BYTES: waking
the worker thread and then the waiting host costs more."""

_ffi = cffi.FFI()  # cffi calls cost about half of ctypes' and release the GIL like them
ENTRY_TYPE = "void(*)(uint64_t kernargs, int32_t start, int32_t end, int32_t groups_x, int32_t groups_y)"


class CPUQueue(HWQueue):
    """A queue of CPU commands; runs kernels, copies and signals alike, in order."""

    __slots__ = ()
    submit_copies_commands = True

    def _wait(self, signal: Signal, value: int | Sym) -> None:
        self._emit(WAIT)
        self._emit64(signal.va)
        self._emit64(value)

    def _signal(self, signal: Signal, value: int | Sym) -> None:
        self._emit(SIGNAL)
        self._emit64(signal.va)
        self._emit64(value)

    def _timestamp(self, signal: Signal) -> None:
        self._emit(TIMESTAMP)
        self._emit64(signal.va)

    def _exec(self, program: Any, kernargs: int, global_size: tuple, local_size: tuple) -> None:
        self._emit(EXEC)
        self._emit64(program.entry)
        self._emit64(kernargs)
        self._emit(*global_size)

    def _copy(self, dst: int | Sym, src: int | Sym, size: int) -> None:
        self._emit(COPY)
        self._emit64(dst)
        self._emit64(src)
        self._emit64(size)

    def _bind(self, device: Any) -> Any:
        return list(self.words)

    def _submit(self, device: Any) -> None:
        device.processor.ring(list(self.words if self._bound is None else self._bound))


class _Abandoned(Exception):
    """Raised inside the processor when the device closes while a WAIT is still unmet."""


class CommandProcessor:
    """Executes submitted command words on a worker thread; kernels run on all cores
    through a `Team` of helper threads.

    A fault (a bad opcode, an exception in a command) stops the processor: it is reported to
    the device, and host waits raise it instead of timing out.
    """

    def __init__(self, name: str, threads: int, on_fault: Any) -> None:
        self.name, self.threads, self.on_fault = name, threads, on_fault
        self.wakeup = threading.Condition()
        self._doorbell: SimpleQueue[list[int] | None] = SimpleQueue()
        self._entries: dict[int, Any] = {}
        self._words64: dict[int, Any] = {}
        self._cost: dict[int, float] = {}  # seconds per workgroup of each kernel, from its last run
        self._team = Team(name, threads - 1)
        self._stopping = False
        self._submitted = self._completed = 0  # hand-offs to the worker; each counter has one writer
        self._thread = threading.Thread(target=self._run, name=f"{name}-cp", daemon=True)
        self._thread.start()

    def ring(self, words: list[int]) -> None:
        """Hand a command stream to the processor (the doorbell).

        When the processor is idle, a short submission's cheap leading commands (known-short
        kernels, small copies, satisfied waits, signals) run right here on the submitting thread —
        a hand-off to the worker costs more than they do; the rest goes to the worker, in order.
        Long submissions (graphs) go to the worker, so the host prepares the next one meanwhile.
        """
        if self._submitted == self._completed and len(words) <= INLINE_WORDS:
            try:
                start = self._execute_inline(words)
            except Exception as exc:
                self._fault(exc)
                return
            if start == len(words):
                return
            words = words[start:]
        self._submitted += 1
        self._doorbell.put(words)

    def stop(self) -> bool:
        """Stop: work behind an unmet WAIT is abandoned. False if a kernel is still running after 1 s
        (its daemon thread is left behind, and the caller must keep its code and memory mapped)."""
        self._stopping = True
        self._doorbell.put(None)
        self._thread.join(timeout=1.0)
        self._team.stop()
        return not self._thread.is_alive()

    def _run(self) -> None:
        while (words := self._doorbell.get()) is not None:
            if len(words) > INLINE_WORDS:
                self._team.wake()
            try:
                self._execute(words)
            except _Abandoned:
                return
            except Exception as exc:
                self._fault(exc)
                return
            self._completed += 1

    def _fault(self, exc: Exception) -> None:
        self.on_fault(DeviceFault(f"{self.name}: command processor fault: {exc!r}"))
        with self.wakeup:
            self.wakeup.notify_all()

    def _execute(self, w: list[int]) -> None:
        i, n = 0, len(w)
        while i < n:
            i += self._step(w[i], w, i)

    def _execute_inline(self, w: list[int]) -> int:
        """Run commands while each is cheap; the index of the first one left for the worker."""
        i, n = 0, len(w)
        while i < n and self._cheap(w[i], w, i):
            i += self._step(w[i], w, i)
        return i

    def _cheap(self, op: int, w: list[int], i: int) -> bool:
        if op == EXEC:
            cost = self._cost.get(w[i + 1] | w[i + 2] << 32)
            return cost is not None and cost * w[i + 5] * w[i + 6] * w[i + 7] < INLINE_SECONDS
        if op == WAIT:
            return self._word64(w[i + 1] | w[i + 2] << 32)[0] >= (w[i + 3] | w[i + 4] << 32)
        return op != COPY or (w[i + 5] | w[i + 6] << 32) <= INLINE_COPY_BYTES

    def _step(self, op: int, w: list[int], i: int) -> int:
        """Execute the command at word i; its length in words."""
        if op == EXEC:
            self._exec(w[i + 1] | w[i + 2] << 32, w[i + 3] | w[i + 4] << 32, w[i + 5], w[i + 6], w[i + 7])
        elif op == SIGNAL:
            self._word64(w[i + 1] | w[i + 2] << 32)[0] = w[i + 3] | w[i + 4] << 32
            with self.wakeup:
                self.wakeup.notify_all()
        elif op == WAIT:
            self._wait(w[i + 1] | w[i + 2] << 32, w[i + 3] | w[i + 4] << 32)
        elif op == COPY:
            ctypes.memmove(w[i + 1] | w[i + 2] << 32, w[i + 3] | w[i + 4] << 32, w[i + 5] | w[i + 6] << 32)
        elif op == TIMESTAMP:
            self._word64((w[i + 1] | w[i + 2] << 32) + 8)[0] = time.perf_counter_ns()
        else:
            raise ValueError(f"unknown opcode {op} at word {i}")
        return LENGTHS[op]

    def _word64(self, address: int) -> Any:
        """A cached uint64 pointer to `address` (signal values and timestamps)."""
        pointer = self._words64.get(address)
        if pointer is None:
            pointer = self._words64[address] = _ffi.cast("uint64_t *", address)
        return pointer

    def _wait(self, address: int, value: int) -> None:
        current = self._word64(address)
        while current[0] < value:
            if self._stopping:
                raise _Abandoned  # the device is closing: run nothing after this wait
            with self.wakeup:
                self.wakeup.wait(0.001)

    def _exec(self, entry: int, kernargs: int, gx: int, gy: int, gz: int) -> None:
        """Run all workgroups; spread them over the cores when the kernel's measured cost is worth it."""
        function = self._entries.get(entry) or self._function(entry)
        total = gx * gy * gz
        parts = min(self.threads, total)
        if parts == 1 or self._cost.get(entry, SPLIT_SECONDS) * total < SPLIT_SECONDS:
            start = time.perf_counter()
            function(kernargs, 0, total, gx, gy)
            self._cost[entry] = (time.perf_counter() - start) / total
            return
        bounds = [total * k // parts for k in range(parts + 1)]
        start = time.perf_counter()
        self._team.run(function, entry, kernargs, bounds, gx, gy)
        self._cost[entry] = (time.perf_counter() - start) / bounds[1]

    def _function(self, entry: int) -> Any:
        function = self._entries[entry] = _ffi.cast(ENTRY_TYPE, entry)
        return function
