"""The WGSL renderer: kernel IR run on webgpu:0 (lavapipe here) against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from webgpu_support import run_kernel

import tinyhw
from tinyhw.kernel.dtypes import float32, int32, uint32
from tinyhw.kernel.ir import KernelBuilder, load, vectorize
from tinyhw.kernel.render import render


def test_elementwise_with_masks_and_math(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("ew", local_size=(32, 1, 1))
    a, b, out = k.buffer("a", float32), k.buffer("b", float32), k.buffer("out", float32)
    n = k.scalar("n", int32)
    i = k.group_id(0) * 32 + k.local_id(0)
    x, y = load(a, i, mask=i < n), load(b, i, mask=i < n)
    k.store(out, i, (x * y + x.unary("sqrt")).max(y.unary("erf")) - (x / y).unary("tanh"), mask=i < n)
    xa, ya = np.random.rand(100).astype(np.float32) + 0.1, np.random.rand(100).astype(np.float32) + 0.1
    got = run_kernel(webgpu, k.build(), [xa, ya], np.zeros(100, "float32"), 100, groups=4)
    erf = np.vectorize(__import__("math").erf)(ya)
    np.testing.assert_allclose(got, np.maximum(xa * ya + np.sqrt(xa), erf) - np.tanh(xa / ya), rtol=1e-5, atol=1e-6)


def test_integer_ops_follow_c(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("ints")
    a, out = k.buffer("a", int32), k.buffer("out", int32)
    with k.range(64) as i:
        x = a[i]
        k.store(out, i, (x // 3) + (x % 5) * 7 + ((x << 2) ^ (x >> 1)) + (x < 0).where(x, -x))
    xa = np.arange(-32, 32, dtype=np.int32)
    expect = np.fix(xa / 3).astype(np.int32) + np.fmod(xa, 5) * 7 + ((xa << 2) ^ (xa >> 1)) + np.where(xa < 0, xa, -xa)
    np.testing.assert_array_equal(run_kernel(webgpu, k.build(), [xa], np.zeros(64, "int32")), expect)


def test_reduction_with_an_accumulator(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("rowsum")
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    row = k.group_id(0)
    acc = k.accumulator("acc", load(a, row * 0, mask=row < 0, other=0.0))
    with k.range(50) as j:
        k.update(acc, acc + a[row * 50 + j])
    k.store(out, row, acc)
    xa = np.random.rand(8, 50).astype(np.float32)
    np.testing.assert_allclose(
        run_kernel(webgpu, k.build(), [xa], np.zeros(8, "float32"), groups=8), xa.sum(1), rtol=1e-5
    )


def test_local_memory_and_barrier_reverse_a_workgroup(webgpu: tinyhw.Device) -> None:
    k = KernelBuilder("rev", local_size=(64, 1, 1))
    a, out = k.buffer("a", uint32), k.buffer("out", uint32)
    tile = k.local("tile", uint32, 64)
    lid, base = k.local_id(0), k.group_id(0) * 64
    k.store(tile, lid, a[base + lid])
    k.barrier()
    k.store(out, base + lid, tile[63 - lid] + 1)
    xa = np.arange(256, dtype=np.uint32)
    expect = xa.reshape(4, 64)[:, ::-1].ravel() + 1
    np.testing.assert_array_equal(run_kernel(webgpu, k.build(), [xa], np.zeros(256, "uint32"), groups=4), expect)


@pytest.mark.parametrize("lanes", [4, 8])
def test_vectors_load_compute_and_store(webgpu: tinyhw.Device, lanes: int) -> None:
    k = KernelBuilder(f"vec{lanes}")
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    v = load(a, k.group_id(0) * lanes, dtype=float32.vec(lanes))
    doubled = v * vectorize(*[v.gep(0)] * lanes).cast(float32.vec(lanes)) + 1.0
    k.store(out, k.group_id(0) * lanes, (doubled < 2.0).where(doubled, v))
    xa = np.random.rand(4 * lanes).astype(np.float32) * 2
    lead = np.repeat(xa.reshape(4, lanes)[:, 0], lanes)
    got = run_kernel(webgpu, k.build(), [xa], np.zeros(4 * lanes, "float32"), groups=4)
    np.testing.assert_allclose(got, np.where(xa * lead + 1 < 2, xa * lead + 1, xa), rtol=1e-6)


def test_rendered_source_follows_the_parameter_convention() -> None:
    k = KernelBuilder("conv")
    a, n = k.buffer("a", float32), k.scalar("n", uint32)
    k.store(a, 0, n.cast(float32))
    source = render(k.build(), "wgsl").source
    assert "struct Args { tinyhw_group_base: vec3<u32>, a: u32, n: u32 }" in source
    assert "var<uniform> args: Args" in source
