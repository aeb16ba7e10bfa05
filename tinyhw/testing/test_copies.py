"""Copies: host<->device round trips, device->device, offsets on both sides, views, host lifetimes."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw.testing.support import download, random_array, upload

MiB = 1 << 20
BIG = 9 * MiB + 3  # more than two 4 MiB staging chunks, not a multiple of 4


@pytest.mark.parametrize(
    ("dtype", "count"),
    [("uint8", 1), ("uint8", 3), ("uint8", BIG), ("int16", 4097), ("float16", 7), ("float32", 1000),
     ("float64", 3), ("int64", MiB + 1), ("uint32", 5)],
)  # fmt: skip
def test_host_device_host_round_trip(tinyhw_device: tinyhw.Device, dtype: str, count: int) -> None:
    data = random_array(dtype, count)
    buffer = upload(tinyhw_device, data)
    np.testing.assert_array_equal(download(tinyhw_device, buffer, dtype), data)
    tinyhw_device.free(buffer)


@pytest.mark.parametrize("source", [bytes, bytearray, memoryview])
def test_any_host_object_with_the_buffer_protocol_is_a_source(tinyhw_device: tinyhw.Device, source: type) -> None:
    data = bytes(range(200))
    buffer = tinyhw_device.allocate(len(data))
    tinyhw_device.copy(buffer, source(data))
    assert download(tinyhw_device, buffer, "uint8").tobytes() == data
    tinyhw_device.free(buffer)


@pytest.mark.parametrize("size", [1, 4099, BIG])
def test_device_to_device(tinyhw_device: tinyhw.Device, size: int) -> None:
    data = random_array("uint8", size)
    src, dst = upload(tinyhw_device, data), tinyhw_device.allocate(size)
    tinyhw_device.copy(dst, src)
    np.testing.assert_array_equal(download(tinyhw_device, dst, "uint8"), data)
    tinyhw_device.free(src)
    tinyhw_device.free(dst)


@pytest.mark.parametrize("direction", ["host->device", "device->device", "device->host"])
@pytest.mark.parametrize(("dst_offset", "src_offset", "size"), [(17, 33, 100), (0, 5, 1), (4096, 0, 4096 + 3)])
def test_offsets_on_both_sides(tinyhw_device: tinyhw.Device, direction: str, dst_offset: int, src_offset: int,
                               size: int) -> None:  # fmt: skip
    src_data, dst_data = random_array("uint8", 9000, seed=1), random_array("uint8", 9000, seed=2)
    src = upload(tinyhw_device, src_data) if direction.startswith("device") else src_data.copy()
    dst = upload(tinyhw_device, dst_data) if direction.endswith("device") else dst_data.copy()
    tinyhw_device.copy(dst, src, size, dst_offset=dst_offset, src_offset=src_offset)
    result = download(tinyhw_device, dst, "uint8") if direction.endswith("device") else (tinyhw_device.sync(), dst)[1]
    expected = dst_data.copy()
    expected[dst_offset : dst_offset + size] = src_data[src_offset : src_offset + size]
    np.testing.assert_array_equal(result, expected)
    for side in (src, dst):
        if isinstance(side, tinyhw.Buffer):
            tinyhw_device.free(side)


def test_copy_without_size_takes_the_rest_of_the_source(tinyhw_device: tinyhw.Device) -> None:
    buffer = upload(tinyhw_device, np.zeros(10, np.uint8))
    tinyhw_device.copy(buffer, np.arange(10, dtype=np.uint8), src_offset=6)
    np.testing.assert_array_equal(download(tinyhw_device, buffer, "uint8"), [6, 7, 8, 9, 0, 0, 0, 0, 0, 0])
    tinyhw_device.free(buffer)


def test_copies_into_and_out_of_views(tinyhw_device: tinyhw.Device) -> None:
    whole = upload(tinyhw_device, np.zeros(256, np.uint16))
    tinyhw_device.copy(whole.view(100, 40), np.arange(20, dtype=np.uint16))
    other = upload(tinyhw_device, np.zeros(64, np.uint16))
    tinyhw_device.copy(other.view(2, 40), whole.view(100, 40))
    expected = np.zeros(64, np.uint16)
    expected[1:21] = np.arange(20)
    np.testing.assert_array_equal(download(tinyhw_device, other, "uint16"), expected)
    np.testing.assert_array_equal(download(tinyhw_device, whole.view(100, 40), "uint16"), np.arange(20))
    tinyhw_device.free(whole)
    tinyhw_device.free(other)


@pytest.mark.parametrize("size", [64, BIG])
def test_host_source_is_reusable_as_soon_as_copy_returns(tinyhw_device: tinyhw.Device, tinyhw_kernel,
                                                          size: int) -> None:  # fmt: skip
    busy = tinyhw_device.allocate(4 * 4096)
    for _ in range(20):  # keep the device busy so the copy is still pending when the source changes
        tinyhw_device.launch(tinyhw_kernel("increment_u32"), busy, global_size=4096)
    data = random_array("uint8", size)
    original = data.copy()
    buffer = tinyhw_device.allocate(size)
    tinyhw_device.copy(buffer, data)
    data[:] = 0xFF
    np.testing.assert_array_equal(download(tinyhw_device, buffer, "uint8"), original)
    tinyhw_device.free(buffer)
    tinyhw_device.free(busy)


def test_device_to_host_data_arrives_by_sync(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """A kernel's result copied out is in host memory once `sync` returns, for several destinations."""
    data = random_array("uint8", BIG)
    buffer = upload(tinyhw_device, data)
    tinyhw_device.launch(tinyhw_kernel("fill_u32"), buffer.view(4096, 4096), 0x01020304, global_size=1024)
    data[4096:8192] = np.full(1024, 0x01020304, np.uint32).view(np.uint8)
    outs = [np.zeros(BIG, np.uint8) for _ in range(3)]
    for out in outs:
        tinyhw_device.copy(out, buffer)
    tinyhw_device.sync()
    for out in outs:
        np.testing.assert_array_equal(out, data)
    tinyhw_device.free(buffer)
