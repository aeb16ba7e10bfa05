"""Elementwise operations against numpy: broadcasting, operators, math, activations, views as inputs."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor

SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 1, 5), (3, 1)), ((), (3,)), ((0, 4), (4,)),
          ((1,), (1,)), ((4, 1), ())]  # fmt: skip
OPERATORS = [operator.add, operator.sub, operator.mul, operator.truediv, operator.lt, operator.ge, operator.eq]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("op", OPERATORS, ids=lambda f: f.__name__)
def test_binary_operators_broadcast(op, shapes: tuple, rng: np.random.Generator, check) -> None:
    x = rng.standard_normal(shapes[0]).astype(np.float32)
    y = rng.standard_normal(shapes[1]).astype(np.float32) + 3
    check(op(Tensor(x), Tensor(y)), op(x, y))


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                                operator.floordiv, operator.mod, operator.gt], ids=lambda f: f.__name__)  # fmt: skip
def test_scalars_on_either_side(op, check) -> None:
    x = np.array([0.5, 1.0, 2.5, 4.0], np.float32)
    check(op(Tensor(x), 2), op(x, np.float32(2)), rtol=1e-6)
    check(op(3, Tensor(x)), op(np.float32(3), x), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
def test_integer_floor_division_and_modulo_follow_python(dtype: str, check) -> None:
    a = np.array([7, -7, 7, -7, 0, 5, -128 if dtype == "int8" else -1000, 3], dtype)
    b = np.array([2, 2, -2, -2, 3, 0, -1, 0], dtype)
    safe = np.where(b == 0, 1, b)
    with np.errstate(all="ignore"):
        check(Tensor(a) // Tensor(b), np.where(b == 0, 0, a // safe).astype(dtype))
        check(Tensor(a) % Tensor(b), np.where(b == 0, 0, a % safe).astype(dtype))
    check(Tensor(a) // 3, a // 3)
    check(Tensor(a) % -3, a % -3)


def test_unsigned_division(check) -> None:
    a, b = np.array([7, 200, 0, 9], np.uint8), np.array([2, 7, 3, 0], np.uint8)
    check(Tensor(a) // Tensor(b), np.where(b == 0, 0, a // np.where(b == 0, 1, b)).astype(np.uint8))
    check(Tensor(a) % Tensor(b), np.where(b == 0, 0, a % np.where(b == 0, 1, b)).astype(np.uint8))


def test_float_floor_division_and_modulo(check) -> None:
    a = np.array([7.5, -7.5, 7.5, -7.5, 0.0, 1.0, 5.25], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, 0.1, 0.0], np.float32)
    with np.errstate(all="ignore"):
        check(Tensor(a) // Tensor(b), a // b)
        check(Tensor(a) % Tensor(b), a % b)


def test_power(check) -> None:
    x = np.array([0.5, 1.0, 2.0, 3.0], np.float32)
    check(Tensor(x) ** 2, x**2)
    check(Tensor(x) ** 0.5, x**0.5)
    check(Tensor(x) ** Tensor(x), x**x, rtol=1e-5)
    check(2 ** Tensor(x), np.float32(2) ** x)
    i = np.array([-3, -1, 0, 2, 5], np.int32)
    check(Tensor(i) ** 3, i**3)
    check(Tensor(i) ** 2, i**2)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "uint32", "int64"])
def test_integer_powers_are_exact_and_wrap_like_numpy(dtype: str, check) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-20 if dtype[0] == "i" else 0, 20, 64).astype(dtype)
    e = rng.integers(0, 45, 64).astype(dtype)  # beyond float64's 53 bits: 3**39 needs 62
    with np.errstate(all="ignore"):
        check(Tensor(x) ** Tensor(e), x**e)
        check(Tensor(x) ** 39, x ** np.array(39, dtype))
        check(3 ** Tensor(e), np.array(3, dtype) ** e)
    check(Tensor(x) ** 0, np.ones_like(x))


def test_negative_integer_powers(check) -> None:
    with pytest.raises(ValueError, match="negative integer powers"):
        Tensor(np.array([2, 3], np.int32)) ** -1
    base, exponent = np.array([2, 1, -1, -1, 0, 3], np.int32), np.array([-1, -5, -3, -4, -2, -1], np.int32)
    check(Tensor(base) ** Tensor(exponent), np.array([0, 1, -1, 1, 0, 0], np.int32))  # numpy refuses these


UNARY = {
    "exp": (np.exp, 1.0), "log": (np.log, 0.1), "sqrt": (np.sqrt, 0.0), "sin": (np.sin, 1.0), "cos": (np.cos, 1.0),
    "tanh": (np.tanh, 1.0), "exp2": (np.exp2, 1.0), "log2": (np.log2, 0.1), "abs": (np.abs, 1.0),
    "neg": (np.negative, 1.0), "floor": (np.floor, 1.0), "ceil": (np.ceil, 1.0), "trunc": (np.trunc, 1.0),
    "rsqrt": (lambda v: 1 / np.sqrt(v), 0.1), "reciprocal": (np.reciprocal, 0.1), "square": (np.square, 1.0),
    "sign": (np.sign, 1.0), "erf": (np.vectorize(math.erf, otypes=[np.float32]), 1.0),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_matches_numpy(name: str, rng: np.random.Generator, check) -> None:
    reference, offset = UNARY[name]
    x = rng.standard_normal((5, 7)).astype(np.float32) * 2
    x = np.abs(x) + offset if offset != 1.0 else x
    check(getattr(Tensor(x), name)(), reference(x).astype(np.float32), rtol=2e-6, atol=1e-6)


def test_math_on_integers_computes_in_float32(check) -> None:
    i = np.array([1, 2, 4], np.int32)
    check(Tensor(i).sqrt(), np.sqrt(i).astype(np.float32))
    check(Tensor(i).exp(), np.exp(i).astype(np.float32))
    check(Tensor(np.array([-3, 4], np.int8)).abs(), np.array([3, 4], np.int8))


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(v)


def test_erf_over_its_whole_range() -> None:
    x = np.concatenate([np.linspace(-6, 6, 24001), [0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 4.0, 1e30, -np.inf, np.inf]])
    got = Tensor(x.astype(np.float32)).erf().numpy()
    want = _erf(x.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=1.5e-7)  # within about 2 ulp of the exact value
    assert np.isnan(Tensor(np.array([np.nan], np.float32)).erf().numpy()).all()


ACTIVATIONS = {
    "relu": lambda v: np.maximum(v, 0),
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "silu": lambda v: v / (1 + np.exp(-v)),
    "gelu": lambda v: 0.5 * v * (1 + _erf(v / np.sqrt(2))),
    "softplus": lambda v: np.log1p(np.exp(v)),
    "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations(name: str, rng: np.random.Generator, check) -> None:
    x = rng.standard_normal(33).astype(np.float32) * 3
    check(getattr(Tensor(x), name)(), ACTIVATIONS[name](x.astype(np.float64)).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_gelu_tanh_approximation(rng: np.random.Generator, check) -> None:
    x = rng.standard_normal(33).astype(np.float32) * 3
    ref = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    check(Tensor(x).gelu(approximate="tanh"), ref.astype(np.float32), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="approximate"):
        Tensor(x).gelu(approximate="fast")


def test_where_clip_maximum_minimum(rng: np.random.Generator, check) -> None:
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = rng.standard_normal(5).astype(np.float32)
    check(tt.where(Tensor(x) > 0, Tensor(x), Tensor(y)), np.where(x > 0, x, y))
    check(tt.where(Tensor(x) > 0, 1.0, 0.0), np.where(x > 0, 1.0, 0.0).astype(np.float32))
    check(tt.where(Tensor(x) > 0, Tensor(x), 0), np.where(x > 0, x, 0).astype(np.float32))
    check(Tensor(x).where(Tensor(x) < 0, -1), np.where(x < 0, x, -1).astype(np.float32))
    check(Tensor(x).clip(-0.5, 0.5), np.clip(x, -0.5, 0.5))
    check(Tensor(x).clip(min=0), np.clip(x, 0, None))
    check(Tensor(x).maximum(Tensor(y)), np.maximum(x, y))
    check(Tensor(x).minimum(0.1), np.minimum(x, np.float32(0.1)))


def test_comparisons_and_logic_give_bool(check) -> None:
    x, y = np.array([1, 2, 3, 4]), np.array([4, 2, 1, 4])
    a, b = Tensor(x), Tensor(y)
    for got, want in [(a < b, x < y), (a <= b, x <= y), (a > b, x > y), (a >= b, x >= y), (a == b, x == y),
                      (a != b, x != y), ((a > 1) & (b > 1), (x > 1) & (y > 1)), (a.logical_not(), x == 0)]:  # fmt: skip
        check(got, want)
    check(Tensor(np.array([1.0, np.nan], np.float32)).isnan(), np.array([False, True]))
    check(Tensor(np.array([1.0, -np.inf], np.float32)).isinf(), np.array([False, True]))


def test_integer_bitwise(check) -> None:
    x, y = np.array([12, -7, 255], np.int32), np.array([10, 3, 1], np.int32)
    check(Tensor(x) & Tensor(y), x & y)
    check(Tensor(x) | 5, x | 5)
    check(Tensor(x) ^ Tensor(y), x ^ y)
    check(~Tensor(x), ~x)
    check(Tensor(x) << 2, x << 2)
    check(Tensor(x) >> 1, x >> 1)
    with pytest.raises(TypeError, match="integer or bool"):
        Tensor(np.ones(2, np.float32)) & 1


def test_non_contiguous_inputs(rng: np.random.Generator, check) -> None:
    x = rng.standard_normal((6, 8)).astype(np.float32)
    y = rng.standard_normal((8, 6)).astype(np.float32)
    check(Tensor(x).T * Tensor(y) + 1, x.T * y + 1)
    check(Tensor(x)[::2, 1::3] - Tensor(y)[1:4:1, ::-2], x[::2, 1::3] - y[1:4, ::-2])
    check(Tensor(x[:, :1]).expand(6, 8) * Tensor(x), np.broadcast_to(x[:, :1], (6, 8)) * x)
    check(Tensor(x).permute(1, 0).reshape(4, 12).exp(), np.exp(x.T.reshape(4, 12)), rtol=1e-6)
    check(
        Tensor(x).reshape(2, 3, 8).permute(2, 0, 1).flip(0)[1:7] * 2,
        x.reshape(2, 3, 8).transpose(2, 0, 1)[::-1][1:7] * 2,
    )


def test_odd_sizes_and_long_chains(rng: np.random.Generator, check) -> None:
    x = rng.standard_normal((7, 13, 3)).astype(np.float32)
    t, ref = Tensor(x), x.copy()
    for i in range(12):
        t, ref = t * 0.9 + i, ref * np.float32(0.9) + np.float32(i)
    check(t, ref, rtol=1e-5)
    n = 100_003
    big = rng.standard_normal(n).astype(np.float32)
    check((Tensor(big) * 2 + 1).relu(), np.maximum(big * 2 + 1, 0))
