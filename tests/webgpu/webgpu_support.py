"""Whether the WebGPU plugin can run here: skip without an adapter, fail in CI (.ci/run installs lavapipe)."""

from __future__ import annotations

import os

import pytest


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
