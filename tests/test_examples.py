"""The examples a user runs first work and say so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("script", ["hello_kernel.py", "custom_kernel.py"])
def test_example_runs_and_matches_numpy(script):
    run = subprocess.run([sys.executable, str(EXAMPLES / script), "cpu"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "matches numpy" in run.stdout
