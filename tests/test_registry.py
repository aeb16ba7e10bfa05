"""Discovery, broken plugins, API versions, device names and the default device."""

from __future__ import annotations

import types

import pytest

import tinyhw
from tinyhw import API_VERSION, Backend, DeviceInfo, hookimpl
from tinyhw.registry import registry


def make_plugin(**hooks) -> types.ModuleType:
    """A plugin module whose hooks are the given functions."""
    module = types.ModuleType("fake_plugin")
    for name, function in hooks.items():
        setattr(module, name, hookimpl(function))
    return module


def backend(name: str, open=None, api_version: str = API_VERSION, priority: int = 100, count: int = 1) -> Backend:
    def fail(index):
        raise OSError(f"/dev/{name}{index}: permission denied; add yourself to the 'render' group")

    return Backend(name, "1.2.3", api_version, lambda: count, open or fail, priority=priority)


def test_cpu_device_is_listed_and_opens():
    assert "cpu:0" in tinyhw.devices()
    assert tinyhw.Device("cpu").name == tinyhw.Device("cpu:0").name == "cpu:0"
    assert tinyhw.Device("cpu") is tinyhw.Device("cpu:0")


def test_plugin_whose_hook_raises_is_recorded_and_others_keep_working(plugin):
    def tinyhw_backends():
        raise RuntimeError("libvendor.so.3: cannot open shared object file")

    record = plugin(make_plugin(tinyhw_backends=tinyhw_backends), "vendor")
    assert "libvendor.so.3" in record.error
    assert "cpu:0" in tinyhw.devices()
    with pytest.raises(tinyhw.PluginError, match="libvendor.so.3"):
        tinyhw.Device("vendor:0")


def test_other_api_major_is_refused_naming_both_versions(plugin):
    record = plugin(make_plugin(tinyhw_backends=lambda: [backend("future", api_version="9.1")]), "future")
    assert "9.1" in record.error and API_VERSION in record.error
    with pytest.raises(tinyhw.PluginError, match="9.1"):
        tinyhw.Device("future")


def test_other_minor_version_is_accepted(plugin):
    major = API_VERSION.split(".")[0]
    record = plugin(make_plugin(tinyhw_backends=lambda: [backend("minor", api_version=f"{major}.99")]), "minor")
    assert record.error is None


def test_unknown_device_lists_what_is_available():
    with pytest.raises(tinyhw.DeviceNotFound, match=r"cpu:0"):
        tinyhw.Device("tpu:0")
    with pytest.raises(tinyhw.DeviceNotFound, match="cpu has 1"):
        tinyhw.Device("cpu:7")
    with pytest.raises(tinyhw.DeviceNotFound, match="expected 'backend' or 'backend:index'"):
        tinyhw.Device("cpu:first")


def test_device_that_fails_to_open_raises_the_plugins_error(plugin):
    plugin(make_plugin(tinyhw_backends=lambda: [backend("locked")]), "locked")
    with pytest.raises(tinyhw.PluginError, match="render' group"):
        tinyhw.Device("locked:0")
    assert "render' group" in registry.open_errors["locked:0"]


def test_default_device_warns_about_what_it_skipped(plugin, monkeypatch):
    monkeypatch.delenv("TINYHW_DEVICE", raising=False)
    plugin(make_plugin(tinyhw_backends=lambda: [backend("locked", priority=1000)]), "locked")
    with pytest.warns(UserWarning, match="render' group"):
        device = tinyhw.Device()
    assert device.name in ("cpu:0", "amd:0")  # amd:0 (priority 10) when the run's simulated GPU is plugged in


def test_tinyhw_device_overrides_the_default(monkeypatch, plugin):
    plugin(make_plugin(tinyhw_backends=lambda: [backend("locked", priority=1000)]), "locked")
    monkeypatch.setenv("TINYHW_DEVICE", "cpu:0")
    assert tinyhw.Device().name == "cpu:0"
    monkeypatch.setenv("TINYHW_DEVICE", "locked")
    with pytest.raises(tinyhw.PluginError):
        tinyhw.Device()


class BadSignature:
    """A device whose launch takes an argument the contract does not have."""

    info = DeviceInfo("bad", 0, 1, "none", "none")

    @hookimpl
    def launch(self, program, args, grid):
        pass


class MissingOperations:
    """A device implementing only sync."""

    info = DeviceInfo("lazy", 0, 1, "none", "none")

    @hookimpl
    def sync(self):
        pass


@pytest.mark.parametrize(("impl", "message"), [(BadSignature, "grid"), (MissingOperations, "allocate")])
def test_implementation_is_checked_when_the_device_opens(plugin, impl, message):
    plugin(make_plugin(tinyhw_backends=lambda: [backend("odd", open=lambda index: impl())]), "odd")
    with pytest.raises(tinyhw.PluginError, match=message):
        tinyhw.Device("odd")


def test_unknown_layer_is_refused_with_the_list(monkeypatch):
    tinyhw.Device("cpu").close()
    monkeypatch.setenv("TINYHW_LAYERS", "trace,speedup")
    with pytest.raises(tinyhw.PluginError, match="speedup.*trace"):
        tinyhw.Device("cpu")
