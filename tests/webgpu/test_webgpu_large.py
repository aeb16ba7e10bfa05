"""Tensor ops at model sizes on webgpu:0: GPU-shaped ("simt") kernels give numpy's results.

lavapipe stops a shader's loops after 65535 iterations in all (docs/webgpu.md), so kernels looping
over many outputs per work-item (CPU-shaped) came back silently wrong at these sizes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from webgpu_support import require_webgpu

from tinyhw.kernel.ir import If, Kernel, Range, Stmt

tensor = pytest.importorskip("tinyhw_tensor")
from tinyhw_tensor.lower import lower, signature  # noqa: E402
from tinyhw_tensor.nn import functional as F  # noqa: E402

RNG = np.random.default_rng(3)
LAVAPIPE_LOOP_LIMIT = 65535


def on_webgpu(array: np.ndarray) -> tensor.Tensor:
    require_webgpu()
    return tensor.Tensor(array, device="webgpu:0")


def test_elementwise_over_many_elements() -> None:
    x = np.arange(1024 * 384, dtype=np.float32).reshape(1024, 384)
    np.testing.assert_array_equal((on_webgpu(x) * 2).numpy(), 2 * x)
    np.testing.assert_array_equal((on_webgpu(x).permute(1, 0) + 1).numpy(), x.T + 1)


def test_sums_along_each_axis() -> None:
    x = RNG.random((1024, 384), dtype=np.float32)
    np.testing.assert_allclose(on_webgpu(x).sum(1).numpy(), x.sum(1), rtol=1e-5)
    np.testing.assert_allclose(on_webgpu(x).sum(0).numpy(), x.sum(0), rtol=1e-5)


def test_reductions_over_a_million_elements() -> None:
    """One output from 2**20 elements: a whole workgroup reduces it (one work-item's loop would be too long)."""
    x = RNG.random(1 << 20, dtype=np.float32)
    n = RNG.integers(-(10**6), 10**6, (16, 65536), dtype=np.int32)
    np.testing.assert_allclose(on_webgpu(x).sum().numpy(), x.sum(dtype=np.float64), rtol=1e-5)
    np.testing.assert_array_equal(on_webgpu(n).max(1).numpy(), n.max(1))
    np.testing.assert_array_equal(on_webgpu(n).min().numpy(), n.min())


def test_workgroup_reductions_of_packed_dtypes() -> None:
    """bool, int8 and float16 (packed in 32-bit words in storage) combined through local memory."""
    x = RNG.random((4, 3000), dtype=np.float32)
    flags, small = x > 0.9995, (x * 200 - 100).astype(np.int8)
    np.testing.assert_array_equal(on_webgpu(flags).any(1).numpy(), flags.any(1))
    np.testing.assert_array_equal(on_webgpu(flags).all(1).numpy(), flags.all(1))
    np.testing.assert_array_equal(on_webgpu(small).min(1).numpy(), small.min(1))
    half = on_webgpu(x.astype(np.float16)).sum(1).numpy()
    np.testing.assert_allclose(half, x.astype(np.float16).astype(np.float32).sum(1), rtol=1e-3)


def test_matmul_256x384x1536() -> None:
    a = RNG.standard_normal((256, 384), dtype=np.float32)
    b = RNG.standard_normal((384, 1536), dtype=np.float32)
    np.testing.assert_allclose((on_webgpu(a) @ on_webgpu(b)).numpy(), a @ b, rtol=1e-4, atol=1e-3)


def test_softmax_over_attention_scores() -> None:
    x = RNG.standard_normal((8, 12, 128, 128), dtype=np.float32)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(on_webgpu(x).softmax(-1).numpy(), e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_layer_norm() -> None:
    x = RNG.standard_normal((1024, 384), dtype=np.float32)
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.layer_norm(on_webgpu(x), 384).numpy(), want, rtol=1e-4, atol=1e-4)


def test_webgpu_declares_simt() -> None:
    import tinyhw_webgpu

    assert "simt" in tinyhw_webgpu.CAPABILITIES.features


def lowered(t: tensor.Tensor, simt: bool) -> tuple[Kernel, int]:
    key, inputs = signature(t.node)
    return lower(t.node, inputs, 4, simt)


def loop_iterations(body: tuple[Stmt, ...]) -> int:
    """Loop iterations one work-item runs through `body` (every loop's bounds are constants here)."""
    total = 0
    for s in body:
        if isinstance(s, Range):
            total += (s.end.value - s.start.value) * (1 + loop_iterations(s.body))
        elif isinstance(s, If):
            total += loop_iterations(s.body)
    return total


CASES = {
    "elementwise": (lambda: tensor.Tensor(np.ones((1024, 384), np.float32)) * 2, 1024 * 384, 0),
    "rows": (lambda: tensor.Tensor(np.ones((8192, 384), np.float32)).sum(1), 8192, 384),
    "columns": (lambda: tensor.Tensor(np.ones((1024, 384), np.float32)).sum(0), 384, 1024),
    "long rows": (lambda: tensor.Tensor(np.ones((64, 8192), np.float32)).sum(1), 64, 8192 // 64),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_simt_kernels_use_many_work_items_with_short_loops(case: str) -> None:
    """Large workgroups covering every output, no work-item looping over more than a few thousand elements;
    the same op lowered for a CPU (no "simt") keeps one work-item per workgroup."""
    make, outputs, max_loop = CASES[case]
    kernel, groups = lowered(make(), simt=True)
    items = math.prod(kernel.local_size)
    assert items >= 64 and groups * items >= outputs
    assert loop_iterations(kernel.body) <= max_loop < LAVAPIPE_LOOP_LIMIT
    cpu_kernel, cpu_groups = lowered(make(), simt=False)
    assert cpu_kernel.local_size == (1, 1, 1) and cpu_groups <= 16
