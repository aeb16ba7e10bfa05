"""WebGPU (webgpu:0) against the CPU device in one run: launch overhead per kernel, copy bandwidth both ways.

python bench/webgpu.py            # needs tinyhw-webgpu and an adapter (lavapipe on a CPU-only machine)
"""

from __future__ import annotations

import os
import time

import numpy as np

import tinyhw
from tinyhw.testing.kernels import kernels_for

LAUNCHES, COPY_BYTES, REPEATS = 2000, 64 << 20, 5


def launch_us(device: tinyhw.Device) -> float:
    """Microseconds per launch of the conformance `empty` kernel, launched back to back and synced once."""
    empty = device.compile(kernels_for(device)["empty"])
    device.launch(empty)
    device.sync()
    start = time.perf_counter()
    for _ in range(LAUNCHES):
        device.launch(empty)
    device.sync()
    return (time.perf_counter() - start) / LAUNCHES * 1e6


def copy_gbs(device: tinyhw.Device) -> tuple[float, float]:
    """GB/s host->device and device->host for COPY_BYTES, best of REPEATS."""
    host, back = np.ones(COPY_BYTES, np.uint8), np.empty(COPY_BYTES, np.uint8)
    buffer = device.allocate(COPY_BYTES)
    best = [float("inf"), float("inf")]
    for _ in range(REPEATS):
        for i, (dst, src) in enumerate(((buffer, host), (back, buffer))):
            start = time.perf_counter()
            device.copy(dst, src)
            device.sync()
            best[i] = min(best[i], time.perf_counter() - start)
    device.free(buffer)
    return COPY_BYTES / best[0] / 1e9, COPY_BYTES / best[1] / 1e9


def main() -> None:
    """Print one row per device, then the WebGPU/CPU ratios."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    rows = {}
    for name in ("cpu", "webgpu"):
        device = tinyhw.Device(name)
        rows[name] = (launch_us(device), *copy_gbs(device))
        print(f"{device.name:10} launch {rows[name][0]:8.1f} us   h->d {rows[name][1]:6.2f} GB/s   "
              f"d->h {rows[name][2]:6.2f} GB/s   ({device.info.name})")  # fmt: skip
        device.close()
    (cl, ch, cd), (wl, wh, wd) = rows["cpu"], rows["webgpu"]
    print(f"webgpu/cpu: launch overhead x{wl / cl:.1f}, h->d x{wh / ch:.2f}, d->h x{wd / cd:.2f}")


if __name__ == "__main__":
    main()
