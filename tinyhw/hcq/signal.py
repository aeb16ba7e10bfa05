"""Timeline signals: 64-bit values in memory that the host and the device both see."""

from __future__ import annotations

import os
import time

from tinyhw.errors import DeviceHang

__all__ = ["Signal", "wait_timeout_ms"]

DEFAULT_WAIT_TIMEOUT_MS = 30_000


def wait_timeout_ms() -> int:
    """The progress timeout for waits: `TINYHW_WAIT_TIMEOUT_MS`, default 30 s."""
    value = os.environ.get("TINYHW_WAIT_TIMEOUT_MS", "")
    return int(value) if value.isdigit() else DEFAULT_WAIT_TIMEOUT_MS


class Signal:
    """A 64-bit monotonic timeline value plus a 64-bit timestamp, in host-visible device memory.

    The device writes the value (a queue's `signal` command) and the timestamp (`timestamp`);
    the host reads them, and may set the value to release a device waiting on it. "Wait for v"
    always means "until value >= v". Owned by the device that created it, for the device's
    lifetime; reading from several threads is safe. A hang is reported by `wait` as DeviceHang.
    Nearest equivalents: a Vulkan timeline semaphore; an HSA signal.

    Backends whose device can interrupt the host (KFD events, a CPU worker's condition variable)
    override `_block`; the default sleeps with exponential back-off.
    """

    __slots__ = ("device", "name", "va", "_slots", "_ticks_per_us")

    def __init__(self, device: str, name: str, memory: memoryview, va: int, ticks_per_us: float = 1000.0) -> None:
        """memory: 16 host-visible bytes (value, timestamp); va: their device address."""
        self.device, self.name, self.va, self._ticks_per_us = device, name, va, ticks_per_us
        self._slots = memory.cast("B").cast("Q")

    @property
    def value(self) -> int:
        """The current 64-bit value."""
        return self._slots[0]

    @value.setter
    def value(self, new: int) -> None:
        self._slots[0] = new

    @property
    def timestamp_us(self) -> float:
        """The last timestamp the device wrote, in microseconds of the device's clock."""
        return self._slots[1] / self._ticks_per_us

    def wait(self, value: int, timeout_ms: int | None = None, queue: str = "") -> None:
        """Block until the value is >= `value`; interruptible with Ctrl-C.

        The timeout (default `TINYHW_WAIT_TIMEOUT_MS`) measures lack of progress: it restarts
        whenever the value moves. On expiry raises DeviceHang naming device, queue, the expected
        and the last-seen value.
        """
        seen = self._slots[0]
        if seen >= value:
            return
        limit = (wait_timeout_ms() if timeout_ms is None else timeout_ms) / 1000
        deadline, pause = time.monotonic() + limit, 0.0
        while (now := self._slots[0]) < value:
            if now != seen:
                seen, deadline, pause = now, time.monotonic() + limit, 0.0
            elif time.monotonic() > deadline:
                raise DeviceHang(self._hang_message(value, seen, limit, queue))
            pause = min(max(pause * 2, 1e-5), 1e-3)
            self._block(value, pause)

    def _block(self, value: int, seconds: float) -> None:
        """Pause up to `seconds` while the value may still be below `value` (override to sleep smarter)."""
        time.sleep(seconds)

    def _hang_message(self, value: int, seen: int, limit: float, queue: str) -> str:
        where = f" on the {queue} queue" if queue else ""
        return (f"{self.device}: {self.name} signal{where} stuck at {seen}, expected >= {value}: "
                f"no progress for {limit * 1000:.0f} ms (TINYHW_WAIT_TIMEOUT_MS)")  # fmt: skip

    def __repr__(self) -> str:
        return f"<Signal {self.device} {self.name}={self.value}>"
