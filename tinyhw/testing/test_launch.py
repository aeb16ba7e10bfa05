"""Launches: every conformance kernel computes what its docstring says (see tinyhw.testing.kernels)."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
from tinyhw.testing.kernels import KERNEL_NAMES
from tinyhw.testing.support import download, random_array, upload


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_every_kernel_compiles_with_a_signature(tinyhw_kernel, name: str) -> None:
    program = tinyhw_kernel(name)
    assert isinstance(program, tinyhw.Program)
    assert program.name == name and name in program.signature


def test_empty_kernel_runs(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    for groups in (1, 1000, (7, 3, 2)):
        tinyhw_device.launch(tinyhw_kernel("empty"), global_size=groups)
    tinyhw_device.sync()


@pytest.mark.parametrize("count", [1, 100, 1 << 16])
def test_fill(tinyhw_device: tinyhw.Device, tinyhw_kernel, count: int) -> None:
    out = tinyhw_device.allocate(count * 4)
    tinyhw_device.launch(tinyhw_kernel("fill_u32"), out, 0x7FFF_0001, global_size=count)
    assert np.all(download(tinyhw_device, out, "uint32") == 0x7FFF_0001)
    tinyhw_device.free(out)


def test_add(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    a, b = random_array("float32", 4099, seed=1), random_array("float32", 4099, seed=2)
    da, db, out = upload(tinyhw_device, a), upload(tinyhw_device, b), tinyhw_device.allocate(a.nbytes)
    tinyhw_device.launch(tinyhw_kernel("add_f32"), da, db, out, global_size=a.size)
    np.testing.assert_array_equal(download(tinyhw_device, out, "float32"), a + b)
    for buffer in (da, db, out):
        tinyhw_device.free(buffer)


def test_increment_wraps_like_uint32(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    data = np.array([0, 1, 0xFFFF_FFFE, 0xFFFF_FFFF], np.uint32)
    x = upload(tinyhw_device, data)
    tinyhw_device.launch(tinyhw_kernel("increment_u32"), x, global_size=data.size)
    np.testing.assert_array_equal(download(tinyhw_device, x, "uint32"), data + np.uint32(1))
    tinyhw_device.free(x)


@pytest.mark.parametrize("scale", [2.5, -0.125, 0.0, 3])
def test_scale_takes_a_float_scalar(tinyhw_device: tinyhw.Device, tinyhw_kernel, scale: float) -> None:
    data = random_array("float32", 333)
    x = upload(tinyhw_device, data)
    tinyhw_device.launch(tinyhw_kernel("scale_f32"), x, scale, global_size=data.size)
    np.testing.assert_array_equal(download(tinyhw_device, x, "float32"), data * np.float32(scale))
    tinyhw_device.free(x)


@pytest.mark.parametrize("grid", [(7, 1, 1), (5, 3, 1), (4, 3, 2), (1, 1, 9), (3, 1, 5), (16, 16, 16)])
def test_grid_ids_cover_every_workgroup_once(tinyhw_device: tinyhw.Device, tinyhw_kernel, grid: tuple) -> None:
    total = grid[0] * grid[1] * grid[2]
    out = upload(tinyhw_device, np.full(total, 0xDEAD, np.uint32))
    tinyhw_device.launch(tinyhw_kernel("grid_u32"), out, grid[0], grid[1], global_size=grid)
    np.testing.assert_array_equal(download(tinyhw_device, out, "uint32"), np.arange(total))
    tinyhw_device.free(out)


@pytest.mark.parametrize(("a", "b"), [(-5, -3.7), (2**40 + 3, 1e12 + 0.9), (-(2**63), 2.0**62), (0, -0.0)])
def test_64_bit_scalars_arrive_intact(tinyhw_device: tinyhw.Device, tinyhw_kernel, a: int, b: float) -> None:
    out = upload(tinyhw_device, np.full(3, 77, np.int64))
    tinyhw_device.launch(tinyhw_kernel("scalars_i64"), out, a, b, global_size=4)
    np.testing.assert_array_equal(download(tinyhw_device, out, "int64"), [a, int(b), 77])
    tinyhw_device.free(out)


def test_scalars_are_captured_at_launch(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    """Each launch keeps its own scalar values even when many are in flight."""
    count = 2000
    out = tinyhw_device.allocate(count * 4)
    fill = tinyhw_kernel("fill_u32")
    for i in range(count):
        tinyhw_device.launch(fill, out.view(4 * i, 4), i)
    np.testing.assert_array_equal(download(tinyhw_device, out, "uint32"), np.arange(count))
    tinyhw_device.free(out)


def test_local_size_one_is_accepted_in_every_form(tinyhw_device: tinyhw.Device, tinyhw_kernel) -> None:
    out = tinyhw_device.allocate(16)
    for local in (1, (1,), (1, 1), (1, 1, 1)):
        tinyhw_device.launch(tinyhw_kernel("fill_u32"), out, 3, global_size=4, local_size=local)
    assert np.all(download(tinyhw_device, out, "uint32") == 3)
    tinyhw_device.free(out)
