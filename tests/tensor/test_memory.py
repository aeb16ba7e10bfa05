"""Device memory: intermediate and dead tensors' buffers are freed; nothing leaks."""

from __future__ import annotations

import gc

import numpy as np

import tinyhw_tensor as tt
from tinyhw_tensor import Tensor


def live() -> int:
    gc.collect()
    return tt.counters.live_buffers


def test_buffers_are_freed_when_tensors_die() -> None:
    base = live()
    t = Tensor(np.ones((256, 256), np.float32))
    u = (t * 2).realize()
    assert live() == base + 2
    del t
    assert live() == base + 1
    del u
    assert live() == base


def test_intermediate_buffers_are_freed() -> None:
    base = live()
    x = Tensor(np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32))
    out = x.softmax(1).realize()  # max and sum are realized on the way
    assert live() == base + 2
    del x, out
    assert live() == base


def test_many_operations_leave_nothing_behind() -> None:
    base = live()
    for i in range(50):
        a = tt.arange(100, dtype=tt.float32).reshape(10, 10) + i
        b = (a @ a.T).softmax(0).sum(1)
        assert b.numpy().shape == (10,)
    del a, b
    assert live() == base


def test_validate_layer_reports_no_leak(python_script) -> None:
    script = """
import gc, warnings
import numpy as np
import tinyhw
from tinyhw_tensor import Tensor
warnings.simplefilter("error")
x = Tensor(np.ones((8, 8), np.float32))
for _ in range(5):
    y = (x @ x).softmax(0) + x[::2].sum()
    y.numpy()
del x, y
gc.collect()
tinyhw.Device().close()
print("clean")
"""
    result = python_script(script, TINYHW_LAYERS="validate")
    assert result.stdout.strip() == "clean", result.stderr
