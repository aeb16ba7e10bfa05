"""Finding plugins, recording what is broken, and opening devices by name.

Plugins are modules named in the `tinyhw` entry-point group (the built-in CPU device and layers
register the same way). A plugin that fails to import or register, or whose API major differs,
is recorded with its error and skipped; every other plugin keeps working.
"""

from __future__ import annotations

import os
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from tinyhw.backend import Backend, Layer, check_api_version
from tinyhw.device import Device
from tinyhw.errors import DeviceNotFound, PluginError
from tinyhw.hookspec import PROJECT, DeviceOperations, Registration

if TYPE_CHECKING:
    from collections.abc import Callable

    from tinyhw.hcq.os_access import OSAccess
    from tinyhw.kernel.ir import Kernel
    from tinyhw.kernel.render.base import RenderedKernel

__all__ = ["PluginRecord", "Registry", "registry", "devices", "REQUIRED_OPERATIONS"]

ENTRY_POINT_GROUP = "tinyhw"
REQUIRED_OPERATIONS = ("allocate", "free", "copy", "compile", "load", "launch", "sync")


@dataclass
class PluginRecord:
    """One discovered plugin: where it came from, what it provides, or why it is broken."""

    name: str
    version: str
    backends: list[Backend] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    renderers: dict[str, Callable[[Kernel], RenderedKernel]] = field(default_factory=dict)
    error: str | None = None


class Registry:
    """All plugins of this process and the devices opened from them (one per name)."""

    def __init__(self) -> None:
        self.plugins: dict[str, PluginRecord] = {}
        self.open_errors: dict[str, str] = {}
        self._devices: dict[str, Device] = {}
        self._manager = pluggy.PluginManager(PROJECT)
        self._manager.add_hookspecs(Registration)
        self._lock = threading.RLock()
        self._discovered = False
        self._warned_default: set[tuple[str, ...]] = set()

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager holding every registered plugin module."""
        self.discover()
        return self._manager

    def discover(self) -> None:
        """Load every plugin of the entry-point group once; broken ones are recorded, not raised."""
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
                version = ep.dist.version if ep.dist is not None else "?"
                try:
                    module = ep.load()
                except Exception as exc:
                    self.plugins[ep.name] = PluginRecord(ep.name, version, error=_describe(exc, f"import {ep.value}"))
                    continue
                self.register(module, ep.name, version)

    def register(self, module: ModuleType | Any, name: str, version: str = "?") -> PluginRecord:
        """Register a plugin object (normally a module) and collect its backends and layers.

        Also the way to add a plugin that is not installed, e.g. simulated hardware in tests.
        """
        with self._lock:
            record = self.plugins[name] = PluginRecord(name, version)
            try:
                self._manager.register(module, name=name)
                self._manager.check_pending()
                record.backends = self._collect(name, "tinyhw_backends")
                record.layers = self._collect(name, "tinyhw_layers")
                record.renderers = self._collect_renderers(name)
                for backend in record.backends:
                    check_api_version(name, backend.api_version)
            except Exception as exc:
                record.backends, record.layers, record.renderers = [], [], {}
                record.error = _describe(exc, "register")
                if self._manager.is_registered(module):
                    self._manager.unregister(module)
            return record

    def unregister(self, name: str) -> None:
        """Forget plugin `name` (its open devices stay open until closed)."""
        with self._lock:
            if (plugin := self._manager.get_plugin(name)) is not None:
                self._manager.unregister(plugin)
            self.plugins.pop(name, None)

    def _collect(self, name: str, hook: str) -> list:
        impls = [impl for impl in getattr(self._manager.hook, hook).get_hookimpls() if impl.plugin_name == name]
        return [item for impl in impls for item in (impl.function() or [])]

    def _collect_renderers(self, name: str) -> dict[str, Callable[[Kernel], RenderedKernel]]:
        impls = [impl for impl in self._manager.hook.tinyhw_renderers.get_hookimpls() if impl.plugin_name == name]
        return {key: function for impl in impls for key, function in (impl.function() or {}).items()}

    def renderers(self) -> dict[str, Callable[[Kernel], RenderedKernel]]:
        """Every renderer a working plugin provides (`tinyhw_renderers`), by name; the first plugin's wins."""
        self.discover()
        found: dict[str, Callable[[Kernel], RenderedKernel]] = {}
        for record in self.plugins.values():
            for key, function in record.renderers.items():
                found.setdefault(key, function)
        return found

    def backends(self) -> list[Backend]:
        """Every working backend, highest priority first."""
        self.discover()
        found = [b for record in self.plugins.values() for b in record.backends]
        return sorted(found, key=lambda b: -b.priority)

    def layers(self) -> dict[str, Layer]:
        """Every layer provided by a working plugin, by name."""
        self.discover()
        return {layer.name: layer for record in self.plugins.values() for layer in record.layers}

    def os_access(self) -> OSAccess | None:
        """The OSAccess a plugin registered with `tinyhw_os_access` (simulated hardware), or None."""
        return self.manager.hook.tinyhw_os_access()

    def open_device(self, name: str | None = None) -> Device:
        """The open device called `name` ("cpu", "cpu:1"), opening it if needed; None means the default."""
        self.discover()
        with self._lock:
            if name is None:
                name = os.environ.get("TINYHW_DEVICE") or None
            if name is None:
                return self._open_default()
            backend_name, index = _parse_name(name)
            canonical = f"{backend_name}:{index}"
            if (device := self._devices.get(canonical)) is not None:
                return device
            backend = self._find_backend(backend_name, canonical)
            device = self._devices[canonical] = self._open(backend, index)
            return device

    def forget(self, device: Device) -> None:
        """Drop `device` from the open devices, so the next request opens it again."""
        with self._lock:
            if self._devices.get(device.name) is device:
                del self._devices[device.name]

    def open_devices(self) -> list[Device]:
        """The devices opened so far."""
        return list(self._devices.values())

    def _find_backend(self, backend_name: str, canonical: str) -> Backend:
        for backend in self.backends():
            if backend.name == backend_name:
                return backend
        broken = {n: r.error for n, r in self.plugins.items() if r.error}
        if backend_name in broken:
            raise PluginError(f"{canonical}: plugin {backend_name!r} is installed but broken:\n{broken[backend_name]}")
        raise DeviceNotFound(f"no device {canonical!r}; available: {self._available()}{_broken_note(broken)}")

    def _open(self, backend: Backend, index: int) -> Device:
        canonical = f"{backend.name}:{index}"
        try:
            count = backend.device_count()
        except Exception as exc:
            raise PluginError(f"{canonical}: plugin {backend.name!r} failed to count devices: {exc}") from exc
        if not 0 <= index < count:
            available = self._available()
            why = f": {backend.no_devices_reason()}" if count == 0 and backend.no_devices_reason is not None else ""
            raise DeviceNotFound(f"no device {canonical!r} ({backend.name} has {count}{why}); available: {available}")
        try:
            impl = backend.open(index)
        except Exception as exc:
            self.open_errors[canonical] = _describe(exc, "open")
            raise PluginError(f"{canonical}: plugin {backend.name!r} failed to open the device: {exc}") from exc
        self.open_errors.pop(canonical, None)
        layer_names = _requested_layers()
        hooks = _device_hooks(canonical, impl, [self._layer(n, canonical) for n in layer_names])
        return Device._create(canonical, backend, impl, hooks, layer_names)

    def _layer(self, name: str, device: str) -> Layer:
        layers = self.layers()
        if name not in layers:
            raise PluginError(f"{device}: TINYHW_LAYERS names unknown layer {name!r}; available: {sorted(layers)}")
        return layers[name]

    def _open_default(self) -> Device:
        """The highest-priority device that opens; warns about every plugin or device skipped."""
        skipped = [f"{n}: {r.error.splitlines()[-1]}" for n, r in self.plugins.items() if r.error]
        for backend in self.backends():
            if _counts_no_devices(backend):  # nothing to open and nothing broken: not worth a warning
                continue
            try:
                device = self.open_device(f"{backend.name}:0")
            except (DeviceNotFound, PluginError) as exc:
                skipped.append(str(exc))
                continue
            if skipped and (device.name, *skipped) not in self._warned_default:
                self._warned_default.add((device.name, *skipped))
                warnings.warn(f"tinyhw: default device is {device.name}; skipped: " + "; ".join(skipped), stacklevel=4)
            return device
        raise DeviceNotFound("no device could be opened: " + ("; ".join(skipped) or "no backend is installed"))

    def _available(self) -> list[str]:
        names = []
        for backend in self.backends():
            try:
                names += [f"{backend.name}:{i}" for i in range(backend.device_count())]
            except Exception:
                continue
        return names


