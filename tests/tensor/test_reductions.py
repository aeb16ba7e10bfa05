"""Reductions, softmax family, argmax/argmin, cumsum and matmul against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor

AXES = [None, 0, 1, -1, (0, 2), (1, 2)]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return np.random.default_rng(5).standard_normal((3, 5, 7)).astype(np.float32)


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_max_min_mean_prod(axis, keepdim: bool, data: np.ndarray, check) -> None:
    t = Tensor(data)
    check(t.sum(axis, keepdim), data.sum(axis, keepdims=keepdim), rtol=1e-5, atol=1e-5)
    check(t.max(axis, keepdim), data.max(axis, keepdims=keepdim))
    check(t.min(axis=axis, keepdim=keepdim), data.min(axis, keepdims=keepdim))
    check(t.mean(dim=axis, keepdim=keepdim), data.mean(axis, keepdims=keepdim), rtol=1e-5, atol=1e-6)
    check((t * 0.5 + 1).prod(axis, keepdim), (data * 0.5 + 1).prod(axis, keepdims=keepdim), rtol=1e-4)


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint8"])
def test_integer_sums_are_int64(dtype: str, check) -> None:
    x = (np.arange(24).reshape(4, 6) % 5).astype(dtype)
    check(Tensor(x).sum(), x.sum(dtype=np.int64))
    check(Tensor(x).sum(1), x.sum(1, dtype=np.int64))
    check(Tensor(x).max(0), x.max(0))
    check(Tensor(x).prod(0), x.prod(0, dtype=np.int64))


def test_var_std(data: np.ndarray, check) -> None:
    t = Tensor(data)
    check(t.var(), data.var(ddof=1), rtol=1e-5)
    check(t.var(1), data.var(1, ddof=1), rtol=1e-5)
    check(t.var(1, correction=0), data.var(1), rtol=1e-5)
    check(t.std((0, 2), keepdim=True, ddof=0), data.std((0, 2), keepdims=True), rtol=1e-5)
    check(t.std(-1), data.std(-1, ddof=1), rtol=1e-5)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family(axis: int, data: np.ndarray, check) -> None:
    t = Tensor(data)
    check(t.softmax(axis), _softmax(data, axis), rtol=1e-5, atol=1e-7)
    check(t.log_softmax(dim=axis), np.log(_softmax(data, axis)), rtol=1e-5, atol=1e-6)
    check(t.logsumexp(axis), np.log(np.exp(data).sum(axis)), rtol=1e-5, atol=1e-6)


def test_logsumexp_of_all_minus_infinity() -> None:
    out = Tensor(np.full((2, 3), -np.inf, np.float32)).logsumexp(1).numpy()
    assert np.all(np.isneginf(out))


def test_softmax_of_integers_is_float(check) -> None:
    x = np.array([[1, 2, 3]], np.int32)
    check(Tensor(x).softmax(), _softmax(x.astype(np.float32), -1), rtol=1e-6)


@pytest.mark.parametrize("axis", [None, 0, 1, 2])
def test_argmax_argmin_take_the_first(axis, check) -> None:
    x = np.array([[[3, 1, 3], [0, 5, 5]], [[2, 2, 1], [5, 0, 1]]], np.float32)
    check(Tensor(x).argmax(axis), np.argmax(x, axis))
    check(Tensor(x).argmin(axis), np.argmin(x, axis))
    assert Tensor(x).argmax(axis, keepdim=True).shape == np.argmax(x, axis, keepdims=True).shape


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(axis: int, data: np.ndarray, check) -> None:
    check(Tensor(data).cumsum(axis), data.cumsum(axis), rtol=1e-5, atol=1e-5)
    ints = (data * 10).astype(np.int32)
    check(Tensor(ints).cumsum(axis), ints.cumsum(axis, dtype=np.int64))


def test_any_all(check) -> None:
    x = np.array([[0, 1, 0], [0, 0, 0]], np.float32)
    check(Tensor(x).any(), np.bool_(True))
    check(Tensor(x).any(1), x.any(1))
    check(Tensor(x).all(0), x.all(0))
    check((Tensor(x) == 0).all(1, keepdim=True), (x == 0).all(1, keepdims=True))


def test_empty_axes() -> None:
    x = Tensor(np.zeros((0, 3), np.float32))
    assert np.array_equal(x.sum(0).numpy(), np.zeros(3, np.float32))
    assert np.array_equal(x.prod(0).numpy(), np.ones(3, np.float32))
    assert x.sum(1).shape == (0,)
    with pytest.raises(ValueError, match="empty"):
        x.max(0)
    with pytest.raises(ValueError, match="empty"):
        x.argmax(0)


def test_large_reduction_is_split_across_cores(check) -> None:
    x = np.random.default_rng(3).standard_normal(1 << 18).astype(np.float32)
    before = tt.counters.launched
    check(Tensor(x).sum(), x.sum(dtype=np.float64).astype(np.float32), rtol=1e-4, atol=1e-3)
    assert tt.counters.launched - before == 2  # partial sums, then their sum
    check(Tensor(x).reshape(512, 512).max(), x.max())


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((1, 1), (1, 1)), ((17, 33), (33, 9))]  # fmt: skip


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_follows_numpy(shapes: tuple, rng: np.random.Generator, check) -> None:
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    check(Tensor(a) @ Tensor(b), a @ b, rtol=1e-5, atol=1e-5)


def test_matmul_of_views_and_integers(rng: np.random.Generator, check) -> None:
    a = rng.standard_normal((6, 4)).astype(np.float32)
    check(Tensor(a).T @ Tensor(a), a.T @ a, rtol=1e-5, atol=1e-5)
    check(Tensor(a).matmul(Tensor(a).T[:, ::2]), a @ a.T[:, ::2], rtol=1e-5, atol=1e-5)
    i = np.arange(12, dtype=np.int32).reshape(3, 4)
    check(Tensor(i) @ Tensor(i).T, i @ i.T)
    check(Tensor(a[0]).dot(Tensor(a[1])), a[0] @ a[1], rtol=1e-5)


def _sum(a: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    return a.sum(axis, keepdims=keepdims, dtype=np.int64 if a.dtype.kind in "iu" else a.dtype)


VECTORISED = {  # (tensor expression, numpy expression) on (32, 64) data: kernels with 16 lanes or more
    "rows": (lambda t: t.sum(-1), lambda x: _sum(x, -1)),
    "row max": (lambda t: t.max(-1), lambda x: x.max(-1)),
    "columns": (lambda t: t.sum(0), lambda x: _sum(x, 0)),
    "column min": (lambda t: t.min(0), lambda x: x.min(0)),
    "rows and consumers": (lambda t: (t * 2).sum(1, keepdim=True) * 3 - 1, lambda x: _sum(x * 2, 1, True) * 3 - 1),
    "columns and consumers": (lambda t: t.sum(0) * 2 + t[0], lambda x: _sum(x, 0) * 2 + x[0]),
    "padded rows": (lambda t: t.pad(((0, 0), (8, 8))).sum(1), lambda x: _sum(np.pad(x, ((0, 0), (8, 8))), 1)),
    "strided rows": (lambda t: t[:, ::2].sum(1), lambda x: _sum(x[:, ::2], 1)),
    "transposed": (lambda t: t.T.sum(1), lambda x: _sum(x.T, 1)),
    "flipped": (lambda t: t.flip(1).max(1), lambda x: x[:, ::-1].max(1)),
    "sliced columns": (lambda t: t[:, 16:48].sum(0), lambda x: _sum(x[:, 16:48], 0)),
    "argmax rows": (lambda t: t.argmax(1), lambda x: x.argmax(1)),
    "argmin columns": (lambda t: t.argmin(0), lambda x: x.argmin(0)),
    "cumsum": (lambda t: t.cumsum(1), lambda x: x.cumsum(1, dtype=np.int64 if x.dtype.kind in "iu" else x.dtype)),
}


@pytest.mark.parametrize("name", sorted(VECTORISED))
@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64"])
def test_vectorised_reductions_match_numpy(name: str, dtype: str, check) -> None:
    x = (np.arange(32 * 64).reshape(32, 64) % 29 - 7).astype(dtype)
    on_tensor, on_numpy = VECTORISED[name]
    want = on_numpy(x)
    half = dtype == "float16"
    check(
        on_tensor(Tensor(x)),
        want.astype(dtype) if half and want.dtype.kind == "f" else want,
        rtol=1e-3 if half else 1e-6,
    )


@pytest.mark.parametrize("shapes", [((24, 64), (64, 96)), ((2, 16, 32), (2, 32, 64)), ((8, 128), (128, 32))], ids=str)
def test_tiled_matmul(shapes: tuple, rng: np.random.Generator, check) -> None:
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    check(Tensor(a) @ Tensor(b), a @ b, rtol=1e-4, atol=1e-4)
    check((Tensor(a) @ Tensor(b)).relu() + 1, np.maximum(a @ b, 0) + 1, rtol=1e-4, atol=1e-4)
    h = (Tensor(a, dtype=tt.float16) @ Tensor(b, dtype=tt.float16)).numpy()
    np.testing.assert_allclose(h.astype(np.float32), a @ b, rtol=5e-2, atol=5e-2)


PACKED_SHAPES = [((128, 256), (256, 128)), ((67, 40), (40, 224)), ((2, 24, 33), (2, 33, 64)),
                 ((3, 1, 8, 16), (5, 16, 32)), ((48,), (48, 32)), ((12, 48), (48, 96))]  # fmt: skip


@pytest.mark.parametrize("shapes", PACKED_SHAPES, ids=str)
def test_packed_matmul(shapes: tuple, rng: np.random.Generator, check, monkeypatch) -> None:
    """The path that packs the right operand into panels, at every size (odd rows, batches, vectors)."""
    from tinyhw_tensor import reduce

    monkeypatch.setattr(reduce, "MATMUL_PACK", 0)
    monkeypatch.setattr(reduce, "MATMUL_PACK_REALIZED", 0)
    a = rng.standard_normal(shapes[0]).astype(np.float32)
    b = rng.standard_normal(shapes[1]).astype(np.float32)
    before = tt.counters.launched
    check(Tensor(a) @ Tensor(b), a @ b, rtol=1e-4, atol=1e-4)
    assert tt.counters.launched - before == 2  # the panels, then the product
    check((Tensor(a) @ Tensor(b)).relu() + 1, np.maximum(a @ b, 0) + 1, rtol=1e-4, atol=1e-4)
    bt = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if b.ndim > 1 else b
    check(Tensor(a) @ (Tensor(bt).mT if b.ndim > 1 else Tensor(b)), a @ b, rtol=1e-4, atol=1e-4)
    for dtype in (tt.float16, tt.bfloat16):
        ha, hb = Tensor(a, dtype=dtype), Tensor(b, dtype=dtype)
        want = ha.cast(tt.float32).numpy() @ hb.cast(tt.float32).numpy()
        np.testing.assert_allclose((ha @ hb).cast(tt.float32).numpy(), want, rtol=2e-2, atol=0.2)


@pytest.mark.parametrize("registers", [32, 8])
def test_register_tile_fits_the_registers(registers: int, monkeypatch) -> None:
    """The matmul tile's accumulators, loads and broadcast fit the vector registers, and it is exact."""
    from tinyhw_tensor import lower

    monkeypatch.setattr(lower, "vector_registers", lambda: registers)
    a, b = Tensor(np.ones((64, 64), np.float32)), Tensor(np.ones((64, 64), np.float32))
    w = 16
    panels = b.reshape(64, 4, w).transpose(0, 1).contiguous().realize()
    product = a.reshape(64, 1, 1, 64) * panels.reshape(4, 64, w).transpose(-1, -2).unsqueeze(0)
    root = product.sum(-1).node
    plan = lower.make_plan(root, lower.fused_reduction(root))
    rows, vectors = (count for _, count in plan.tile)
    assert plan.mode == "output" and plan.lanes == w
    assert rows * vectors + vectors + 1 <= registers
    assert [d for d, _ in plan.tile] == [0, 1]  # rows of M, panels of N
