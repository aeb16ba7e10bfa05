"""Whether the WebGPU plugin can run here (skip without an adapter, fail in CI), and running one kernel on it."""

from __future__ import annotations

import os

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
