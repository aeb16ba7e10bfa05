"""`python -m autogen --check` regenerates every committed module byte for byte from the installed headers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cprobe import installed_root

from autogen.emit import header_version
from autogen.generate import generate
from autogen.sources import PACKAGES
from autogen.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]


def committed(target) -> str:
    """The committed module text; skips unless its headers, in the version it names, are installed."""
    installed_root(target)
    text = (ROOT / target.output).read_text()
    installed = f"{target.package} {PACKAGES[target.package].version()}"
    if header_version(text) != installed:
        pytest.skip(f"{target.output} was generated from {header_version(text)}, {installed} is installed")
    return text


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_committed_module_is_reproduced(target):
    expected = committed(target)  # first: it skips when the target's headers are not installed
    assert generate(target) == expected


def test_check_cli_reports_up_to_date():
    target = TARGETS[0]
    committed(target)
    result = subprocess.run(
        [sys.executable, "-m", "autogen", "--check", target.name], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"{target.output}: up to date" in result.stdout


def test_unknown_target_is_refused_with_the_known_names():
    result = subprocess.run(
        [sys.executable, "-m", "autogen", "no_such_target"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "no autogen target 'no_such_target'" in result.stderr and "kfd" in result.stderr


def test_generated_modules_are_compact_and_name_their_sources():
    for target in TARGETS:
        text = (ROOT / target.output).read_text()
        assert len(text) < 200_000, f"{target.output} is {len(text) // 1024} KiB"
        assert header_version(text).startswith(target.package), target.output
        assert f"python -m autogen {target.name}" in text.split('"""')[1]
