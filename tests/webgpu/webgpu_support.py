"""Whether the WebGPU plugin can run here (skip without an adapter, fail in CI), and running one kernel on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyhw
from tinyhw.kernel.ir import Kernel
from tinyhw.kernel.render import compile_kernel


def webgpu_missing() -> str | None:
    """Why webgpu:0 cannot be used here, or None when it can."""
    try:
        import tinyhw_webgpu
    except ImportError as exc:
        return f"tinyhw-webgpu or wgpu is not installed ({exc}); pip install -e ./plugins/webgpu"
    if not tinyhw_webgpu.adapters():
        return "no WebGPU adapter (install Mesa's lavapipe: apt-get install mesa-vulkan-drivers)"
    return None


def require_webgpu() -> None:
    """Skip without a WebGPU adapter; fail instead when CI is set (.ci/run installs lavapipe)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # wgpu-native warns without one
    missing = webgpu_missing()
    if missing:
        pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)


def run_kernel(device: tinyhw.Device, kernel: Kernel, inputs: list[np.ndarray], out: np.ndarray, *scalars: object,
               groups: int = 1, offset: int = 0) -> np.ndarray:  # fmt: skip
    """Launch `kernel` with (inputs..., output, scalars...) on `device`; returns the output as numpy.

    The output buffer starts as `out`'s bytes; with `offset`, every buffer is a view starting that
    many elements into a larger buffer, so kernels see views at unaligned byte offsets.
    """
    buffers = []
    for array in (*inputs, out):
        root = device.allocate((array.size + offset) * array.itemsize + 3)
        buffers.append(root.view(offset * array.itemsize, array.nbytes))
        device.copy(buffers[-1], memoryview(np.ascontiguousarray(array)).cast("B"))
    device.launch(compile_kernel(device, kernel), *buffers, *scalars, global_size=groups,
                  local_size=kernel.local_size)  # fmt: skip
    result = np.empty_like(out)
    device.copy(memoryview(result).cast("B"), buffers[-1])
    device.sync()
    for buffer in buffers:
        device.free(buffer.root)
    return result


def run_pytest(
    *args: str, cwd: Path, scratch: Path | None = None, device: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` in `cwd`, its kernel cache in `scratch` (default `cwd`), no TINYHW_ settings
    inherited but TINYHW_DEVICE=`device` when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYHW_")}
    env |= {"TINYHW_CACHE_DIR": str((scratch or cwd) / "cache"), "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR", "/tmp")}
    env |= {"TINYHW_DEVICE": device} if device else {}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def outcome(result: subprocess.CompletedProcess[str]) -> str:
    """The summary line of a pytest run (its stderr when it printed nothing)."""
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
