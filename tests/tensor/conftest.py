"""Fixtures for the tensor frontend's tests: seeded data and a numpy comparison helper."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinyhw_tensor as tt


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
