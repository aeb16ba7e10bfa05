"""The pytest plugin of the conformance suite: `--tinyhw-device`, fixtures, capability skips, xfails.

Loaded in every pytest run through the `pytest11` entry point, so it imports nothing from tinyhw
until a device is named; without one the suite's tests skip ("pass --tinyhw-device=NAME").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tinyhw.backend import Backend
    from tinyhw.device import Device
    from tinyhw.program import Program

__all__ = ["device_name", "find_backend"]

ENV_DEVICE = "TINYHW_TEST_DEVICE"
SUITE_PACKAGE = "tinyhw.testing."
NO_DEVICE = f"no tinyhw device under test: pass --tinyhw-device=NAME (or set {ENV_DEVICE}=NAME)"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--tinyhw-device=NAME`."""
    group = parser.getgroup("tinyhw", "tinyhw conformance suite")
    group.addoption("--tinyhw-device", default=None, metavar="NAME",
                    help=f"device to run tinyhw.testing against, e.g. 'cpu' (default: ${ENV_DEVICE})")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Register the suite's markers."""
    config.addinivalue_line("markers", "tinyhw_requires(feature): skip unless the backend declares `feature`")


def device_name(config: pytest.Config) -> str | None:
    """The device under test: `--tinyhw-device`, else `TINYHW_TEST_DEVICE`, else None."""
    return config.getoption("tinyhw_device", None) or os.environ.get(ENV_DEVICE) or None


def find_backend(name: str) -> Backend | None:
    """The backend that device `name` ("cpu", "cpu:0") would open from, without opening it."""
    from tinyhw.registry import registry

    wanted = name.partition(":")[0]
    return next((b for b in registry.backends() if b.name == wanted), None)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the device, backend and declared features in the report header."""
    name = device_name(config)
    if name is None:
        return None
    backend = find_backend(name)
    if backend is None:
        return f"tinyhw device: {name} (no such backend installed)"
    features = ", ".join(sorted(backend.capabilities.features)) or "none"
    return f"tinyhw device: {name} (backend {backend.name} {backend.version}, renderer {backend.renderer}, " \
           f"features: {features})"  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip suite tests without a device; skip on missing features; mark declared expected failures."""
    name = device_name(config)
    backend = find_backend(name) if name is not None else None
    if name is not None and backend is None and any(_uses_device(item) for item in items):
        raise pytest.UsageError(f"--tinyhw-device={name}: {_open_error(name)}")
    for item in items:
        if name is None and _in_suite(item):
            item.add_marker(pytest.mark.skip(reason=NO_DEVICE))
        elif backend is not None:
            _apply_capabilities(item, backend)


def _in_suite(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    return module is not None and module.__name__.startswith(SUITE_PACKAGE)


def _uses_device(item: pytest.Item) -> bool:
    return _in_suite(item) or "tinyhw_device_name" in getattr(item, "fixturenames", ())


def _open_error(name: str) -> str:
    """Why device `name` cannot be opened: the registry's own message (DeviceNotFound, PluginError)."""
    import tinyhw

    try:
        tinyhw.Device(name)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no backend of that name is registered"


def _apply_capabilities(item: pytest.Item, backend: Backend) -> None:
    capabilities = backend.capabilities
    for marker in item.iter_markers("tinyhw_requires"):
        for feature in marker.args:
            if feature not in capabilities.features:
                reason = capabilities.unsupported.get(feature) or f"backend {backend.name} does not declare {feature!r}"
                item.add_marker(pytest.mark.skip(reason=reason))
    for key in _test_names(item):
        if key in capabilities.expected_failures:
            item.add_marker(pytest.mark.xfail(reason=capabilities.expected_failures[key], strict=True))
            return


def _test_names(item: pytest.Item) -> tuple[str, ...]:
    """Names an expected failure may use: 'test_x[param]', 'test_x', 'test_file.py::test_x[param]'."""
    original = getattr(item, "originalname", item.name)
    return item.name, original, f"{item.path.name}::{item.name}"


# -- fixtures: prefixed with tinyhw_ because this plugin is active in every pytest run --


@pytest.fixture(scope="session", name="tinyhw_device_name")
def _device_name(pytestconfig: pytest.Config) -> str:
    """The name of the device under test; skips the test when none was given."""
    name = device_name(pytestconfig)
    if name is None:
        pytest.skip(NO_DEVICE)
    return name


@pytest.fixture(scope="module", name="tinyhw_module_device")
def _module_device(tinyhw_device_name: str) -> Iterator[None]:
    """Closes the device under test when a module ends, so every module starts with a fresh one."""
    yield
    _close_open(tinyhw_device_name)


@pytest.fixture(name="tinyhw_device")
def _device(tinyhw_device_name: str, tinyhw_module_device: None) -> Device:
    """The device under test, shared by the tests of one module (reopened if a test closed it)."""
    import tinyhw

    return tinyhw.Device(tinyhw_device_name)


@pytest.fixture(name="tinyhw_open")
def _open(tinyhw_device_name: str) -> Iterator[Callable[[], Device]]:
    """A factory for a freshly opened device (under the environment at call time); closed at teardown.

    Each call closes the device of that name if it is open, then opens it again, so layers set
    with `TINYHW_LAYERS` take effect. Do not mix with `tinyhw_device` in one test.
    """
    import tinyhw

    opened: list[Device] = []

    def open_fresh() -> Device:
        _close_open(tinyhw_device_name)
        opened.append(tinyhw.Device(tinyhw_device_name))
        return opened[-1]

    yield open_fresh
    for device in opened:
        _close_quietly(device)


@pytest.fixture(scope="session", name="tinyhw_kernel_sources")
def _kernel_sources(tinyhw_device_name: str) -> dict[str, str]:
    """The conformance kernels' sources for the device under test (see `tinyhw.testing.kernels`)."""
    import tinyhw
    from tinyhw.testing.kernels import kernels_for

    return kernels_for(tinyhw.Device(tinyhw_device_name))


@pytest.fixture(name="tinyhw_kernel")
def _kernel(tinyhw_kernel_sources: dict[str, str], tinyhw_device_name: str, tinyhw_module_device: None) -> Callable:
    """`kernel(name, device=None)`: conformance kernel `name` compiled for `device` (default: the open one)."""
    import tinyhw

    def kernel(name: str, device: Device | None = None) -> Program:
        if name not in tinyhw_kernel_sources:
            pytest.fail(f"the backend provides no conformance kernel {name!r} (has: {sorted(tinyhw_kernel_sources)})")
        return (device or tinyhw.Device(tinyhw_device_name)).compile(tinyhw_kernel_sources[name])

    return kernel


def _close_open(name: str) -> None:
    """Close the open device called `name`, if there is one."""
    from tinyhw.registry import registry

    for device in registry.open_devices():
        if device.name == name or device.name == f"{name}:0":
            _close_quietly(device)


def _close_quietly(device: Any) -> None:
    """Close `device` unless already closed; a failure to close is reported as a warning, not an error."""
    from tinyhw.registry import registry

    if device not in registry.open_devices():
        return
    try:
        device.close()
    except Exception as exc:  # teardown must not hide the test's own result
        import warnings

        warnings.warn(f"closing {device.name} failed: {exc!r}", pytest.PytestWarning, stacklevel=1)
