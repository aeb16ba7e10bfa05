"""The `tinyhw` command: devices, info and selftest, and one-line errors for unknown or broken devices."""

from __future__ import annotations

import re

import pytest

import tinyhw
import tinyhw.testing.kernels
from tinyhw.cli import main
from tinyhw.registry import PluginRecord, registry


class RaisingPlugin:
    """A plugin whose vendor library is missing: its registration hook raises."""

    @tinyhw.hookimpl
    def tinyhw_backends(self) -> list[tinyhw.Backend]:
        raise RuntimeError("libvendor.so: cannot open shared object file")


def backend_plugin(name: str, api_version: str = tinyhw.API_VERSION, opener=None) -> object:
    """A plugin providing one backend `name` with one device, opened by `opener`."""

    class Plugin:
        @tinyhw.hookimpl
        def tinyhw_backends(self) -> list[tinyhw.Backend]:
            return [tinyhw.Backend(name, "3.1", api_version, device_count=lambda: 1, open=opener)]

    return Plugin()


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `tinyhw ARGV`."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_devices_lists_plugins_the_cpu_and_layers(capsys) -> None:
    code, out, _ = run(capsys, "devices")
    assert code == 0
    assert f"cpu {tinyhw.__version__}: ok (cpu)" in out
    assert re.search(r"^  cpu:0: .*GiB, \d+ compute units?, target .*, renderer llvm-cpu$", out, re.M)
    assert "features: graph, hcq, host-visible-memory" in out
    assert "  validate: check arguments" in out


def test_broken_plugins_are_listed_while_the_cpu_keeps_working(capsys, plugin) -> None:
    plugin(RaisingPlugin(), "broken")
    plugin(backend_plugin("future", api_version="9.0"), "future")
    code, out, _ = run(capsys, "devices")
    assert code == 0
    assert "broken ?: broken: register failed: RuntimeError: libvendor.so: cannot open shared object file" in out
    assert re.search(r"future \?: broken: .*built for tinyhw API 9\.0", out)
    assert "cpu:0: " in out


def test_a_device_that_fails_to_open_shows_its_error(capsys, plugin) -> None:
    def fail(index: int) -> None:
        raise OSError("/dev/flaky0: permission denied; add yourself to group 'render'")

    plugin(backend_plugin("flaky", opener=fail), "flaky")
    code, out, _ = run(capsys, "devices")
    assert code == 0
    assert "flaky:0: error: flaky:0: plugin 'flaky' failed to open the device: /dev/flaky0: permission denied" in out


def test_devices_fails_when_no_device_works(capsys, monkeypatch) -> None:
    registry.discover()
    monkeypatch.setattr(registry, "plugins", {"broken": PluginRecord("broken", "1.0", error="import failed: boom")})
    code, out, _ = run(capsys, "devices")
    assert code == 1
    assert "broken 1.0: broken: import failed: boom" in out


def test_info_shows_everything_the_device_reports(capsys, cpu) -> None:
    code, out, _ = run(capsys, "info", "cpu:0")
    assert code == 0
    assert re.search(rf"^target: +{re.escape(cpu.info.target)}$", out, re.M)
    assert re.search(rf"^compiler: +{re.escape(cpu.info.compiler)}$", out, re.M)
    assert re.search(rf"^details\.threads: +{cpu.info.details['threads']}$", out, re.M)
    assert re.search(r"^renderer: +llvm-cpu$", out, re.M)
    assert re.search(r"^compile cache: +\S", out, re.M)
    assert "features: graph, hcq, host-visible-memory" in out


def test_info_leaves_devices_the_caller_opened_open(capsys, cpu) -> None:
    run(capsys, "info", "cpu")
    assert tinyhw.Device("cpu") is cpu


def test_selftest_passes_on_the_cpu_and_times_each_step(capsys) -> None:
    code, out, _ = run(capsys, "selftest", "cpu")
    assert code == 0
    for step in ("open", "allocate", "copy in", "compile", "launch", "sync", "copy out", "free"):
        assert re.search(rf"^  {step} +\d+\.\d+ ms$", out, re.M), step
    assert "  PASS" in out and "1 of 1 devices passed" in out


def test_selftest_fails_a_device_that_computes_wrong_results(capsys, monkeypatch) -> None:
    real = tinyhw.testing.kernels.kernels_for

    def subtracting(device: tinyhw.Device) -> dict[str, str]:
        return {"add_f32": real(device)["add_f32"].replace("fadd", "fsub")}

    monkeypatch.setattr(tinyhw.testing.kernels, "kernels_for", subtracting)
    code, out, _ = run(capsys, "selftest")
    assert code == 1
    assert re.search(r"FAIL: AssertionError: \d+ of 1024 elements wrong", out)


@pytest.mark.parametrize("argv", [("info", "nope"), ("selftest", "nope:1"), ("info", "cpu:7"), ("info", "cpu:x")])
def test_unknown_devices_exit_2_with_one_line_naming_the_available(capsys, argv) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("tinyhw: error: ") and err.count("\n") == 1
    assert "'cpu:0'" in err or "expected 'backend'" in err
    assert "Traceback" not in err


def test_a_broken_plugins_device_exits_2_with_the_plugins_error(capsys, plugin) -> None:
    plugin(RaisingPlugin(), "broken")
    code, _, err = run(capsys, "info", "broken")
    assert code == 2
    assert err.count("\n") == 1 and "broken" in err and "libvendor.so: cannot open shared object file" in err


def test_traceback_flag_shows_the_traceback(capsys) -> None:
    code, _, err = run(capsys, "--traceback", "info", "nope")
    assert code == 2
    assert "Traceback (most recent call last)" in err and "DeviceNotFound" in err


@pytest.mark.parametrize(("argv", "status"), [((), 2), (("bogus",), 2), (("--help",), 0)])
def test_usage_errors_and_help_return_a_status_instead_of_exiting(capsys, argv, status) -> None:
    assert run(capsys, *argv)[0] == status
