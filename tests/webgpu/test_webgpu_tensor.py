"""The tensor frontend, unchanged, on webgpu:0: elementwise, reductions, matmul, softmax against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from webgpu_support import require_webgpu

tensor = pytest.importorskip("tinyhw_tensor")

X = np.random.default_rng(0).random((8, 16), dtype=np.float32)
W = np.random.default_rng(1).random((16, 4), dtype=np.float32)
CASES = {
    "elementwise": (lambda t: (t + t * 2 - 1).exp(), np.exp(X * 3 - 1)),
    "sum": (lambda t: t.sum(axis=1), X.sum(1)),
    "matmul": (lambda t: t @ tensor.Tensor(W, device="webgpu"), X @ W),
    "softmax": (lambda t: t.softmax(-1), np.exp(X) / np.exp(X).sum(-1, keepdims=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tensor_ops_match_numpy(case: str) -> None:
    require_webgpu()
    op, expect = CASES[case]
    np.testing.assert_allclose(op(tensor.Tensor(X, device="webgpu")).numpy(), expect, rtol=1e-5, atol=1e-6)
