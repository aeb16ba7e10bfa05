"""What a WebGPU `sync` waits for: staging buffers to map, with a timeout.

wgpu's map wait (`GPUPromise.sync_wait`) cannot be bounded, so each map is waited for on a
daemon thread and `sync` waits for that thread's event, up to `TINYHW_WAIT_TIMEOUT_MS` (default
30 s) in all. On expiry it raises DeviceHang and keeps the unfinished maps, so the next sync waits
for the same work again instead of losing readbacks.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import wgpu

from tinyhw import DeviceFault, DeviceHang
from tinyhw.hcq.signal import wait_timeout_ms

__all__ = ["Waits"]


class _Map:
    """One staging buffer being mapped for reading, and where its bytes go (None for a fence)."""

    __slots__ = ("staging", "target", "done", "error")

    def __init__(self, staging: Any, target: tuple[memoryview, int, int] | None) -> None:
        self.staging, self.target, self.done, self.error = staging, target, threading.Event(), None
        try:
            promise = staging.map_async(wgpu.MapMode.READ)
        except (wgpu.GPUError, RuntimeError) as exc:
            self.error = exc
            self.done.set()
            return
        threading.Thread(target=self._wait, args=(promise,), daemon=True).start()

    def _wait(self, promise: Any) -> None:
        try:
            promise.sync_wait()
        except Exception as exc:  # reported by `finish` on the waiting thread
            self.error = exc
        self.done.set()

    def finish(self, device: str) -> None:
        """Copy the mapped bytes to their destination and unmap; DeviceFault if mapping failed."""
        if self.error is not None:
            raise DeviceFault(f"{device}: waiting for the GPU failed (device lost?): {self.error}")
        if self.target is not None:
            host, skip, size = self.target
            host[:] = self.staging.read_mapped(copy=False)[skip : skip + size]
        self.staging.unmap()


class Waits:
    """A device's readbacks recorded since the last sync, and the maps a sync has started but not finished."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.readbacks: list[tuple[Any, memoryview, int, int]] = []
        """(staging buffer, host destination, bytes to skip, size) per device->host copy since the last sync."""
        self.maps: list[_Map] = []

    def fence(self, staging: Any) -> None:
        """Start mapping the readbacks, then `staging`, which the last submission writes."""
        self.maps += [_Map(buffer, (host, skip, size)) for buffer, host, skip, size in self.readbacks]
        self.maps.append(_Map(staging, None))
        self.readbacks.clear()

    def wait(self) -> None:
        """Block until every started map is done, copying readbacks to the host; DeviceHang after the timeout."""
        limit = wait_timeout_ms()
        deadline = time.monotonic() + limit / 1000
        while self.maps:
            if not self.maps[0].done.wait(max(0.0, deadline - time.monotonic())):
                raise DeviceHang(
                    f"{self.device}: submitted work did not finish within {limit} ms (TINYHW_WAIT_TIMEOUT_MS); "
                    f"the GPU is hung or a kernel runs longer than that ({len(self.maps)} waits pending)"
                )
            self.maps.pop(0).finish(self.device)
