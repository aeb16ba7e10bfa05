"""Movement (views) and joining: reshape, permute, expand, squeeze, pad, flip, repeat, cat, stack, split."""

from __future__ import annotations

import numpy as np
import pytest

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)


def test_reshape_and_flatten(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t.reshape(6, 4), x.reshape(6, 4))
    check(t.reshape((4, -1)), x.reshape(4, -1))
    check(t.reshape(-1), x.reshape(-1))
    check(t.view(3, 8), x.reshape(3, 8))
    check(t.flatten(), x.flatten())
    check(t.flatten(1), x.reshape(2, 12))
    check(t.flatten(0, 1), x.reshape(6, 4))
    check(Tensor(np.float32(3)).flatten(), np.array([3], np.float32))


def test_reshape_of_non_contiguous_views(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t.permute(2, 0, 1).reshape(4, 6), x.transpose(2, 0, 1).reshape(4, 6))
    check(t.permute(1, 2, 0).reshape(12, 2) + 1, x.transpose(1, 2, 0).reshape(12, 2) + 1)
    check(t[:, 1:, ::2].reshape(-1), x[:, 1:, ::2].reshape(-1))
    check(t.flip(2).reshape(2, 12), x[:, :, ::-1].reshape(2, 12))
    check(t.pad(((0, 0), (1, 1), (0, 0))).reshape(10, 4), np.pad(x, ((0, 0), (1, 1), (0, 0))).reshape(10, 4))
    check(t.T.reshape(4, 3, 2).permute(2, 1, 0).reshape(6, 4), x.T.reshape(4, 3, 2).transpose(2, 1, 0).reshape(6, 4))


def test_permute_transpose(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t.permute(2, 0, 1), x.transpose(2, 0, 1))
    check(t.permute((1, 2, 0)), x.transpose(1, 2, 0))
    check(t.transpose(0, 2), x.swapaxes(0, 2))
    check(t.T, x.T)
    check(t.mT, x.swapaxes(-1, -2))


def test_expand_squeeze_unsqueeze(check) -> None:
    v = np.arange(3, dtype=np.int32).reshape(3, 1)
    t = Tensor(v)
    check(t.expand(2, 3, 4), np.broadcast_to(v, (2, 3, 4)))
    check(t.expand(-1, 5), np.broadcast_to(v, (3, 5)))
    check(t.broadcast_to((3, 2)), np.broadcast_to(v, (3, 2)))
    check(t.squeeze(), v.squeeze())
    check(t.squeeze(1), v.squeeze(1))
    check(t.squeeze(0), v)
    check(t.unsqueeze(0), v[None])
    check(t.unsqueeze(-1), v[..., None])


def test_pad_forms(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t.pad(((1, 0), (0, 2), (3, 1))), np.pad(x, ((1, 0), (0, 2), (3, 1))))
    check(t.pad([None, (1, 1)]), np.pad(x, ((0, 0), (1, 1), (0, 0))))
    check(t.pad((1, 2)), np.pad(x, ((0, 0), (0, 0), (1, 2))))  # PyTorch's F.pad form: last dim first
    check(t.pad((1, 2, 0, 1), value=-1.5), np.pad(x, ((0, 0), (0, 1), (1, 2)), constant_values=-1.5))
    check(t.pad(((0, 0), (-1, 1), (0, -2))), np.pad(x[:, 1:, :2], ((0, 0), (0, 1), (0, 0))))
    check(t.pad(((1, 1), (0, 0), (0, 0))).sum(0), np.pad(x, ((1, 1), (0, 0), (0, 0))).sum(0))
    check((t.exp().pad(((0, 0), (2, 0), (0, 0))) * 2).max(1), (np.pad(np.exp(x), ((0, 0), (2, 0), (0, 0))) * 2).max(1))


def test_flip(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t.flip(0), x[::-1])
    check(t.flip((1, 2)), x[:, ::-1, ::-1])
    check(t.flip(), x[::-1, ::-1, ::-1])


def test_repeat(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t.repeat(1, 2, 1), np.tile(x, (1, 2, 1)))
    check(t.repeat(2, 1, 1, 3), np.tile(x, (2, 1, 1, 3)))
    check(Tensor(np.array([1, 2], np.int64)).repeat(3), np.tile(np.array([1, 2]), 3))


def test_cat_stack(x: np.ndarray, check) -> None:
    a, b = Tensor(x), Tensor(x * 2)
    check(tt.cat([a, b]), np.concatenate([x, x * 2]))
    check(tt.cat([a, b[:, :1], a], 1), np.concatenate([x, x[:, :1] * 2, x], 1))
    check(tt.cat([a.cast(tt.int32), b], -1), np.concatenate([x, x * 2], -1))  # int32 with float32: float32
    check(tt.cat([a > 5, b > 5]), np.concatenate([x > 5, x * 2 > 5]))
    check(tt.stack([a, b]), np.stack([x, x * 2]))
    check(tt.stack([a, b], -1), np.stack([x, x * 2], -1))
    check(tt.stack([a[0], b[1]], 1), np.stack([x[0], x[1] * 2], 1))


def test_split_chunk(x: np.ndarray, check) -> None:
    t = Tensor(x)
    parts = t.split(3, 2)
    assert [p.shape for p in parts] == [(2, 3, 3), (2, 3, 1)]
    check(parts[1], x[:, :, 3:])
    check(t.split([1, 2], 1)[1], x[:, 1:])
    assert [p.shape for p in t.chunk(2, 1)] == [(2, 2, 4), (2, 1, 4)]
    with pytest.raises(ValueError, match="add up"):
        t.split([1, 1], 1)


def test_views_of_empty_tensors(check) -> None:
    empty = Tensor(np.zeros((0, 3), np.float32))
    a = Tensor(np.ones((2, 3), np.float32))
    check(tt.cat([a, empty, a]), np.ones((4, 3), np.float32))
    check(empty.pad(((1, 1), (0, 0)), value=2.0), np.full((2, 3), 2.0, np.float32))
    check(empty.T.reshape(3, 0, 1), np.zeros((3, 0, 1), np.float32))
    check(a[Tensor(np.array([], np.int64))], np.zeros((0, 3), np.float32))
