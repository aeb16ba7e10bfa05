"""Shared fixtures: a fresh CPU device, and plugins registered only for one test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import tinyhw
from tinyhw.registry import registry

os.environ.setdefault("TINYHW_DEVICE", "cpu")  # the default device stays cpu; amd:0 (simulated) only when asked


def pytest_configure(config: pytest.Config) -> None:
    """Load tests.sim.plugin (amd:0 is the simulated gfx1100) unless `-p tests.sim.plugin` already did."""
    if not config.pluginmanager.has_plugin("tests.sim.plugin"):
        config.pluginmanager.import_plugin("tests.sim.plugin")


@pytest.fixture
def cpu() -> Iterator[tinyhw.Device]:
    """A freshly opened cpu:0, closed after the test."""
    device = tinyhw.Device("cpu")
    device.close()
    device = tinyhw.Device("cpu")
    yield device
    device.close()


@pytest.fixture
def plugin() -> Iterator:
    """register(obj, name) for the test's duration; unregistered afterwards."""
    names: list[str] = []

    def register(obj: object, name: str):
        names.append(name)
        return registry.register(obj, name)

    yield register
    for name in names:
        registry.unregister(name)
