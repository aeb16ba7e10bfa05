"""Lowered kernels on disk: a new process skips lowering and rendering the graphs it has seen; anything
else (another graph, a damaged entry) is lowered afresh, and TINYHW_CACHE=0 keeps nothing."""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pytest

from tinyhw_tensor import Tensor, runtime

X = np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.fixture
def lowerings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A private cache directory and an empty in-memory kernel table (as in a new process); the names
    of the kernels lowered from then on."""
    monkeypatch.setenv("TINYHW_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TINYHW_CACHE", "1")
    names: list[str] = []
    lower = runtime.lower

    def counted(*args, **kwargs):
        kernel, groups = lower(*args, **kwargs)
        names.append(kernel.name)
        return kernel, groups

    monkeypatch.setattr(runtime, "lower", counted)
    monkeypatch.setattr(runtime, "_kernels", weakref.WeakKeyDictionary())
    return names


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_kernels", weakref.WeakKeyDictionary())


def test_a_graph_seen_in_an_earlier_process_is_not_lowered_again(lowerings, monkeypatch) -> None:
    np.testing.assert_allclose((Tensor(X) * 2 + 1).sum(1).numpy(), (X * 2 + 1).sum(1))
    assert len(lowerings) == 1
    _new_process(monkeypatch)
    np.testing.assert_allclose((Tensor(X + 1) * 2 + 1).sum(1).numpy(), ((X + 1) * 2 + 1).sum(1))
    assert len(lowerings) == 1  # same structure, other data: served from disk
    (Tensor(X) * 3 + 1).sum(1).numpy()  # another constant is another kernel
    assert len(lowerings) == 2


def test_a_damaged_entry_is_lowered_afresh(lowerings, monkeypatch, tmp_path: Path) -> None:
    (Tensor(X) - 5).abs().numpy()
    for n, entry in enumerate(path for path in tmp_path.rglob("*") if path.is_file()):
        entry.write_bytes(b"\x00not a kernel" if n % 2 else b'{"source": "not all the fields"}')
    _new_process(monkeypatch)
    np.testing.assert_array_equal((Tensor(X) - 5).abs().numpy(), np.abs(X - 5))
    assert len(lowerings) == 2


def test_no_cache_keeps_nothing(lowerings, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TINYHW_CACHE", "0")
    (Tensor(X) * 7).numpy()
    _new_process(monkeypatch)
    (Tensor(X) * 7).numpy()
    assert len(lowerings) == 2 and not any(tmp_path.rglob("*"))