def _device_hooks(name: str, impl: Any, layers: list[Layer]) -> Any:
    """A per-device pluggy relay: the implementation plus layer wrappers, validated now."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(DeviceOperations)
    try:
        manager.register(impl, name="implementation")
        missing = [op for op in REQUIRED_OPERATIONS if not getattr(manager.hook, op).get_hookimpls()]
        if missing:
            raise PluginError(f"{name}: {type(impl).__name__} does not implement required operations {missing}")
        # pluggy calls the last-registered wrapper first: register in reverse so the first listed is outermost
        for layer in reversed(layers):
            manager.register(layer.create(name, impl), name=f"layer:{layer.name}")
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{name}: {exc}") from exc
    return manager.hook


def _counts_no_devices(backend: Backend) -> bool:
    """Whether `backend` reports zero devices (a count that fails is left for opening to report)."""
    try:
        return backend.device_count() == 0
    except Exception:
        return False


def _requested_layers() -> tuple[str, ...]:
    return tuple(n.strip() for n in os.environ.get("TINYHW_LAYERS", "").split(",") if n.strip())


def _parse_name(name: str) -> tuple[str, int]:
    backend, _, index = name.partition(":")
    if not backend or (index and not index.isdigit()):
        raise DeviceNotFound(f"bad device name {name!r}; expected 'backend' or 'backend:index', e.g. 'cpu:0'")
    return backend, int(index or 0)


def _describe(exc: BaseException, action: str) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return f"{action} failed: {''.join(lines).strip()}"


def _broken_note(broken: dict[str, str | None]) -> str:
    return f"; broken plugins: {sorted(broken)}" if broken else ""


registry = Registry()


def devices() -> list[str]:
    """Names of every device the working plugins report, e.g. ["cpu:0", "webgpu:0"]."""
    return registry._available()
