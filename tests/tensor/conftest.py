"""Fixtures for the tensor frontend's tests: seeded data and a numpy comparison helper."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import tinyhw
import tinyhw_tensor as tt
from tinyhw.kernel.ir import IRError

_UNSUPPORTED = re.compile(r"(?:dtype |(?P<math>float64) (?=\w+ is))?(?P<name>\w+) is not supported on "
                          r"(?P<device>\w+(?::\d+)?)")  # fmt: skip
"""A refusal: of a dtype ("dtype int64 is not supported on webgpu:0") or of float64 math ("float64 pow is not
supported on amd:0"), by a device or a backend ("WebGPU": the default device's)."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Skip, with the device's reason, a test that needs a dtype (`dtype:NAME`) or float64 math (`float64-math`)
    its device declares unsupported.

    Tensors go to `TINYHW_DEVICE` when set, so the same tests run on devices without float64 or int64:
    the frontend's TypeError ("dtype int64 is not supported on webgpu:0: ...") or a renderer's IRError
    for a dtype used inside a kernel ("wgsl: float64 is not supported on WebGPU") become skips.
    """
    try:
        return (yield)
    except (TypeError, IRError) as exc:
        reason = _unsupported_dtype(exc)
        if reason is None:
            raise
    pytest.skip(reason)  # outside `except`: the skip does not keep the test's frames (and tensors) alive


def _unsupported_dtype(exc: Exception) -> str | None:
    """Why `exc` is a device refusing a dtype or float64 math it declares unsupported, or None for anything else."""
    match = _UNSUPPORTED.search(str(exc))
    if match is None:
        return None
    device = tinyhw.Device(match["device"] if ":" in match["device"] else None)
    if match["math"]:
        feature, what = "float64-math", f"float64 {match['name']}"
    else:
        feature, what = f"dtype:{match['name']}", match["name"]
    reason = device.backend.capabilities.unsupported.get(feature)
    return f"{device.name} does not support {what}: {reason}" if reason else None


def assert_matches(t: tt.Tensor, expected: object, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """`t` has expected's shape, dtype (bfloat16 reads back as float32) and values (NaNs equal)."""
    got = t.numpy()
    want = np.asarray(expected)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture
def check() -> Callable[..., None]:
    """assert_matches(tensor, expected, rtol=1e-5, atol=1e-6)."""
    return assert_matches


_SIMULATED_MACHINE = """
from tests.sim.plugin import PLUGIN_NAME, SimulatedMachine
from tinyhw.registry import registry
registry.register(SimulatedMachine(), PLUGIN_NAME)
"""
"""What tests.sim.plugin does for this run, done in a child process: amd:0 is a simulated gfx1100 there too."""


def run_python(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -c script` in a fresh process with this run's environment plus `env` and its simulated machine, so
    the script's tensors go to the device this run's do (TINYHW_DEVICE), simulated or not."""
    repo = Path(__file__).resolve().parents[2]
    environ = dict(os.environ, **env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), environ.get("PYTHONPATH")]))
    command = [sys.executable, "-c", _SIMULATED_MACHINE + script]
    return subprocess.run(command, capture_output=True, text=True, env=environ, timeout=120)


@pytest.fixture
def python_script() -> Callable[..., subprocess.CompletedProcess[str]]:
    """run_python(script, **env): the script's result (stdout, stderr) in a fresh process on this run's device."""
    return run_python


@pytest.fixture
def rng() -> np.random.Generator:
    """A numpy generator with a fixed seed."""
    return np.random.default_rng(1234)
