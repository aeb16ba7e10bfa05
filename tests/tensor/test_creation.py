"""Creating tensors and reading them back: constructors, creation functions, conversions, properties."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw
import tinyhw_tensor as tt
from tinyhw_tensor import Tensor

ALL_NUMPY = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("name", ALL_NUMPY)
def test_numpy_round_trip_keeps_dtype_and_values(name: str, rng: np.random.Generator) -> None:
    data = (rng.standard_normal((3, 4)) * 50).astype(name)
    t = Tensor(data)
    assert t.dtype.name == name
    out = t.numpy()
    assert out.dtype == data.dtype and np.array_equal(out, data)


def test_python_data_gets_pytorch_default_dtypes() -> None:
    assert Tensor([1.5, 2]).dtype == tt.float32
    assert Tensor([[1, 2], [3, 4]]).dtype == tt.int64
    assert Tensor([True, False]).dtype == tt.bool_
    assert Tensor(2.5).dtype == tt.float32 and Tensor(2.5).shape == ()
    assert Tensor(7).item() == 7 and Tensor(True).item() is True
    assert Tensor(np.float16(1.5)).dtype == tt.float16


def test_dtype_argument_converts(check) -> None:
    check(Tensor([1.7, -2.2], dtype=tt.int32), np.array([1, -2], np.int32))
    check(Tensor([1, 2], dtype="float16"), np.array([1, 2], np.float16))
    check(Tensor(np.arange(4), dtype=tt.bfloat16), np.arange(4, dtype=np.float32))
    check(Tensor(3, dtype=tt.float32), np.float32(3))


def test_tensor_from_tensor_shares_or_converts(check) -> None:
    a = Tensor([1, 2, 3])
    assert Tensor(a).node is a.node
    check(Tensor(a, dtype=tt.float32), np.array([1, 2, 3], np.float32))


def test_zero_size_tensors(check) -> None:
    check(Tensor(np.zeros((0, 3), np.float32)), np.zeros((0, 3), np.float32))
    check(Tensor(np.zeros((2, 0), np.int32)) + 1, np.zeros((2, 0), np.int32))
    check(tt.zeros(0, 5).sum(0), np.zeros(5, np.float32))
    assert Tensor([]).shape == (0,)


def test_constant_creation(check) -> None:
    check(tt.zeros(2, 3), np.zeros((2, 3), np.float32))
    check(tt.ones((2, 3), dtype=tt.int32), np.ones((2, 3), np.int32))
    check(tt.full((2,), 7), np.full(2, 7, np.int64))
    check(tt.full(3, 0.5), np.full(3, 0.5, np.float32))
    assert tt.empty(4).shape == (4,) and tt.empty(2, 3, dtype=tt.int8).dtype == tt.int8
    x = Tensor(np.ones((2, 2), np.float16))
    check(tt.zeros_like(x), np.zeros((2, 2), np.float16))
    check(tt.ones_like(x, dtype=tt.int8), np.ones((2, 2), np.int8))
    check(tt.full_like(x, 3), np.full((2, 2), 3, np.float16))


@pytest.mark.parametrize(
    "args", [(5,), (2, 9), (2, 9, 3), (10, 0, -3), (3, 3), (0.0, 1.0, 0.25), (-1.5, 2.0, 0.5)], ids=str
)
def test_arange_matches_numpy(args: tuple, check) -> None:
    expected = np.arange(*args)
    expected = expected.astype(np.float32) if expected.dtype.kind == "f" else expected
    check(tt.arange(*args), expected)


def test_linspace_eye() -> None:
    np.testing.assert_allclose(tt.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5, dtype=np.float32))
    assert np.array_equal(tt.eye(3).numpy(), np.eye(3, dtype=np.float32))
    assert np.array_equal(tt.eye(2, 4, dtype=tt.int32).numpy(), np.eye(2, 4, dtype=np.int32))


def test_random_is_seedable() -> None:
    tt.manual_seed(7)
    a, b = tt.rand(3, 4).numpy(), tt.randn(5).numpy()
    tt.manual_seed(7)
    assert np.array_equal(a, tt.rand(3, 4).numpy()) and np.array_equal(b, tt.randn(5).numpy())
    assert a.dtype == np.float32 and ((a >= 0) & (a < 1)).all()
    r = tt.randint(-3, 3, (100,)).numpy()
    assert r.dtype == np.int64 and r.min() >= -3 and r.max() < 3


def test_conversions_and_properties() -> None:
    t = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and len(t) == 2 and t.numel() == 6 and t.size == 6
    assert isinstance(t.device, tinyhw.Device) and t.device is tinyhw.Device()  # the default device
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert t[1, 2].item() == 5.0 and isinstance(t[1, 2].item(), float)
    assert float(t.sum()) == 15.0 and int(t[0, 1]) == 1 and bool(t[0, 1])
    assert np.array_equal(np.asarray(t), t.numpy())
    assert t.realize() is t
    assert repr(Tensor([1, 2], device="cpu")) == "Tensor([1, 2], dtype=int64, device=cpu:0)"
    assert [row.tolist() for row in t] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_device_by_name_and_to() -> None:
    t = Tensor([1.0, 2.0], device="cpu")
    assert t.device is tinyhw.Device("cpu:0")
    assert t.to("cpu:0") is t and t.to(t.device) is t
