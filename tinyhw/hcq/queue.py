"""Hardware command queues: a fluent builder of the packets a device's command processor runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from tinyhw.hcq.signal import Signal

__all__ = ["HWQueue", "Sym"]


class Sym:
    """A symbolic 64-bit value in a command stream, given at `submit` and patched in place.

    `Sym("base") + 1` is allowed, so one variable can feed several commands (e.g. a timeline
    base value waited on and signalled as base+1).
    """

    __slots__ = ("name", "offset")

    def __init__(self, name: str, offset: int = 0) -> None:
        self.name, self.offset = name, offset

    def __add__(self, other: int) -> Sym:
        return Sym(self.name, self.offset + other)

    def resolve(self, values: dict[str, int]) -> int:
        """The concrete value under `values`; KeyError names a missing variable."""
        try:
            return values[self.name] + self.offset
        except KeyError:
            raise KeyError(f"no value given for symbolic {self.name!r}") from None

    def __repr__(self) -> str:
        return f"Sym({self.name!r}{f' + {self.offset}' if self.offset else ''})"


class HWQueue(ABC):
    """A list of commands for one hardware queue, built fluently and submitted to a device.

    The backend subclass encodes each command in its packet format (PM4, SDMA, GPFIFO, Adreno
    CP, the CPU worker's words) as 32-bit words via `_emit`. Values that change between
    submissions are given as `Sym` and patched in place at `submit`, never re-encoded. `bind`
    places the encoded stream in device memory once, so later submissions only point the device
    at it. A queue object is built and submitted by one thread; the device's ring is the shared
    resource and is locked by the device. Nearest equivalents: a Vulkan command buffer; an HSA
    AQL packet sequence.

    Commands a hardware queue cannot run (a copy on a compute-only engine) raise TypeError.
    """

    __slots__ = ("words", "_patches", "_bound")

    submit_copies_commands = False
    """True when `submit` hands the device a copy of the commands (written into its ring), so a
    bound queue may be patched and submitted again while the previous submission still runs."""

    def __init__(self) -> None:
        self.words: list[int] = []
        self._patches: list[tuple[int, Sym, int]] = []
        self._bound: Any = None

    # -- the commands: each returns the queue so a submission reads as one chain --

    def wait(self, signal: Signal, value: int | Sym) -> Self:
        """Stall the queue until `signal` >= `value`."""
        self._wait(signal, value)
        return self

    def signal(self, signal: Signal, value: int | Sym) -> Self:
        """Set `signal` to `value` once all previous commands completed."""
        self._signal(signal, value)
        return self

    def timestamp(self, signal: Signal) -> Self:
        """Write the device clock into `signal`'s timestamp once previous commands completed."""
        self._timestamp(signal)
        return self

    def exec(self, program: Any, kernargs: int, global_size: tuple, local_size: tuple) -> Self:
        """Run `program` with its arguments at device address `kernargs` over a grid of workgroups."""
        self._exec(program, kernargs, global_size, local_size)
        return self

    def copy(self, dst: int | Sym, src: int | Sym, size: int) -> Self:
        """Copy `size` bytes between device addresses."""
        self._copy(dst, src, size)
        return self

    def memory_barrier(self) -> Self:
        """Make writes of previous commands visible to later commands and to the host."""
        self._memory_barrier()
        return self

    def bind(self, device: Any) -> Self:
        """Place the encoded commands in device memory once; later patches write there."""
        self._bound = self._bind(device)
        return self

    def submit(self, device: Any, values: dict[str, int] | None = None) -> Self:
        """Patch symbolic values with `values`, then hand the commands to `device`'s hardware queue."""
        if self._patches:
            target = self.words if self._bound is None else self._bound
            for index, sym, shift in self._patches:
                target[index] = (sym.resolve(values or {}) >> shift) & 0xFFFFFFFF
        self._submit(device)
        return self

    # -- encoding helpers for backends --

    def _emit(self, *words: int) -> None:
        """Append 32-bit words."""
        self.words.extend(words)

    def _emit64(self, value: int | Sym) -> None:
        """Append a 64-bit value as (low, high) words, recording patches for a Sym."""
        if type(value) is int:
            self.words += (value & 0xFFFFFFFF, value >> 32)
            return
        self._patches += [(len(self.words), value, 0), (len(self.words) + 1, value, 32)]
        self.words += (0, 0)

    def _emit32(self, value: int | Sym) -> None:
        """Append a 32-bit value, recording a patch for a Sym."""
        if isinstance(value, Sym):
            self._patches.append((len(self.words), value, 0))
            value = 0
        self.words.append(value & 0xFFFFFFFF)

    # -- what a backend implements --

    def _wait(self, signal: Signal, value: int | Sym) -> None:
        raise TypeError(f"{type(self).__name__} cannot wait on signals")

    def _signal(self, signal: Signal, value: int | Sym) -> None:
        raise TypeError(f"{type(self).__name__} cannot write signals")

    def _timestamp(self, signal: Signal) -> None:
        raise TypeError(f"{type(self).__name__} cannot write timestamps")

    def _exec(self, program: Any, kernargs: int, global_size: tuple, local_size: tuple) -> None:
        raise TypeError(f"{type(self).__name__} cannot run kernels")

    def _copy(self, dst: int | Sym, src: int | Sym, size: int) -> None:
        raise TypeError(f"{type(self).__name__} cannot copy memory")

    def _memory_barrier(self) -> None:
        """Default: nothing to do, for queues whose commands are already ordered and coherent."""
        return None

    def _bind(self, device: Any) -> Any:
        """Copy `words` into device memory; return a writable uint32 view of them."""
        raise TypeError(f"{type(self).__name__} cannot be bound")

    @abstractmethod
    def _submit(self, device: Any) -> None:
        """Hand the commands (or, once bound, a pointer to them) to the device and ring its doorbell."""
