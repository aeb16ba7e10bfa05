"""Fixtures for the tensor frontend's tests: seeded data and a numpy comparison helper."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import tinyhw
import tinyhw_tensor as tt
from tinyhw.kernel.ir import IRError

_UNSUPPORTED = re.compile(r"(?:dtype )?(\w+) is not supported on (\w+(?::\d+)?)")
"""The dtype, and the device ("webgpu:0") or backend ("WebGPU": the default device's), of a refusal."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Skip, with the device's reason, a test that needs a dtype its device declares unsupported (`dtype:NAME`).

    Tensors go to `TINYHW_DEVICE` when set, so the same tests run on devices without float64 or int64:
    the frontend's TypeError ("dtype int64 is not supported on webgpu:0: ...") or a renderer's IRError
    for a dtype used inside a kernel ("wgsl: float64 is not supported on WebGPU") become skips.
    """
    try:
        return (yield)
    except (TypeError, IRError) as exc:
        reason = _unsupported_dtype(exc)
        if reason is None:
            raise
    pytest.skip(reason)  # outside `except`: the skip does not keep the test's frames (and tensors) alive


def _unsupported_dtype(exc: Exception) -> str | None:
    """Why `exc` is a device refusing a dtype it declares unsupported, or None when it is anything else."""
    match = _UNSUPPORTED.search(str(exc))
    device = match and tinyhw.Device(match[2] if ":" in match[2] else None)
    reason = device and device.backend.capabilities.unsupported.get(f"dtype:{match[1]}")
    return f"{device.name} does not support {match[1]}: {reason}" if reason else None


def assert_matches(t: tt.Tensor, expected: object, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """`t` has expected's shape, dtype (bfloat16 reads back as float32) and values (NaNs equal)."""
    got = t.numpy()
    want = np.asarray(expected)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture
def check() -> Callable[..., None]:
    """assert_matches(tensor, expected, rtol=1e-5, atol=1e-6)."""
    return assert_matches


@pytest.fixture
def rng() -> np.random.Generator:
    """A numpy generator with a fixed seed."""
    return np.random.default_rng(1234)
