"""pytest plugin: a simulated machine answers tinyhw's OS-access hook for the whole run; amd:0 is a simulated gfx1100.

Use it with `python -m pytest -p tests.sim.plugin ...`; tests/conftest.py loads it for the normal run.
It registers a tinyhw plugin whose `tinyhw_os_access` returns one `SimulatedOS`; kernel-driver
paths (the AMD plugin's KFD interface) then open, ioctl and mmap the simulated GPU, and nothing
above them changes. The simulated OS is shut down (its GPU threads stopped) when the run ends.
"""

from __future__ import annotations

import pytest

import tinyhw
from tests.sim.amd.os import SimulatedOS
from tinyhw.registry import registry

PLUGIN_NAME = "simulated-os"


class SimulatedMachine:
    """The tinyhw plugin object: one SimulatedOS for every driver that asks."""

    def __init__(self) -> None:
        self.os = SimulatedOS()

    @tinyhw.hookimpl
    def tinyhw_os_access(self) -> SimulatedOS:
        """The simulated OS (a KFD with one gfx1100) for every kernel-driver path."""
        return self.os


def pytest_configure(config: pytest.Config) -> None:
    machine = SimulatedMachine()
    config.stash[_MACHINE] = machine
    registry.register(machine, PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    machine = config.stash.get(_MACHINE, None)
    if machine is None:
        return
    for device in list(registry.open_devices()):
        if device.name.startswith("amd:"):
            device.close()
    registry.unregister(PLUGIN_NAME)
    machine.os.shutdown()


_MACHINE = pytest.StashKey[SimulatedMachine]()
