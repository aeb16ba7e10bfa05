"""Bad input gets a clear, typed error before anything runs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tinyhw
import tinyhw_tensor as tt
from tinyhw_tensor import Tensor


@pytest.fixture(scope="module")
def t() -> Tensor:
    return Tensor(np.zeros((2, 3), np.float32))


def test_shape_mismatch_names_both_shapes(t: Tensor) -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        t + Tensor(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(2, 3\)"):
        t @ t
    with pytest.raises(ValueError, match="cannot reshape tensor of shape \\(2, 3\\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match="at most one -1"):
        t.reshape(-1, -1)
    with pytest.raises(ValueError, match="cannot expand"):
        t.expand(4, 3)
    with pytest.raises(ValueError, match="equal other sizes"):
        tt.cat([t, Tensor(np.zeros((3, 2), np.float32))])
    with pytest.raises(ValueError, match="one shape"):
        tt.stack([t, t[:1]])


@pytest.mark.parametrize("call", [lambda t: t.sum(2), lambda t: t.max(-3), lambda t: t.softmax(5),
                                  lambda t: t.transpose(0, 2), lambda t: t.unsqueeze(4), lambda t: t.flip(3),
                                  lambda t: t.argmax(2), lambda t: t.cumsum(-3)])  # fmt: skip
def test_invalid_axis_is_an_index_and_value_error(call, t: Tensor) -> None:
    with pytest.raises(IndexError, match="out of bounds"):
        call(t)
    with pytest.raises(ValueError):
        call(t)
    with pytest.raises(tt.AxisError):
        call(t)


def test_bad_axes(t: Tensor) -> None:
    with pytest.raises(ValueError, match="repeated axis"):
        t.sum((0, -2))
    with pytest.raises(ValueError, match="permutation"):
        t.permute(0, 0)


@pytest.mark.parametrize("key", [2, (0, 3), (slice(None), -4), [0, 2], (0, 0, 0), (slice(None), [1, 5])], ids=str)
def test_out_of_range_index_is_an_index_error(key, t: Tensor) -> None:
    with pytest.raises(IndexError):
        t[key]


def test_bad_index_types(t: Tensor) -> None:
    with pytest.raises(IndexError, match="valid indices"):
        t["a"]
    with pytest.raises(IndexError, match="single ellipsis"):
        t[..., ...]
    with pytest.raises(IndexError, match="integer or bool"):
        t[np.array([0.5])]


def test_unsupported_dtype_on_a_device_is_a_type_error() -> None:
    device = tinyhw.Device("cpu")
    original = device.backend
    caps = tinyhw.Capabilities(unsupported={"dtype:float64": "no fp64 units"})
    device.backend = dataclasses.replace(original, capabilities=caps)
    try:
        with pytest.raises(TypeError, match="float64 is not supported on cpu:0: no fp64 units"):
            Tensor(np.zeros(2), device="cpu")
        with pytest.raises(TypeError, match="float64"):
            Tensor([1.0], device="cpu").cast(tt.float64)
        assert Tensor([1.0], device="cpu").dtype == tt.float32
    finally:
        device.backend = original


def test_other_bad_input(t: Tensor) -> None:
    with pytest.raises(TypeError, match="unsupported dtype"):
        Tensor([1], dtype="complex64")
    with pytest.raises(TypeError, match="non-numbers"):
        Tensor(["a", object()])
    with pytest.raises(ValueError, match="one element"):
        t.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    with pytest.raises(ValueError, match="step"):
        tt.arange(0, 5, 0)
    with pytest.raises(ValueError, match="at least 1 dim"):
        Tensor(1.0) @ t
