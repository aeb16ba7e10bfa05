"""The tensor frontend, unchanged, on webgpu:0: a few ops here, and the whole of tests/tensor in a subprocess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pytest_subprocess import outcome, run_pytest
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


@pytest.mark.timeout(1200)
def test_the_tensor_op_tests_pass_on_webgpu(tmp_path: Path) -> None:
    """tests/tensor but its slow model tests, with TINYHW_DEVICE=webgpu:0 (about 100 s on lavapipe, 2 busy cores).

    Tests needing a dtype webgpu refuses (int64, float64) skip with the capability's reason
    (tests/tensor/conftest.py); everything else must pass.
    """
    require_webgpu()
    repo = Path(__file__).resolve().parents[2]
    result = run_pytest("tests/tensor", "-m", "not slow", "-q", "-rs", "--basetemp", str(tmp_path / "t"), cwd=repo,
                        scratch=tmp_path, device="webgpu:0", timeout=1200)  # fmt: skip
    summary = outcome(result)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "webgpu:0 does not support" in result.stdout  # the skips say why
