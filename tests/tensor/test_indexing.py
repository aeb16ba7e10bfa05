"""Indexing with numpy's rules: ints, slices, None, Ellipsis, integer arrays/tensors, bool masks; gather."""

from __future__ import annotations

import numpy as np
import pytest

from tinyhw_tensor import Tensor

KEYS = [
    1, -1, (0, 2), (slice(None), 1), slice(1, None), slice(None, None, 2), slice(None, None, -1),
    (slice(3, 0, -2), slice(None, None, -3)), (Ellipsis, 1), (None, 1, None), (1, Ellipsis, None),
    slice(10, 20), slice(-100, 100), (slice(None), slice(2, 2)), (0, slice(None), slice(1, -1, 2)),
]  # fmt: skip


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)


@pytest.mark.parametrize("key", KEYS, ids=str)
def test_basic_indexing(key, x: np.ndarray, check) -> None:
    check(Tensor(x)[key], x[key])


ADVANCED = [
    [2, 0, -1],
    np.array([[1, 3], [0, 0]]),
    (slice(None), [4, 0]),
    ([0, 2], [1, 3]),
    ([0, 2], slice(None), [1, 3]),
    (slice(None), [1, 2], [0, 5]),
    (1, [0, 4], slice(None, None, 2)),
    (Ellipsis, [5, 0, 1]),
    ([[0], [3]], [1, 2]),
]


@pytest.mark.parametrize("key", ADVANCED, ids=str)
def test_advanced_indexing_with_host_indices(key, x: np.ndarray, check) -> None:
    check(Tensor(x)[key], x[key])


def test_indexing_with_tensors(x: np.ndarray, check) -> None:
    t = Tensor(x)
    idx = np.array([[3, 0], [1, -1]])
    check(t[Tensor(idx)], x[idx])
    check(t[:, Tensor(np.array([4, 4, 0], np.int32))], x[:, [4, 4, 0]])
    check(t[Tensor(idx), 2], x[idx, 2])
    check((t * 2)[Tensor(np.array([1, 2]))].sum(0), (x * 2)[[1, 2]].sum(0))
    check(t[t.sum((1, 2)).argmax()], x[x.sum((1, 2)).argmax()])


def test_bool_masks(x: np.ndarray, check) -> None:
    t = Tensor(x)
    check(t[t > 100], x[x > 100])
    check(t[np.array([True, False, True, False])], x[[True, False, True, False]])
    check(t[:, Tensor(np.array([False, True, True, False, False]))], x[:, [False, True, True, False, False]])


def test_gather(check) -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    index = np.array([[0, 3], [2, 2], [1, 0]])
    check(Tensor(data).gather(1, Tensor(index)), np.take_along_axis(data, index, 1))
    index0 = np.array([[2, 0, 1, 1]])
    check(Tensor(data).gather(0, Tensor(index0)), np.take_along_axis(data, index0, 0))


def test_tensor_indices_out_of_range_read_zero() -> None:
    out = Tensor(np.ones(3, np.float32))[Tensor(np.array([0, 7]))].numpy()
    assert out.tolist() == [1.0, 0.0]
