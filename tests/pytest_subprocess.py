"""Running pytest in a child process (test helper): a whole test directory on one device, in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["outcome", "run_pytest"]


def run_pytest(
    *args: str,
    cwd: Path,
    scratch: Path | None = None,
    device: str | None = None,
    settings: Mapping[str, str] | None = None,
    timeout: int = 300,
) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` in `cwd`, its kernel cache in `scratch` (default `cwd`), no TINYHW_ settings
    inherited but TINYHW_DEVICE=`device` when given and the environment variables in `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYHW_")}
    env |= {"TINYHW_CACHE_DIR": str((scratch or cwd) / "cache"), "XDG_RUNTIME_DIR": env.get("XDG_RUNTIME_DIR", "/tmp")}
    env |= ({"TINYHW_DEVICE": device} if device else {}) | dict(settings or {})
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def outcome(result: subprocess.CompletedProcess[str]) -> str:
    """The summary line of a pytest run (its stderr when it printed nothing)."""
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
