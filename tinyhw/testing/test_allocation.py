"""Allocation: sizes from 1 byte to 64 MiB, many buffers, reuse, host-visible memory, OOM, views."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw.testing.support import download, random_array, upload

MiB = 1 << 20


@pytest.mark.parametrize("size", [1, 3, 4, 4095, 4096, 4097, MiB + 5, 64 * MiB])
def test_allocate_holds_exactly_what_was_written(tinyhw_device: tinyhw.Device, size: int) -> None:
    data = random_array("uint8", size)
    buffer = upload(tinyhw_device, data)
    assert buffer.size == size and not buffer.is_view
    np.testing.assert_array_equal(download(tinyhw_device, buffer, "uint8"), data)
    tinyhw_device.free(buffer)
    assert buffer.freed


def test_many_small_allocations_do_not_overlap(tinyhw_device: tinyhw.Device) -> None:
    buffers = [upload(tinyhw_device, np.full(4 + i % 13, i, np.uint32)) for i in range(500)]
    for i, buffer in enumerate(buffers):
        assert np.all(download(tinyhw_device, buffer, "uint32") == i), f"buffer {i} was overwritten"
    for buffer in buffers:
        tinyhw_device.free(buffer)


def test_freed_memory_is_reused_safely(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """A buffer freed while a launch still uses it does not disturb that launch or the next owner."""
    fill = tinyhw_kernel("fill_u32")
    old = tinyhw_device.allocate(4096)
    tinyhw_device.launch(fill, old, 7, global_size=1024)
    kept = np.empty(1024, np.uint32)
    tinyhw_device.copy(kept, old)
    tinyhw_device.free(old)
    new = upload(tinyhw_device, np.arange(1024, dtype=np.uint32))
    np.testing.assert_array_equal(download(tinyhw_device, new, "uint32"), np.arange(1024))
    assert np.all(kept == 7)
    tinyhw_device.free(new)


@pytest.mark.tinyhw_requires("host-visible-memory")
@pytest.mark.parametrize("uncached", [False, True])
def test_host_visible_buffers_work_like_any_other(tinyhw_device: tinyhw.Device, tinyhw_kernel, uncached: bool) -> None:
    options = tinyhw.BufferOptions(host_visible=True, uncached=uncached)
    buffer = tinyhw_device.allocate(256 * 4, options)
    assert buffer.options == options
    tinyhw_device.launch(tinyhw_kernel("fill_u32"), buffer, 42, global_size=256)
    assert np.all(download(tinyhw_device, buffer, "uint32") == 42)
    tinyhw_device.free(buffer)


def test_out_of_memory_names_the_size_and_leaves_the_device_usable(tinyhw_device: tinyhw.Device) -> None:
    absurd = 1 << 60
    with pytest.raises(tinyhw.OutOfMemory, match=str(absurd)):
        tinyhw_device.allocate(absurd)
    buffer = upload(tinyhw_device, np.arange(100, dtype=np.int32))
    np.testing.assert_array_equal(download(tinyhw_device, buffer, "int32"), np.arange(100))
    tinyhw_device.free(buffer)


@pytest.mark.parametrize("size", [0, -1, 2.5, "4"])
def test_allocate_rejects_sizes_that_are_not_positive_ints(tinyhw_device: tinyhw.Device, size: object) -> None:
    with pytest.raises(ValueError, match="size"):
        tinyhw_device.allocate(size)  # type: ignore[arg-type]


def test_view_shares_memory_at_its_offset(tinyhw_device: tinyhw.Device) -> None:
    whole = upload(tinyhw_device, np.zeros(1024, np.uint8))
    view = whole.view(256, 128)
    inner = view.view(16, 32)
    assert (view.size, view.is_view, inner.offset - view.offset) == (128, True, 16)
    tinyhw_device.copy(inner, np.full(32, 9, np.uint8))
    expected = np.zeros(1024, np.uint8)
    expected[272:304] = 9
    np.testing.assert_array_equal(download(tinyhw_device, whole, "uint8"), expected)
    np.testing.assert_array_equal(download(tinyhw_device, view, "uint8"), expected[256:384])
    tinyhw_device.free(whole)


def test_kernels_write_through_views(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    whole = upload(tinyhw_device, np.zeros(64, np.uint32))
    tinyhw_device.launch(tinyhw_kernel("fill_u32"), whole.view(40, 16), 5, global_size=4)
    expected = np.zeros(64, np.uint32)
    expected[10:14] = 5
    np.testing.assert_array_equal(download(tinyhw_device, whole, "uint32"), expected)
    tinyhw_device.free(whole)


@pytest.mark.parametrize(("offset", "size"), [(-1, 4), (0, 0), (60, 8), (64, 1)])
def test_view_outside_the_buffer_is_refused(tinyhw_device: tinyhw.Device, offset: int, size: int) -> None:
    whole = tinyhw_device.allocate(64)
    with pytest.raises(ValueError, match="outside"):
        whole.view(offset, size)
    tinyhw_device.free(whole)


def test_views_cannot_be_freed_and_die_with_their_buffer(tinyhw_device: tinyhw.Device) -> None:
    whole = tinyhw_device.allocate(64)
    view = whole.view(8, 8)
    with pytest.raises(ValueError, match="view"):
        tinyhw_device.free(view)
    tinyhw_device.free(whole)
    assert view.freed
