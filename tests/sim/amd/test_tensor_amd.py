"""The tensor frontend on amd:0 (the simulated gfx1100) gives numpy's results."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
import tinyhw_tensor as tt
from tinyhw_tensor.jit import jit

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def amd() -> tinyhw.Device:
    """amd:0, the GPU of the simulated machine tests.sim.plugin installs for the run."""
    return tinyhw.Device("amd:0")


def test_elementwise_with_broadcasting_and_math(amd: tinyhw.Device) -> None:
    x = RNG.standard_normal((5, 33)).astype(np.float32)
    y = RNG.standard_normal(33).astype(np.float32)
    got = ((tt.Tensor(x, device=amd) * tt.Tensor(y, device=amd) + 1).exp() / 3).numpy()
    np.testing.assert_allclose(got, np.exp(x * y + 1) / 3, rtol=1e-5)


def test_reductions_over_each_axis(amd: tinyhw.Device) -> None:
    x = RNG.standard_normal((7, 45)).astype(np.float32)
    t = tt.Tensor(x, device=amd)
    np.testing.assert_allclose(t.sum(axis=1).numpy(), x.sum(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(t.max(axis=0).numpy(), x.max(axis=0))


def test_matmul(amd: tinyhw.Device) -> None:
    a = RNG.standard_normal((24, 40)).astype(np.float32)
    b = RNG.standard_normal((40, 17)).astype(np.float32)
    np.testing.assert_allclose((tt.Tensor(a, device=amd) @ tt.Tensor(b, device=amd)).numpy(), a @ b, rtol=1e-4,
                               atol=1e-4)  # fmt: skip


def test_integer_ops_and_comparisons(amd: tinyhw.Device) -> None:
    x = RNG.integers(-1000, 1000, 300).astype(np.int32)
    t = tt.Tensor(x, device=amd)
    np.testing.assert_array_equal((t * 3 - 7).numpy(), x * 3 - 7)
    np.testing.assert_array_equal((t > 10).numpy(), x > 10)


def test_data_moves_between_cpu_and_amd(amd: tinyhw.Device) -> None:
    x = RNG.standard_normal(1000).astype(np.float32)
    on_amd = tt.Tensor(x, device="cpu").to(amd) + 2
    np.testing.assert_allclose(on_amd.to("cpu").numpy(), x + 2, rtol=1e-6)


def test_workgroup_reductions_and_jit_replays(amd: tinyhw.Device) -> None:
    """Kernels run as 64- or 256-item workgroups (amd declares "simt"): a long row reduces through local memory,
    and a jitted function's graph replays launch every kernel with its own workgroup size."""
    x = RNG.standard_normal((5, 3000)).astype(np.float32)
    np.testing.assert_allclose(tt.Tensor(x, device=amd).sum(1).numpy(), x.sum(1), rtol=1e-4, atol=1e-4)
    f = jit(lambda a, b: (a @ b).softmax(-1).sum(0))
    for _ in range(3):
        a, b = RNG.standard_normal((40, 30)).astype(np.float32), RNG.standard_normal((30, 20)).astype(np.float32)
        e = np.exp(a @ b - (a @ b).max(-1, keepdims=True))
        got = f(tt.Tensor(a, device=amd), tt.Tensor(b, device=amd)).numpy()
        np.testing.assert_allclose(got, (e / e.sum(-1, keepdims=True)).sum(0), rtol=1e-4)


def test_float64_math_is_refused_naming_op_dtype_and_device(amd: tinyhw.Device) -> None:
    """amd declares "float64-math" unsupported (no device math library): float64 arithmetic runs, transcendental
    ops are refused when the graph is built, with the capability's reason, and work after a cast to float32."""
    x = np.array([0.5, 1.0, 2.0])
    t = tt.Tensor(x, device=amd)
    np.testing.assert_array_equal((t * 3 + 1).numpy(), x * 3 + 1)
    for op in ("exp", "log", "sin", "erf"):
        with pytest.raises(TypeError, match=f"float64 {op} is not supported on amd:0: no device math library"):
            getattr(t, op)()
    with pytest.raises(TypeError, match="float64 pow is not supported on amd:0"):
        t**t
    np.testing.assert_allclose(t.cast(tt.float32).exp().numpy(), np.exp(x).astype(np.float32), rtol=1e-6)
