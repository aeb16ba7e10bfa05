"""Signals and timeouts on command-queue devices: hangs, host release, timestamps, progress, Ctrl-C.

These tests drive `dev.impl` (an `HCQDevice`) directly: a queue that waits on a signal nobody
signals is how a real hang looks to the host.
"""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import tinyhw
from tinyhw.hcq import Signal
from tinyhw.testing.support import download, upload

pytestmark = pytest.mark.tinyhw_requires("hcq")

TIMEOUT_MS = 200


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> int:
    """Waits give up after 200 ms without progress."""
    monkeypatch.setenv("TINYHW_WAIT_TIMEOUT_MS", str(TIMEOUT_MS))
    return TIMEOUT_MS


def block_timeline_on(device: tinyhw.Device, signal: Signal, value: int = 1) -> int:
    """Enqueue a submission that waits for `signal` >= `value`; returns the timeline value it signals."""
    impl = device.impl
    step = impl.next_timeline_value("compute")
    queue = impl.compute_queue_type().wait(impl.timeline, step - 1).wait(signal, value)
    queue.signal(impl.timeline, step).submit(impl)
    return step


def later(seconds: float, action: Callable[[], object]) -> threading.Timer:
    """Run `action` on another thread after `seconds`."""
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def test_hang_raises_device_hang_naming_device_and_values(tinyhw_open, short_timeout: int) -> None:
    device = tinyhw_open()
    step = block_timeline_on(device, device.impl.new_signal("never signalled"))
    start = time.monotonic()
    with pytest.raises(tinyhw.DeviceHang) as hang:
        device.sync()
    elapsed = time.monotonic() - start
    message = str(hang.value)
    assert device.name in message and str(step) in message and str(step - 1) in message, message
    assert "compute queue" in message, message
    assert short_timeout / 1000 * 0.9 <= elapsed < 10, f"hang reported after {elapsed:.2f} s"


def test_a_hung_device_stays_failed_and_closes_promptly(tinyhw_open, short_timeout: int) -> None:
    device = tinyhw_open()
    block_timeline_on(device, device.impl.new_signal("never signalled"))
    with pytest.raises(tinyhw.DeviceHang):
        device.sync()
    with pytest.raises(tinyhw.DeviceHang):
        device.sync()
    closer = threading.Thread(target=device.close, daemon=True)
    closer.start()
    closer.join(timeout=10)
    assert not closer.is_alive(), f"close() of the hung {device.name} did not return within 10 s"


def test_the_process_recovers_with_a_freshly_opened_device(tinyhw_open, tinyhw_kernel, short_timeout: int) -> None:
    hung = tinyhw_open()
    block_timeline_on(hung, hung.impl.new_signal("never signalled"))
    with pytest.raises(tinyhw.DeviceHang):
        hung.sync()
    fresh = tinyhw_open()
    assert fresh is not hung
    out = fresh.allocate(64 * 4)
    fresh.launch(tinyhw_kernel("fill_u32", fresh), out, 11, global_size=64)
    assert np.all(download(fresh, out, "uint32") == 11)
    fresh.free(out)


def test_a_signal_set_from_the_host_releases_a_waiting_queue(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    gate = tinyhw_device.impl.new_signal("gate")
    step = block_timeline_on(tinyhw_device, gate)
    out = upload(tinyhw_device, np.zeros(16, np.uint32))
    tinyhw_device.launch(tinyhw_kernel("fill_u32"), out, 5, global_size=16)
    time.sleep(0.05)
    assert tinyhw_device.impl.timeline.value < step, "the queue ran past a wait on a signal nobody set"
    gate.value = 1
    assert np.all(download(tinyhw_device, out, "uint32") == 5)
    tinyhw_device.free(out)


def test_timestamps_are_written_in_microseconds_and_increase(tinyhw_device: tinyhw.Device) -> None:
    impl = tinyhw_device.impl
    first, second, gate = impl.new_signal("first"), impl.new_signal("second"), impl.new_signal("gate")
    step = impl.next_timeline_value("compute")
    queue = impl.compute_queue_type().wait(impl.timeline, step - 1).timestamp(first).wait(gate, 1).timestamp(second)
    queue.signal(impl.timeline, step).submit(impl)
    later(0.05, lambda: setattr(gate, "value", 1))
    tinyhw_device.sync()
    gap_us = second.timestamp_us - first.timestamp_us
    assert first.timestamp_us > 0, "no timestamp was written"
    assert 25_000 <= gap_us < 10_000_000, f"50 ms between timestamps measured as {gap_us:.0f} us"


def test_progress_keeps_a_wait_alive_beyond_the_timeout(tinyhw_device: tinyhw.Device, short_timeout: int) -> None:
    signal = tinyhw_device.impl.new_signal("progress")
    steps = 8

    def advance() -> None:
        for _ in range(steps):
            time.sleep(short_timeout / 1000 / 2)
            signal.value += 1

    worker = threading.Thread(target=advance, daemon=True)
    start = time.monotonic()
    worker.start()
    signal.wait(steps)
    assert time.monotonic() - start > 2 * short_timeout / 1000
    worker.join()


def test_a_wait_without_progress_times_out_with_the_values(tinyhw_device: tinyhw.Device, short_timeout: int) -> None:
    signal = tinyhw_device.impl.new_signal("stalled", 3)
    with pytest.raises(tinyhw.DeviceHang, match="stalled") as hang:
        signal.wait(4)
    assert "3" in str(hang.value) and "4" in str(hang.value)


def test_ctrl_c_interrupts_a_wait_and_the_device_recovers(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    gate = tinyhw_device.impl.new_signal("gate")
    block_timeline_on(tinyhw_device, gate)
    timer = later(0.2, _thread.interrupt_main)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        tinyhw_device.sync()
    timer.join()
    assert time.monotonic() - start < 2, "Ctrl-C took more than 2 s to interrupt sync()"
    gate.value = 1
    out = tinyhw_device.allocate(8 * 4)
    tinyhw_device.launch(tinyhw_kernel("fill_u32"), out, 8, global_size=8)
    assert np.all(download(tinyhw_device, out, "uint32") == 8)
    tinyhw_device.free(out)
