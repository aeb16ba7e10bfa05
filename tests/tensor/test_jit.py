"""Capture and replay (tinyhw_tensor.jit): replays give the function's results for new inputs, fast."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor
from tinyhw_tensor.jit import CaptureError, jit


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_replays_compute_each_call_from_its_inputs(rng) -> None:
    w = Tensor(rng.standard_normal((48, 32)).astype(np.float32))
    step = jit(lambda x, b: ((x @ w).relu().softmax(-1) + b, x.sum(1)))
    for _ in range(5):
        x, b = rng.standard_normal((16, 48)).astype(np.float32), rng.standard_normal(32).astype(np.float32)
        probs, total = step(Tensor(x), Tensor(b))
        np.testing.assert_allclose(probs.numpy(), softmax(np.maximum(x @ w.numpy(), 0)) + b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(total.numpy(), x.sum(1), rtol=1e-5, atol=1e-5)


def test_replays_launch_the_recorded_kernels_without_building_any(rng) -> None:
    step = jit(lambda x: (x * 2).exp().sum(0))
    x = Tensor(rng.standard_normal((64, 8)).astype(np.float32))
    step(x).realize()
    step(x).realize()
    built, launched = tt.counters.built, tt.counters.launched
    results = [step(Tensor(np.full((64, 8), v, np.float32))) for v in (0.0, 1.0)]
    assert tt.counters.built == built and tt.counters.launched > launched
    # every call's result is its own: the second replay did not overwrite the first's
    np.testing.assert_allclose(results[0].numpy(), np.full(8, 64.0), rtol=1e-6)
    np.testing.assert_allclose(results[1].numpy(), np.full(8, 64 * np.exp(2.0)), rtol=1e-5)


def test_each_input_shape_is_captured_on_its_own(rng) -> None:
    step = jit(lambda x: x.softmax(-1))
    for shape in [(4, 8), (2, 16), (4, 8), (2, 16), (4, 8), (2, 16)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(step(Tensor(x)).numpy(), softmax(x), rtol=1e-5, atol=1e-7)


def test_results_keep_the_container_type(rng) -> None:
    step = jit(lambda x: [x + 1, x * 2])
    for _ in range(3):
        out = step(Tensor(np.ones(4, np.float32)))
        assert isinstance(out, list) and [o.tolist() for o in out] == [[2.0] * 4, [2.0] * 4]


def test_host_copies_inside_a_captured_function_are_refused() -> None:
    step = jit(lambda x: x + Tensor(np.ones(4, np.float32)))
    x = Tensor(np.zeros(4, np.float32))
    step(x)  # the first call is not recorded
    with pytest.raises(CaptureError, match="copy of host data .* pass host data as Tensor arguments"):
        step(x)
    reads = jit(lambda x: x * float(x.sum().item()))
    reads(x)
    with pytest.raises(CaptureError, match="read of .* back to the host"):
        reads(x)


def test_arguments_must_be_tensors() -> None:
    with pytest.raises(TypeError, match="jitted functions take Tensor arguments, got ndarray"):
        jit(lambda x: x)(np.zeros(3))


def test_replays_reuse_the_buffers_of_dead_intermediates(rng) -> None:
    w = Tensor(rng.standard_normal((8, 8)).astype(np.float32) * 0.5)

    def chain(x: Tensor) -> Tensor:
        for _ in range(6):
            x = (x @ w).relu()  # one kernel per step, reading only the step before
        return x

    step = jit(chain)
    x = rng.standard_normal((32, 8)).astype(np.float32)
    step(Tensor(x))
    live = tt.counters.live_buffers
    step(Tensor(x))  # recorded: five intermediates and the result are kept for replays in three buffers
    assert tt.counters.live_buffers - live <= 3
    for _ in range(3):
        x = rng.standard_normal((32, 8)).astype(np.float32)
        np.testing.assert_allclose(step(Tensor(x)).numpy(), chain(Tensor(x)).numpy(), rtol=1e-5, atol=1e-6)


def test_only_the_signatures_used_last_keep_their_buffers(rng) -> None:
    step = jit(lambda x: x.exp(), max_signatures=2)
    live = tt.counters.live_buffers
    for n in (1, 2, 3, 4, 5, 6, 5, 6):
        for _ in range(3):  # run, record, replay
            x = rng.standard_normal(n).astype(np.float32)
            np.testing.assert_allclose(step(Tensor(x)).numpy(), np.exp(x), rtol=1e-6)
    assert tt.counters.live_buffers - live == 2  # one recorded result buffer for each of sizes 5 and 6
    with pytest.raises(ValueError, match="max_signatures must be at least 1"):
        jit(lambda x: x, max_signatures=0)
