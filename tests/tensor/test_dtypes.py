"""dtypes: numpy-style promotion with weak Python scalars, casts, and arithmetic in every dtype."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor

PROMOTIONS = [
    ("int8", "uint8", "int16"),
    ("int8", "int32", "int32"),
    ("uint8", "int64", "int64"),
    ("int32", "float16", "float16"),
    ("int64", "float32", "float32"),
    ("float16", "bfloat16", "float32"),
    ("float16", "float32", "float32"),
    ("bool", "int8", "int8"),
    ("bool", "bfloat16", "bfloat16"),
    ("float32", "float64", "float64"),
]


def _tensor(name: str) -> Tensor:
    return Tensor(np.ones(2, np.float32), dtype=name)


@pytest.mark.parametrize("a,b,result", PROMOTIONS)
def test_tensor_promotion_is_symmetric(a: str, b: str, result: str) -> None:
    assert (_tensor(a) + _tensor(b)).dtype.name == result
    assert (_tensor(b) * _tensor(a)).dtype.name == result


@pytest.mark.parametrize(
    "dtype,scalar,result",
    [("int32", 1, "int32"), ("int32", 1.5, "float32"), ("float16", 1.0, "float16"), ("bool", 1, "int64"),
     ("bool", True, "bool"), ("uint8", 3, "uint8"), ("bfloat16", 2, "bfloat16"), ("int8", np.int32(1), "int32")],
)  # fmt: skip
def test_python_scalars_are_weak(dtype: str, scalar: object, result: str) -> None:
    assert (_tensor(dtype) + scalar).dtype.name == result
    assert (scalar * _tensor(dtype)).dtype.name == result


def test_true_division_of_integers_is_float32(check) -> None:
    check(Tensor([1, 2, 3]) / 2, np.array([0.5, 1.0, 1.5], np.float32))
    check(Tensor(np.array([7], np.int8)) / Tensor(np.array([2], np.int8)), np.array([3.5], np.float32))


CAST_SOURCE = np.array([-2.7, -1.0, -0.2, 0.0, 0.4, 1.5, 3.9, 100.25], np.float32)


@pytest.mark.parametrize("target", ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"])
def test_cast_from_float32_matches_numpy(target: str, check) -> None:
    source = CAST_SOURCE if target != "uint8" else np.abs(CAST_SOURCE)
    check(Tensor(source).cast(target), source.astype(target))
    check(Tensor(source).astype(getattr(tt, target if target != "bool" else "bool_")), source.astype(target))


@pytest.mark.parametrize("source", ["bool", "int8", "uint8", "int32", "int64", "float16", "bfloat16"])
def test_cast_to_float32_and_int32_matches_numpy(source: str, check) -> None:
    values = np.array([0, 1, 5, 100, 127], np.float32)
    t = Tensor(values, dtype=source)
    host = values.astype(source if source != "bfloat16" else "float32")
    check(t.cast(tt.float32), host.astype(np.float32))
    check(t.cast(tt.int32), host.astype(np.int32))


def test_integer_casts_wrap_like_numpy(check) -> None:
    values = np.array([300, -129, 255, 65537], np.int32)
    check(Tensor(values).cast(tt.int8), values.astype(np.int8))
    check(Tensor(values).cast(tt.uint8), values.astype(np.uint8))


@pytest.mark.parametrize("name", ["int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"])
def test_arithmetic_in_every_dtype(name: str, check) -> None:
    x = np.array([1, 2, 3, 4, 5, 6], name)
    y = np.array([6, 5, 4, 3, 2, 1], name)
    a, b = Tensor(x), Tensor(y)
    check((a + b) * b - a, (x + y) * y - x, rtol=1e-3)
    check(a.maximum(b) - a.minimum(b), np.maximum(x, y) - np.minimum(x, y))
    check((a < b) | (a == 3), (x < y) | (x == 3))
    check(a.sum(), x.sum() if name[0] == "f" else x.sum().astype(np.int64), rtol=1e-3)


def test_bfloat16_rounds_every_operation() -> None:
    x = np.array([1.0, 3.0, 1 / 3, 1e-3, 300.0], np.float32)
    t = Tensor(x, dtype=tt.bfloat16)
    assert t.dtype == tt.bfloat16
    got = (t * 3 + 1).numpy()
    bf = Tensor(x, dtype=tt.bfloat16).numpy()
    assert np.allclose(got, bf * 3 + 1, rtol=1e-2)
    assert set(np.unique(got.view(np.uint32) & 0xFFFF)) == {0}  # every value is a bfloat16


def test_float16_matches_numpy_rounding(check) -> None:
    x = np.linspace(-3, 3, 11).astype(np.float16)
    t = Tensor(x)
    check(t * t + t / 3, x * x + x / np.float16(3), rtol=1e-3)
    check(t.exp(), np.exp(x), rtol=2e-3)
    check(t.sum(), x.sum(), rtol=1e-2, atol=1e-2)


def test_bool_arithmetic(check) -> None:
    x, y = np.array([True, False, True]), np.array([True, True, False])
    check(Tensor(x) & Tensor(y), x & y)
    check(Tensor(x) | Tensor(y), x | y)
    check(Tensor(x) ^ Tensor(y), x ^ y)
    check(~Tensor(x), ~x)
    check(Tensor(x) + Tensor(y), x + y)
    check(Tensor(x).sum(), np.int64(2))
