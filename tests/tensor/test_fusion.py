"""Fusion and caching: how many kernels an expression launches, and that kernels are built once."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor, runtime


@pytest.fixture(scope="module")
def xyz() -> tuple[Tensor, Tensor, Tensor]:
    rng = np.random.default_rng(2)
    return tuple(Tensor(rng.standard_normal((64, 48)).astype(np.float32)) for _ in range(3))


def launches(fn) -> int:
    """Kernels launched while computing fn()'s result."""
    before = tt.counters.launched
    fn().realize()
    return tt.counters.launched - before


def test_elementwise_chain_is_one_kernel(xyz) -> None:
    x, y, z = xyz
    assert launches(lambda: (x * y + z).relu()) == 1
    assert launches(lambda: ((x - 1).exp() * y.T.T + z.sigmoid()).clip(0, 1).cast(tt.float16)) == 1


def test_producers_and_consumers_fuse_into_a_reduction(xyz) -> None:
    x, y, _ = xyz
    assert launches(lambda: (x * 2 + 1).sum()) == 1
    assert launches(lambda: (x * y).sum(1, keepdim=True).sqrt() + 1) == 1
    assert launches(lambda: x.T.exp().max(0)) == 1
    assert launches(lambda: x @ y.T) == 1


def test_softmax_and_friends_are_few_kernels(xyz) -> None:
    x, _, _ = xyz
    assert launches(lambda: x.softmax()) <= 3
    assert launches(lambda: x.log_softmax(0)) <= 3
    assert launches(lambda: x.var(1)) <= 2
    assert launches(lambda: x.argmax(1)) <= 2


def test_views_of_realized_data_need_no_kernel(xyz) -> None:
    x, _, _ = xyz
    assert launches(lambda: x.reshape(48, 64)) == 0
    assert launches(lambda: x.unsqueeze(0).flatten(0, 1)) == 0
    assert launches(lambda: x.T) == 1  # a transpose must be copied to be contiguous


def test_repeated_graphs_are_built_once(xyz) -> None:
    x, y, _ = xyz
    (x * y - 3).realize()
    built = tt.counters.built
    for _ in range(3):
        (x * y - 3).realize()
    assert tt.counters.built == built
    (x * y - 4).realize()  # another constant is another kernel
    assert tt.counters.built == built + 1


def test_debug_output_names_every_kernel_and_its_workgroups(python_script) -> None:
    script = (
        "import tinyhw_tensor as tt\nprint((tt.Tensor([1.0, 2.0]) * 3).sum().item())\n"
        "print((tt.arange(1 << 20, dtype=tt.float32) * 2).sum().item())"
    )
    result = python_script(script, TINYHW_DEBUG="1")
    small, big = map(float, result.stdout.split())
    assert small == 9.0 and big == pytest.approx((1 << 20) * ((1 << 20) - 1), rel=1e-5)
    assert "tinyhw_tensor: r_2" in result.stderr and "ms" in result.stderr
    groups = [int(word[7:]) for word in result.stderr.split() if word.startswith("groups=")]
    assert max(groups) >= 2  # big kernels are spread over workgroups, which the CPU runs on all cores
    result = python_script(script, TINYHW_DEBUG="2")
    assert "kernel r_2(" in result.stderr and ("void @r_2(" in result.stderr or "fn r_2(" in result.stderr)


def test_deep_graphs_are_cut_into_kernels() -> None:
    t = Tensor(np.zeros(3, np.float32))
    for _ in range(2000):
        t = t + 1
    before = tt.counters.launched
    assert t.numpy().tolist() == [2000.0] * 3
    assert 10 < tt.counters.launched - before < 40


def test_huge_tensors_are_refused_clearly() -> None:
    big = tt.zeros(1 << 16, 1 << 16) + 1  # lazy: nothing is allocated until it is realized
    with pytest.raises(ValueError, match="more than 2147483647 elements"):
        big.realize()


def test_costly_producers_of_a_matmul_are_stored_once(rng) -> None:
    x, w1, w2 = (Tensor(rng.standard_normal(s).astype(np.float32)) for s in [(32, 64), (64, 48), (64, 48)])
    h = (x - x.mean(1, keepdim=True)).exp()  # a matmul reads each element 48 times: stored, not recomputed
    assert launches(lambda: h @ w1 + h @ w2) == 4  # mean, h (once for both products), the two products
    hn = np.exp(x.numpy() - x.numpy().mean(1, keepdims=True))
    np.testing.assert_allclose((h @ w1 + h @ w2).numpy(), hn @ w1.numpy() + hn @ w2.numpy(), rtol=1e-4, atol=1e-4)
    assert launches(lambda: (x * 2) @ w1) == 1  # as cheap as a load: fused


def test_deep_graphs_are_not_cut_at_a_broadcast_product(rng, monkeypatch) -> None:
    sizes = []

    class Recorded(runtime.Storage):
        def __init__(self, device, nbytes: int) -> None:
            sizes.append(nbytes)
            super().__init__(device, nbytes)

    x, w = Tensor(rng.standard_normal((64, 48)).astype(np.float32)), Tensor(np.eye(48, dtype=np.float32))
    monkeypatch.setattr(runtime, "Storage", Recorded)
    t = x
    for _ in range(94):  # the product would be the 96th fused operation
        t = t * 1.0 + 0.5
    np.testing.assert_allclose((t @ w).numpy(), x.numpy() + 47.0, rtol=1e-5)
    assert 3 <= len(sizes) <= 5 and max(sizes) == 64 * 48 * 4  # cuts in the chain; no [64, 48, 48] product


def test_weight_panels_are_packed_once(rng) -> None:
    w = Tensor(rng.standard_normal((256, 256)).astype(np.float32))
    x = rng.standard_normal((64, 256)).astype(np.float32)
    assert launches(lambda: Tensor(x) @ w) == 2  # the weight packed into panels, then the product
    assert launches(lambda: Tensor(x) @ w) == 1
    np.testing.assert_allclose((Tensor(x) @ w).numpy(), x @ w.numpy(), rtol=1e-4, atol=1e-3)
