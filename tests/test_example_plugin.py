"""The example plugin, installed for real into a temporary directory, works beside the CPU device.

Nothing is installed into the running environment: pip installs into a temporary `--target`
and each check runs in a subprocess with that directory on PYTHONPATH, the way a user's
environment sees a plugin installed from PyPI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tinyhw-example"


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with tinyhw-example installed in it by pip (its PYTHONPATH entry)."""
    work = tmp_path_factory.mktemp("example-plugin")
    source, site = work / "source", work / "site"
    # Built from a copy: setuptools writes build/ and *.egg-info next to the sources it builds.
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
               "--disable-pip-version-check", "--target", str(site), str(source)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = f"{result.stdout}\n{result.stderr}"
        hint = "\nhint: setuptools < 70.1 builds wheels only with `wheel` installed" if "bdist_wheel" in output else ""
        pytest.fail(f"pip could not install the example plugin:\n{output}{hint}", pytrace=False)
    return site


def run_python(site: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`python ARGS` with the installed example plugin importable and no device or layer preset."""
    environment = {key: value for key, value in os.environ.items() if key not in ("TINYHW_DEVICE", "TINYHW_LAYERS")}
    paths = [str(site), os.environ.get("PYTHONPATH", "")]
    environment.update(PYTHONPATH=os.pathsep.join(p for p in paths if p), PYTHONDONTWRITEBYTECODE="1", **env)
    command = [sys.executable, *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=environment, timeout=600)


def explain(result: subprocess.CompletedProcess) -> str:
    """The exit status and output of a subprocess, for an assertion message."""
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_devices_lists_the_example_beside_the_cpu(example_site: Path, tmp_path: Path) -> None:
    result = run_python(example_site, "-m", "tinyhw.cli", "devices", cwd=tmp_path)
    assert result.returncode == 0, explain(result)
    assert "example 0.1.0: ok (example, layer count)" in result.stdout
    assert "example:0: tinyhw example device (pure Python), 1.0 GiB" in result.stdout
    assert "cpu:0: " in result.stdout
    assert "hcq: runs kernels synchronously in Python" in result.stdout


def test_selftest_passes_on_both_with_the_plugins_layer(example_site: Path, tmp_path: Path) -> None:
    result = run_python(example_site, "-m", "tinyhw.cli", "selftest", cwd=tmp_path, TINYHW_LAYERS="count")
    assert result.returncode == 0, explain(result)
    assert re.search(r"\n(\d+) of \1 devices passed", result.stdout)  # cpu, example, and any installed plugin's
    assert "tinyhw count example:0: 1 launches (add_f32 x1)" in result.stderr


def test_conformance_suite_passes_on_the_example(example_site: Path, tmp_path: Path) -> None:
    suite = ["-m", "pytest", "--pyargs", "tinyhw.testing", "--tinyhw-device=example", "-q", "-p", "no:cacheprovider"]
    result = run_python(example_site, *suite, cwd=tmp_path)
    assert result.returncode == 0, explain(result)
    assert " passed" in result.stdout


def test_the_plugins_own_tests_pass(example_site: Path, tmp_path: Path) -> None:
    tests = ["-m", "pytest", str(EXAMPLE / "tests"), "-q", "-p", "no:cacheprovider"]
    result = run_python(example_site, *tests, cwd=tmp_path)
    assert result.returncode == 0, explain(result)
