"""Ordering: launches and copies run in enqueue order, as if one after another, under one sync."""

from __future__ import annotations

import numpy as np

import tinyhw
from tinyhw.testing.support import download, upload

ROUNDS = 200
N = 256


def test_interleaved_launches_and_snapshots(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """Round r increments x, then snapshots it to host array r and to device slot r: all equal r + 1."""
    x = upload(tinyhw_device, np.zeros(N, np.uint32))
    snapshots = tinyhw_device.allocate(ROUNDS * N * 4)
    host = [np.zeros(N, np.uint32) for _ in range(ROUNDS)]
    increment = tinyhw_kernel("increment_u32")
    for r in range(ROUNDS):
        tinyhw_device.launch(increment, x, global_size=N)
        tinyhw_device.copy(host[r], x)
        tinyhw_device.copy(snapshots, x, N * 4, dst_offset=r * N * 4)
    tinyhw_device.sync()
    on_device = download(tinyhw_device, snapshots, "uint32").reshape(ROUNDS, N)
    for r in range(ROUNDS):
        assert np.all(host[r] == r + 1), f"host snapshot {r} holds {host[r][:4]}..., expected {r + 1}"
        assert np.all(on_device[r] == r + 1), f"device snapshot {r} holds {on_device[r][:4]}..., expected {r + 1}"
    tinyhw_device.free(x)
    tinyhw_device.free(snapshots)


def test_uploads_between_launches_are_ordered(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """Round r uploads r, scales by 2, adds the previous result: a read-after-write chain."""
    x, total = tinyhw_device.allocate(N * 4), upload(tinyhw_device, np.zeros(N, np.float32))
    add, scale = tinyhw_kernel("add_f32"), tinyhw_kernel("scale_f32")
    for r in range(ROUNDS):
        tinyhw_device.copy(x, np.full(N, r, np.float32))
        tinyhw_device.launch(scale, x, 2.0, global_size=N)
        tinyhw_device.launch(add, x, total, total, global_size=N)
    assert np.all(download(tinyhw_device, total, "float32") == 2 * sum(range(ROUNDS)))
    tinyhw_device.free(x)
    tinyhw_device.free(total)


def test_device_to_device_copies_chain(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """Copy a -> b, increment b, copy b -> a, repeatedly: each step sees the previous one's result."""
    a, b = upload(tinyhw_device, np.zeros(N, np.uint32)), tinyhw_device.allocate(N * 4)
    increment = tinyhw_kernel("increment_u32")
    for _ in range(ROUNDS):
        tinyhw_device.copy(b, a)
        tinyhw_device.launch(increment, b, global_size=N)
        tinyhw_device.copy(a, b)
    assert np.all(download(tinyhw_device, a, "uint32") == ROUNDS)
    tinyhw_device.free(a)
    tinyhw_device.free(b)


def test_many_launches_then_one_sync(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """Far more launches than fit any reasonable command or argument ring, with no sync between."""
    count = 20_000
    x = upload(tinyhw_device, np.zeros(4, np.uint32))
    increment = tinyhw_kernel("increment_u32")
    for _ in range(count):
        tinyhw_device.launch(increment, x, global_size=4)
    assert np.all(download(tinyhw_device, x, "uint32") == count)
    tinyhw_device.free(x)


def test_sync_with_nothing_enqueued_returns(tinyhw_device: tinyhw.Device) -> None:
    for _ in range(3):
        tinyhw_device.sync()
