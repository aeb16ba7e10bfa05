"""The conformance suite (tinyhw.testing) passes on webgpu:0, and `tinyhw devices` lists it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_subprocess import outcome, run_pytest
from webgpu_support import require_webgpu


def test_the_whole_suite_passes_on_webgpu(tmp_path: Path) -> None:
    require_webgpu()
    result = run_pytest("--pyargs", "tinyhw.testing", "--tinyhw-device=webgpu", "-q", cwd=tmp_path)
    summary = outcome(result)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary and " failed" not in summary and "error" not in summary, summary


def test_tinyhw_devices_lists_the_adapter_with_its_backend(tmp_path: Path) -> None:
    require_webgpu()
    command = [sys.executable, "-c", "from tinyhw.cli import main; main(['devices'])"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert "webgpu:0:" in result.stdout and "renderer wgsl" in result.stdout, result.stdout[-3000:]
    assert "dtype:int64" in result.stdout and "dtype:int8" not in result.stdout
