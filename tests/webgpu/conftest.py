"""Fixtures for the WebGPU plugin's tests: `webgpu`, a fresh webgpu:0 (skips here, fails in CI, without one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webgpu_support import require_webgpu

import tinyhw


@pytest.fixture
def webgpu() -> Iterator[tinyhw.Device]:
    """A freshly opened webgpu:0, closed after the test."""
    require_webgpu()
    device = tinyhw.Device("webgpu")
    yield device
    device.close()
