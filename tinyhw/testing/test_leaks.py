"""Leaks: memory and threads stay flat across allocate/free and open/close loops; validate reports leaks."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import tinyhw
from tinyhw.testing.support import download, resident_bytes, upload

MiB = 1 << 20
SIZES = (MiB, MiB + 4096, 3 * 65536, 4096)


def churn(device: tinyhw.Device, rounds: int) -> None:
    """Allocate, write, read back and free buffers of a few sizes, `rounds` times."""
    for i in range(rounds):
        buffer = device.allocate(SIZES[i % len(SIZES)])
        device.copy(buffer, np.full(4096, i % 251, np.uint8), 4096)
        assert download(device, buffer, "uint8", 4096)[0] == i % 251
        device.free(buffer)


def test_allocate_free_loop_does_not_grow_memory(tinyhw_open) -> None:
    device = tinyhw_open()
    churn(device, 50)  # warm up caches and staging memory
    before = resident_bytes()
    churn(device, 1000)
    growth = resident_bytes() - before
    assert growth < 32 * MiB, f"1000 allocate/free rounds grew resident memory by {growth / MiB:.1f} MiB"


def test_open_close_loop_releases_memory_and_threads(tinyhw_open) -> None:
    def cycle() -> None:
        device = tinyhw_open()
        buffer = upload(device, np.arange(2 * MiB, dtype=np.uint32))
        assert download(device, buffer, "uint32")[-1] == 2 * MiB - 1
        device.free(buffer)
        device.close()

    cycle()
    before, threads = resident_bytes(), threading.active_count()
    for _ in range(15):
        cycle()
    growth = resident_bytes() - before
    assert growth < 64 * MiB, f"15 open/close cycles grew resident memory by {growth / MiB:.1f} MiB"
    assert threading.active_count() <= threads, f"threads grew from {threads} to {threading.active_count()}"


def test_validate_layer_reports_buffers_never_freed(tinyhw_open, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyhw.layers.validate import LeakWarning

    monkeypatch.setenv("TINYHW_LAYERS", "validate")
    device = tinyhw_open()
    device.free(device.allocate(64))
    device.allocate(1234)
    with pytest.warns(LeakWarning, match="never freed"):
        device.close()


def test_validate_layer_is_quiet_when_everything_was_freed(tinyhw_open, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyhw.layers.validate import LeakWarning

    monkeypatch.setenv("TINYHW_LAYERS", "validate")
    device = tinyhw_open()
    buffers = [device.allocate(64 + i) for i in range(10)]
    for buffer in buffers:
        device.free(buffer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeakWarning)
        device.close()
