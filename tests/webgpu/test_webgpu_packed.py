"""bool, 8- and 16-bit integers and float16 on webgpu:0: packed in 32-bit words, results equal to numpy's."""

from __future__ import annotations

import numpy as np
import pytest
from webgpu_support import run_kernel

import tinyhw
from tinyhw.kernel.dtypes import bool_, float16, int8, int16, int32, uint8, uint16
from tinyhw.kernel.ir import KernelBuilder

N = 37
"""Elements per test: not a multiple of 4, and one work-item each, so neighbours share words."""


@pytest.mark.parametrize("dtype", [int8, uint8, int16, uint16], ids=lambda d: d.name)
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_small_integers_wrap_like_numpy(webgpu: tinyhw.Device, dtype, offset: int) -> None:
    k = KernelBuilder(f"ints_{dtype.name}")
    a, b, out = k.buffer("a", dtype), k.buffer("b", dtype), k.buffer("out", dtype)
    i = k.group_id(0)
    k.store(out, i, a[i] * 3 + b[i] - (a[i] >> 1) + (a[i] ^ b[i]))
    rng = np.random.default_rng(offset)
    info = np.iinfo(dtype.numpy)
    xa, xb = (rng.integers(info.min, info.max, N, endpoint=True, dtype=dtype.numpy) for _ in range(2))
    sentinel = np.full(N, 0x55, dtype.numpy)
    got = run_kernel(webgpu, k.build(), [xa, xb], sentinel, groups=N, offset=offset)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, xa * 3 + xb - (xa >> 1) + (xa ^ xb))


@pytest.mark.parametrize("dtype", [int8, uint8, int16, uint16], ids=lambda d: d.name)
def test_loads_extend_to_32_bits(webgpu: tinyhw.Device, dtype) -> None:
    k = KernelBuilder(f"widen_{dtype.name}")
    a, out = k.buffer("a", dtype), k.buffer("out", int32)
    i = k.group_id(0)
    k.store(out, i, a[i].cast(int32))
    info = np.iinfo(dtype.numpy)
    xa = np.linspace(info.min, info.max, N).astype(dtype.numpy)
    np.testing.assert_array_equal(run_kernel(webgpu, k.build(), [xa], np.zeros(N, np.int32), groups=N), xa)


def test_float16_rounds_every_operation_like_numpy(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("half")
    a, b, out = k.buffer("a", float16), k.buffer("b", float16), k.buffer("out", float16)
    i = k.group_id(0)
    k.store(out, i, a[i] * b[i] + a[i] / b[i] - b[i].unary("sqrt"))
    special = [np.inf, -np.inf, np.nan, 65504, -0.0, 6e-8, 1e-5, 300, 1 / 3, 2049, 0.1]
    xa = np.concatenate([special, np.random.default_rng(0).normal(0, 50, N - len(special))]).astype(np.float16)
    xb = np.concatenate([[2, 3, 1, 2, 1, 0.5, 3e-5, 300, 3, 2047, 7], np.full(N - 11, 0.7)]).astype(np.float16)
    got = run_kernel(webgpu, k.build(), [xa, xb], np.zeros(N, np.float16), groups=N, offset=1)
    with np.errstate(all="ignore"):
        expect = xa * xb + xa / xb - np.sqrt(xb)
    np.testing.assert_array_equal(got, expect)  # bit-exact, NaNs equal


def test_float16_casts_round_to_nearest_even(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("half_cast")
    a, out = k.buffer("a", int32), k.buffer("out", float16)
    i = k.group_id(0)
    k.store(out, i, a[i].cast(float16))
    xa = np.array([2049, 2051, 65519, 65520, -3, -100000, 1 << 24], np.int32)
    got = run_kernel(webgpu, k.build(), [xa], np.zeros(xa.size, np.float16), groups=xa.size)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, xa.astype(np.float16))


def test_bools_compute_and_store_bytes(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("bools")
    a, b, out = k.buffer("a", bool_), k.buffer("b", bool_), k.buffer("out", bool_)
    i = k.group_id(0)
    k.store(out, i, (a[i] & b[i].unary("not")) | (b[i].eq(a[i]) & (i.cast(int16) < 20)))
    rng = np.random.default_rng(3)
    xa, xb = rng.random(N) < 0.5, rng.random(N) < 0.5
    got = run_kernel(webgpu, k.build(), [xa, xb], np.ones(N, bool), groups=N, offset=2)
    np.testing.assert_array_equal(got, (xa & ~xb) | ((xa == xb) & (np.arange(N) < 20)))


@pytest.mark.parametrize("dtype", [bool_, int8, float16], ids=lambda d: d.name)
def test_local_memory_of_narrow_dtypes(webgpu: tinyhw.Device, dtype) -> None:
    k = KernelBuilder(f"local_{dtype.name}", local_size=(32, 1, 1))
    a, out = k.buffer("a", dtype), k.buffer("out", dtype)
    tile = k.local("tile", dtype, 32)
    lid = k.local_id(0)
    k.store(tile, lid, a[lid])
    k.barrier()
    k.store(out, lid, tile[31 - lid])
    xa = (np.arange(32) % 3 == 0) if dtype == bool_ else (np.arange(32) * 7 - 100).astype(dtype.numpy)
    got = run_kernel(webgpu, k.build(), [xa], np.zeros(32, dtype.numpy))
    np.testing.assert_array_equal(got, xa[::-1])
