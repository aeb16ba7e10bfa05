"""Errors on bad input: typed, with a useful message, raised before anything is enqueued."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw.testing.support import download, upload

SENTINEL = 0xAB
SIZE = 64


def test_unknown_device_lists_the_available_ones(tinyhw_device: tinyhw.Device) -> None:
    with pytest.raises(tinyhw.DeviceNotFound) as missing:
        tinyhw.Device("no-such-backend")
    assert "available" in str(missing.value) and tinyhw_device.name in str(missing.value)


def test_device_index_out_of_range_is_not_found(tinyhw_device: tinyhw.Device) -> None:
    backend = tinyhw_device.name.partition(":")[0]
    with pytest.raises(tinyhw.DeviceNotFound, match=tinyhw_device.name):
        tinyhw.Device(f"{backend}:{tinyhw_device.backend.device_count()}")


# (direction, size, dst_offset, src_offset) copies that do not fit a 64-byte source or destination
OUT_OF_BOUNDS = [(SIZE + 1, 0, 0), (8, SIZE - 4, 0), (8, 0, SIZE - 4), (0, 0, 0), (-8, 0, 0), (8, -1, 0), (8, 0, -1)]


@pytest.mark.parametrize("direction", ["host->device", "device->device", "device->host"])
@pytest.mark.parametrize(("size", "dst_offset", "src_offset"), OUT_OF_BOUNDS)
def test_copy_outside_a_buffer_is_refused_and_changes_nothing(tinyhw_device: tinyhw.Device, direction: str, size: int,
                                                              dst_offset: int, src_offset: int) -> None:  # fmt: skip
    host_src, host_dst = np.arange(SIZE, dtype=np.uint8), np.full(SIZE, SENTINEL, np.uint8)
    src = upload(tinyhw_device, host_src) if direction.startswith("device") else host_src
    dst = upload(tinyhw_device, host_dst) if direction.endswith("device") else host_dst
    with pytest.raises(ValueError, match="bytes"):
        tinyhw_device.copy(dst, src, size, dst_offset=dst_offset, src_offset=src_offset)
    tinyhw_device.sync()
    result = download(tinyhw_device, dst, "uint8") if isinstance(dst, tinyhw.Buffer) else dst
    assert np.all(result == SENTINEL), "a refused copy still changed its destination"
    for side in (src, dst):
        if isinstance(side, tinyhw.Buffer):
            tinyhw_device.free(side)


@pytest.mark.parametrize(("destination", "error"), [(bytes(SIZE), ValueError), ([0] * SIZE, TypeError)])
def test_host_destinations_must_be_writable_memory(tinyhw_device: tinyhw.Device, destination: object,
                                                   error: type) -> None:  # fmt: skip
    buffer = tinyhw_device.allocate(SIZE)
    with pytest.raises(error):
        tinyhw_device.copy(destination, buffer)
    tinyhw_device.free(buffer)


def test_invalid_kernel_source_is_a_compile_error(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    with pytest.raises(tinyhw.CompileError) as error:
        tinyhw_device.compile("this is not a kernel in any language {{{")
    assert len(str(error.value).strip()) >= 10, f"CompileError without the compiler's message: {error.value!r}"
    assert tinyhw_kernel("empty") is not None  # the compiler still works


WRONG_ARGUMENTS = {
    "too few": (),
    "too many": ("out", 1, 2),
    "buffer for a scalar": ("out", "out"),
    "scalar for a buffer": (1, 1),
    "string for a scalar": ("out", "one"),
}


@pytest.mark.parametrize("why", WRONG_ARGUMENTS)
def test_wrong_arguments_name_the_kernel_signature(tinyhw_device: tinyhw.Device, tinyhw_kernel, why: str) -> None:
    fill = tinyhw_kernel("fill_u32")
    out = upload(tinyhw_device, np.full(4, SENTINEL, np.uint32))
    real = tuple(out if a == "out" else a for a in WRONG_ARGUMENTS[why])
    with pytest.raises(TypeError) as error:
        tinyhw_device.launch(fill, *real, global_size=4)
    assert fill.signature in str(error.value), f"{why}: {error.value}"
    assert np.all(download(tinyhw_device, out, "uint32") == SENTINEL), "a refused launch still ran"
    tinyhw_device.free(out)


@pytest.mark.parametrize("global_size", [0, (4, 0, 1), (-1,), (1, 2, 3, 4), 2.5])
def test_impossible_grid_sizes_are_value_errors(tinyhw_device: tinyhw.Device, tinyhw_kernel, global_size) -> None:
    with pytest.raises(ValueError, match="global_size"):
        tinyhw_device.launch(tinyhw_kernel("empty"), global_size=global_size)
    tinyhw_device.sync()


def _use_copy_in(device: tinyhw.Device, buffer: tinyhw.Buffer, kernel) -> None:
    device.copy(buffer, np.zeros(SIZE, np.uint8))


def _use_copy_out(device: tinyhw.Device, buffer: tinyhw.Buffer, kernel) -> None:
    device.copy(np.zeros(SIZE, np.uint8), buffer)


def _use_copy_between(device: tinyhw.Device, buffer: tinyhw.Buffer, kernel) -> None:
    device.copy(buffer, device.allocate(SIZE))


def _use_launch(device: tinyhw.Device, buffer: tinyhw.Buffer, kernel) -> None:
    device.launch(kernel("fill_u32"), buffer, 1, global_size=SIZE // 4)


def _use_free(device: tinyhw.Device, buffer: tinyhw.Buffer, kernel) -> None:
    device.free(buffer)


def _use_view(device: tinyhw.Device, buffer: tinyhw.Buffer, kernel) -> None:
    device.copy(buffer.view(0, 8), np.zeros(8, np.uint8))


USES = [_use_copy_in, _use_copy_out, _use_copy_between, _use_launch, _use_free, _use_view]


@pytest.mark.parametrize("use", USES, ids=lambda use: use.__name__[5:])
def test_use_after_free_is_a_value_error(tinyhw_device: tinyhw.Device, tinyhw_kernel, use) -> None:
    buffer = tinyhw_device.allocate(SIZE)
    tinyhw_device.free(buffer)
    with pytest.raises(ValueError, match="freed"):
        use(tinyhw_device, buffer, tinyhw_kernel)
    tinyhw_device.sync()


@pytest.mark.parametrize("use", [_use_copy_in, _use_copy_out, _use_free], ids=lambda use: use.__name__[5:])
def test_buffers_of_another_device_are_refused(tinyhw_open, tinyhw_kernel, use) -> None:
    """A buffer kept from a closed device belongs to another device than the one opened after it.

    (Launch arguments are checked for ownership by the validate layer: see test_layers.)
    """
    old = tinyhw_open()
    stale = old.allocate(SIZE)
    new = tinyhw_open()
    with pytest.raises(ValueError, match="another device"):
        use(new, stale, lambda name: tinyhw_kernel(name, new))
    new.sync()


def test_programs_of_another_device_are_refused(tinyhw_open, tinyhw_kernel) -> None:
    old = tinyhw_open()
    program = tinyhw_kernel("empty", old)
    new = tinyhw_open()
    with pytest.raises(ValueError, match="another device"):
        new.launch(program)
