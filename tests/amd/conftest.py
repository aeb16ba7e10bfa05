"""Fixtures of the AMD plugin tests: an OS of our choosing plugged in through the OS seam for one test.

The test run's simulated machine (tests/sim) answers the seam too; a plugin registered later wins,
so these fixtures replace it for the test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from amd_fake_os import FakeOS, FakeOSPlugin

from tinyhw.hcq.os_access import LinuxOSAccess


@pytest.fixture
def machine(plugin) -> Callable[[dict[str, str]], FakeOS]:
    """machine(files): make the process see an OS holding exactly `files` for this test."""

    def install(files: dict[str, str]) -> FakeOS:
        access = FakeOS(files)
        plugin(FakeOSPlugin(access), "fake-os")
        return access

    return install


@pytest.fixture
def this_machine(plugin) -> None:
    """The real OS of the machine running the tests, in place of any simulated one."""
    plugin(FakeOSPlugin(LinuxOSAccess()), "real-os")
