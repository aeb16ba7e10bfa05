"""Descriptors a plugin returns from its registration hooks: backends, layers, capabilities."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["API_VERSION", "Backend", "Capabilities", "DeviceInfo", "Layer", "check_api_version"]

API_VERSION = "1.0"
"""The contract's version, major.minor. A plugin built for another major is refused at load."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can and cannot do, declared rather than discovered by trial.

    features: names of optional features it supports (e.g. "hcq" for the command-queue API with
    signals, "host-visible-memory", "simt" when work-items run in parallel lanes, as on GPUs: the
    tensor frontend then computes one output per work-item in large workgroups instead of looping
    over many outputs in few work-items, as it does for CPUs).
    unsupported: feature name -> reason, shown by `tinyhw devices` and used by the conformance
    suite to skip tests with that reason. A data type the device cannot compute with is declared
    as "dtype:<name>" (e.g. "dtype:float64"); the tensor frontend refuses it with that reason, and
    likewise float64 transcendental ops (exp, log, sin, pow, ...) when "float64-math" is declared.
    expected_failures: conformance test name -> reason; reported as xfail, and as an error if the
    test unexpectedly passes, so the list stays honest.
    """

    features: frozenset[str] = frozenset()
    unsupported: Mapping[str, str] = field(default_factory=dict)
    expected_failures: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceInfo:
    """What `tinyhw devices` and `tinyhw info` show about one opened device.

    target and compiler together identify the binaries this device runs; they key the
    compile cache, so two devices with equal values share cached binaries.
    """

    name: str
    memory: int
    compute_units: int
    target: str
    compiler: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    """A device backend, as returned by a plugin's `tinyhw_backends` hook.

    name: the device prefix ("cpu" gives "cpu:0", "cpu:1", ...).
    version: the plugin's own version, shown by `tinyhw devices`.
    api_version: the `tinyhw.API_VERSION` the plugin was built for.
    device_count: returns how many devices exist now (may raise: recorded as the plugin's error).
    open: opens device `index` and returns its implementation object — an object with the
        `DeviceOperations` hooks as `@hookimpl` methods and an `info` attribute (DeviceInfo);
        optionally a `close()` method.
    priority: the default device is the highest-priority backend that opens.
    renderer: the source language `compile` accepts ("llvm-cpu", "wgsl", ...), or None.
    capabilities: declared features, unsupported features and expected conformance failures.
    no_devices_reason: when `device_count()` is 0, says why in words a user can act on (e.g.
        "no AMD GPU found (no /dev/kfd)"); shown by `tinyhw devices` and in DeviceNotFound.
    """

    name: str
    version: str
    api_version: str
    device_count: Callable[[], int]
    open: Callable[[int], Any]
    priority: int = 0
    renderer: str | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    no_devices_reason: Callable[[], str] | None = None


@dataclass(frozen=True)
class Layer:
    """A layer: pluggy wrappers around the device operations, enabled by `TINYHW_LAYERS`.

    name: the name users list in `TINYHW_LAYERS=name1,name2`.
    create: called with the device's name ("cpu:0") and its implementation object when a device
        opens; returns an object whose methods are `@hookimpl(wrapper=True)` wrappers of
        `DeviceOperations` hooks.
    description: one line for `tinyhw devices`.
    """

    name: str
    create: Callable[[str, Any], Any]
    description: str = ""


def check_api_version(plugin: str, wanted: str) -> None:
    """Raise PluginError unless a plugin built for API `wanted` can run on this core."""
    from tinyhw.errors import PluginError

    try:
        major, _minor = (int(part) for part in wanted.split("."))
    except ValueError:
        raise PluginError(f"plugin {plugin!r} declares API version {wanted!r}, expected 'major.minor'") from None
    if major != int(API_VERSION.split(".")[0]):
        raise PluginError(
            f"plugin {plugin!r} was built for tinyhw API {wanted}, but this tinyhw provides API {API_VERSION}; "
            f"install a version of {plugin!r} built for API {API_VERSION.split('.')[0]}.x"
        )
