"""The conformance suite (tinyhw.testing) passes on the CPU device, and its plugin behaves as documented."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import pytest_subprocess
from tests.pytest_subprocess import outcome

SUITE = "tinyhw.testing"
FAKE_PLUGIN = '''
"""A test backend "lite": the CPU device without command queues, with a broken fill kernel."""
import sys

import tinyhw
from tinyhw.cpu.device import CPUDevice
from tinyhw.testing.kernels import LLVM_CPU

BROKEN_FILL = LLVM_CPU["fill_u32"].replace("store i32 %value", "%wrong = add i32 %value, 1\\n  store i32 %wrong")
CAPABILITIES = tinyhw.Capabilities(
    features=frozenset({"host-visible-memory"}),
    unsupported={"hcq": "lite has no command queues"},
    expected_failures={"test_fill": "fill is off by one", "test_launch.py::test_empty_kernel_runs": "stale entry"},
)


@tinyhw.hookimpl
def tinyhw_backends():
    return [tinyhw.Backend("lite", "0", tinyhw.API_VERSION, lambda: 1, lambda i: CPUDevice(f"lite:{i}"),
                           renderer="lite-llvm", capabilities=CAPABILITIES)]


@tinyhw.hookimpl
def tinyhw_conformance_kernels(renderer):
    return {**LLVM_CPU, "fill_u32": BROKEN_FILL} if renderer == "lite-llvm" else None


tinyhw.registry.register(sys.modules[__name__], "lite")
'''


def run_pytest(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m pytest ARGS` in a clean environment that imports modules from `cwd` (the fake plugin)."""
    return pytest_subprocess.run_pytest(*args, cwd=cwd, settings={"PYTHONPATH": str(cwd), **(env or {})}, timeout=120)


def test_the_whole_suite_passes_on_cpu(tmp_path: Path) -> None:
    result = run_pytest("--pyargs", SUITE, "--tinyhw-device=cpu", "-q", cwd=tmp_path)
    summary = outcome(result)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


def test_without_a_device_every_test_skips_and_says_how_to_choose_one(tmp_path: Path) -> None:
    result = run_pytest("--pyargs", f"{SUITE}.test_launch", "-q", "-rs", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "pass --tinyhw-device=NAME" in result.stdout
    assert " skipped" in outcome(result) and "passed" not in outcome(result)


def test_an_unknown_device_stops_the_run_once_with_the_available_ones(tmp_path: Path) -> None:
    result = run_pytest("--pyargs", f"{SUITE}.test_launch", "--tinyhw-device=nope", "-q", cwd=tmp_path)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout[-3000:]
    assert "--tinyhw-device=nope: DeviceNotFound" in result.stderr and "cpu:0" in result.stderr, result.stderr


def test_the_device_can_come_from_the_environment(tmp_path: Path) -> None:
    result = run_pytest(
        "--pyargs", f"{SUITE}.test_launch", "-q", "-k", "fill", cwd=tmp_path, env={"TINYHW_TEST_DEVICE": "cpu"}
    )
    assert result.returncode == 0 and " passed" in outcome(result), result.stdout[-3000:]


def test_capabilities_skip_and_expected_failures_are_strict(tmp_path: Path) -> None:
    (tmp_path / "lite_backend.py").write_text(textwrap.dedent(FAKE_PLUGIN))
    modules = [f"{SUITE}.test_launch", f"{SUITE}.test_signals", f"{SUITE}.test_graphs"]
    result = run_pytest("-p", "lite_backend", "--pyargs", *modules, "--tinyhw-device=lite", "-v", "-rsxX",
                        cwd=tmp_path)  # fmt: skip
    out = result.stdout
    assert "tinyhw device: lite (backend lite 0, renderer lite-llvm" in out
    assert "test_fill[100] XFAIL (fill is off by one)" in out, out[-4000:]
    assert "test_empty_kernel_runs FAILED" in out and "XPASS(strict)" in out, out[-4000:]
    assert "lite has no command queues" in out and "backend lite does not declare 'graph'" in out, out[-4000:]
    assert "test_scalars_are_captured_at_launch FAILED" in out  # the broken fill is caught elsewhere too
    assert result.returncode == 1


def test_the_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    code = "import sys, tinyhw.testing.plugin; print(sorted(m for m in ('numpy', 'llvmlite', 'tinyhw.cpu.device', " \
           "'tinyhw.hcq') if m in sys.modules))"  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("renderer", ["no-such-renderer", None])
def test_kernels_for_an_unknown_renderer_names_the_hook(renderer: str | None) -> None:
    import tinyhw
    from tinyhw.testing.kernels import kernels_for

    backend = tinyhw.Backend("mystery", "0", tinyhw.API_VERSION, lambda: 0, lambda i: None, renderer=renderer)
    device = type("FakeDevice", (), {"backend": backend})()
    with pytest.raises(LookupError, match="backend mystery .* implement tinyhw_conformance_kernels"):
        kernels_for(device)  # type: ignore[arg-type]
