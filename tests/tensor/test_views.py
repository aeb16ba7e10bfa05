"""Random chains of movement operations (all views) against the same chains on numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest

from tinyhw_tensor import Tensor


def _random_step(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[str, object]:
    """One random movement valid for `shape`, as (method, argument)."""
    kind = rng.choice(["reshape", "permute", "slice", "pad", "flip", "expand"])
    if kind == "reshape":
        size = int(np.prod(shape))
        divisors = [d for d in range(1, size + 1) if size % d == 0]
        first = int(rng.choice(divisors))
        return "reshape", (first, size // first)
    if kind == "permute":
        return "permute", tuple(int(i) for i in rng.permutation(len(shape)))
    if kind == "slice":
        axis = int(rng.integers(len(shape)))
        step = int(rng.choice([1, 2, -1, -2]))
        return "slice", (axis, step)
    if kind == "pad":
        axis = int(rng.integers(len(shape)))
        return "pad", (axis, int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    if kind == "flip":
        return "flip", int(rng.integers(len(shape)))
    return "expand", 3


def _apply(x, step: tuple[str, object], on_numpy: bool):
    kind, arg = step
    if kind == "reshape":
        return x.reshape(arg)
    if kind == "permute":
        return x.transpose(arg) if on_numpy else x.permute(arg)
    if kind == "slice":
        axis, stride = arg
        key = [slice(None)] * x.ndim
        key[axis] = slice(1 if stride > 0 else -2, None, stride)
        return x[tuple(key)]
    if kind == "pad":
        axis, before, after = arg
        widths = [(0, 0)] * x.ndim
        widths[axis] = (before, after)
        return np.pad(x, widths) if on_numpy else x.pad(widths)
    if kind == "flip":
        return np.flip(x, arg) if on_numpy else x.flip(arg)
    shape = (arg,) + tuple(x.shape)
    return np.broadcast_to(x[None], shape) if on_numpy else x.unsqueeze(0).expand(shape)


@pytest.mark.parametrize("seed", range(24))
def test_random_movement_chains(seed: int, check) -> None:
    rng = np.random.default_rng(seed)
    x = np.arange(6 * 10, dtype=np.float32).reshape(6, 10)
    t = Tensor(x)
    for _ in range(5):
        step = _random_step(rng, x.shape)
        if step[0] == "expand" and x.size > 2000:
            continue
        x, t = _apply(x, step, True), _apply(t, step, False)
        if x.size == 0:
            break
    check(t * 2 + 1, x * 2 + 1)
    if x.ndim > 1 and x.size:
        check(t.sum(-1), x.sum(-1), rtol=1e-6)
