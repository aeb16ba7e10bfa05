"""amd:0 — the AMD plugin on the simulated gfx1100 — passes tinyhw's conformance suite, and reports faults and hangs.

The suite runs in a fresh pytest process with `-p tests.sim.plugin`, exactly as a user would run it
against a real GPU with `--tinyhw-device=amd:0`: the AMD plugin drives the simulated KFD through the
OS-access seam, its PM4 and SDMA packets are decoded by the simulated command processors and its
kernels run on the RDNA3 emulator.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import tinyhw
from tests.pytest_subprocess import run_pytest
from tests.sim.amd.fault_kernels import SPIN, STORE_TO
from tests.sim.amd.os import SimulatedOS
from tinyhw.hcq.os_access import os_access

ROOT = Path(__file__).resolve().parents[3]


def run_suite(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`pytest -p tests.sim.plugin --pyargs tinyhw.testing` on amd:0, in a clean environment."""
    return run_pytest("-p", "tests.sim.plugin", "--pyargs", "tinyhw.testing", "--tinyhw-device=amd:0", "-rfEs",
                      cwd=tmp_path, settings={"PYTHONPATH": str(ROOT)}, timeout=600)  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(660)  # 2-3 minutes: the suite's 20,000-launch and 4096-work-item tests run on the emulator
def test_the_conformance_suite_passes_on_the_simulated_gpu(tmp_path: Path) -> None:
    result = run_suite(tmp_path)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "tinyhw device: amd:0 (backend amd" in result.stdout, result.stdout[:2000]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


@pytest.fixture
def amd() -> Iterator[tinyhw.Device]:
    """A freshly opened amd:0 (a fault or hang leaves a device failed), closed after the test."""
    tinyhw.Device("amd:0").close()
    device = tinyhw.Device("amd:0")
    yield device
    device.close()


def test_a_gpu_page_fault_is_a_device_fault_naming_the_page(amd: tinyhw.Device) -> None:
    amd.launch(amd.compile(STORE_TO, "store_to"), 0xDEAD_1230)
    with pytest.raises(tinyhw.DeviceFault, match="0xdead1000"):
        amd.sync()


def test_a_kernel_past_its_instruction_budget_is_a_device_hang(
    amd: tinyhw.Device, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulated = os_access()
    assert isinstance(simulated, SimulatedOS)
    monkeypatch.setattr(simulated.process.gpu, "budget", 2_000)  # a hung kernel gives up after 2000 instructions
    monkeypatch.setenv("TINYHW_WAIT_TIMEOUT_MS", "300")
    flag = amd.allocate(4096)
    amd.launch(amd.compile(SPIN, "spin"), flag)
    with pytest.raises(tinyhw.DeviceHang, match="amd:0"):
        amd.sync()
