"""The `tinyhw` command: what is installed, what a device is, and whether it works.

    tinyhw devices             plugins (ok or broken, with the error), devices, capabilities, layers
    tinyhw info cpu:0          everything a device reports about itself
    tinyhw selftest [DEVICE]   allocate -> copy in -> compile -> launch -> sync -> copy out, timed

Errors a user can act on (an unknown device, a broken plugin) are one line on stderr and exit
status 2; `--traceback` shows the whole traceback as well.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tinyhw.backend import Backend, Capabilities
from tinyhw.cache import default_directory
from tinyhw.device import Device
from tinyhw.errors import DeviceNotFound, TinyHWError
from tinyhw.registry import PluginRecord, devices, registry

__all__ = ["main"]

GIB = 1 << 30
SELFTEST_ELEMENTS = 1024
USAGE_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    """Run the `tinyhw` command with `argv` (default: sys.argv[1:]); returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse already printed
        return stop.code if isinstance(stop.code, int) else USAGE_ERROR
    try:
        with _closing_new_devices():
            return args.command(args)
    except TinyHWError as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"tinyhw: error: {_one_line(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tinyhw devices | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinyhw", description="Inspect and test tinyhw devices and plugins.")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    devices = commands.add_parser("devices", help="list plugins, devices, capabilities and layers")
    devices.set_defaults(command=_devices)
    info = commands.add_parser("info", help="show everything a device reports about itself")
    info.add_argument("device", help="a device name, e.g. cpu or cpu:0")
    info.set_defaults(command=_info)
    selftest = commands.add_parser("selftest", help="run a timed round trip through each device")
    selftest.add_argument("devices", nargs="*", metavar="DEVICE", help="devices to test (default: every device)")
    selftest.set_defaults(command=_selftest)
    return parser


@contextmanager
def _closing_new_devices() -> Iterator[None]:
    """Close the devices this command opened; devices the caller already had open stay open."""
    before = {id(device) for device in registry.open_devices()}
    try:
        yield
    finally:
        for device in registry.open_devices():
            if id(device) not in before:
                _close(device)


def _close(device: Device) -> None:
    try:
        device.close()
    except Exception as exc:  # the command's own result stands; a failing close is worth a warning only
        print(f"tinyhw: warning: closing {device.name} failed: {_one_line(str(exc))}", file=sys.stderr)


# -- tinyhw devices --


def _devices(args: argparse.Namespace) -> int:
    registry.discover()
    records = sorted(registry.plugins.values(), key=lambda record: record.name)
    print("plugins:")
    for record in records:
        print(f"  {record.name} {record.version}: {_plugin_status(record)}")
    working = 0
    for record in records:
        for backend in record.backends:
            working += _show_backend(record, backend)
    layers = registry.layers()
    print("\nlayers (enable with TINYHW_LAYERS=name,...):")
    for layer in layers.values():
        print(f"  {layer.name}: {layer.description}")
    if not layers:
        print("  (none)")
    return 0 if working else 1


def _plugin_status(record: PluginRecord) -> str:
    if record.error is None:
        provides = [b.name for b in record.backends] + [f"layer {layer.name}" for layer in record.layers]
        return f"ok ({', '.join(provides) or 'nothing'})"
    return f"broken: {record.error.strip().splitlines()[-1]}"


def _show_backend(record: PluginRecord, backend: Backend) -> int:
    """Print one backend and its devices; returns how many of them opened."""
    print(f"\nbackend {backend.name} (plugin {record.name} {backend.version}, API {backend.api_version}, "
          f"priority {backend.priority})")  # fmt: skip
    _show_capabilities(backend.capabilities, indent="  ")
    try:
        count = backend.device_count()
    except Exception as exc:
        print(f"  devices: error: {_one_line(f'{type(exc).__name__}: {exc}')}")
        return 0
    if count == 0 and backend.no_devices_reason is not None:
        print(f"  devices: none: {_one_line(backend.no_devices_reason())}")
    return sum(_show_device(f"{backend.name}:{index}", backend.renderer) for index in range(count))


def _show_device(name: str, renderer: str | None) -> bool:
    """Print one device's summary line, or its error; returns whether it opened."""
    try:
        info = registry.open_device(name).info
    except Exception as exc:
        print(f"  {name}: error: {_one_line(str(exc))}")
        return False
    print(f"  {name}: {info.name}, {info.memory / GIB:.1f} GiB, {_plural(info.compute_units, 'compute unit')}, "
          f"target {info.target}, renderer {renderer}")  # fmt: skip
    return True


def _show_capabilities(capabilities: Capabilities, indent: str) -> None:
    print(f"{indent}features: {', '.join(sorted(capabilities.features)) or '(none)'}")
    declared = (("unsupported", capabilities.unsupported), ("expected failures", capabilities.expected_failures))
    for title, reasons in declared:
        if reasons:
            print(f"{indent}{title}:")
        for name, reason in sorted(reasons.items()):
            print(f"{indent}  {name}: {reason}")


# -- tinyhw info --


def _info(args: argparse.Namespace) -> int:
    device = registry.open_device(args.device)
    rows = _info_rows(device)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label + ':':<{width + 1}} {value}")
    _show_capabilities(device.backend.capabilities, indent="")
    return 0


def _info_rows(device: Device) -> list[tuple[str, Any]]:
    info, backend = device.info, device.backend
    rows = [
        ("device", device.name),
        ("name", info.name),
        ("memory", f"{info.memory} bytes ({info.memory / GIB:.2f} GiB)"),
        ("compute units", info.compute_units),
        ("target", info.target),
        ("compiler", info.compiler),
        ("backend", f"{backend.name} {backend.version} (plugin {_plugin_of(backend)}, API {backend.api_version})"),
        ("priority", backend.priority),
        ("renderer", backend.renderer),
        ("layers", ", ".join(device.layers) or "(none)"),
        ("compile cache", _cache_text()),
    ]
    return rows + [(f"details.{key}", value) for key, value in info.details.items()]


def _plugin_of(backend: Backend) -> str:
    return next((r.name for r in registry.plugins.values() if backend in r.backends), "?")


def _cache_text() -> str:
    directory = default_directory()
    return str(directory) if directory is not None else "disabled (TINYHW_CACHE=0)"


# -- tinyhw selftest --


def _selftest(args: argparse.Namespace) -> int:
    available = devices()
    names = args.devices or available
    if not names:
        raise DeviceNotFound("no devices to test; `tinyhw devices` shows what is installed and what is broken")
    for name in names:
        if name not in available and f"{name}:0" not in available:
            registry.open_device(name)  # raises DeviceNotFound or PluginError with the plugin's own error
    results = [SelfTest(name if ":" in name else f"{name}:0").run() for name in names]
    print(f"\n{sum(results)} of {len(results)} devices passed")
    return 0 if all(results) else 1


class SelfTest:
    """One device's round trip: each step is timed and printed; the first failing step ends it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.buffers: list[Any] = []

    def run(self) -> bool:
        """Run every step; prints and returns whether the device passed."""
        print(f"\n{self.name}")
        try:
            self._round_trip()
        except Exception as exc:  # a failed run leaves its buffers to the device's close
            print(f"  FAIL: {_one_line(f'{type(exc).__name__}: {exc}')}")
            return False
        print("  PASS")
        return True

    def _round_trip(self) -> None:
        device = self._step("open", registry.open_device, self.name)
        source = self._step("kernel source", _add_f32_source, device)
        a, b = (np.random.default_rng(seed).standard_normal(SELFTEST_ELEMENTS, dtype=np.float32) for seed in (1, 2))
        self.buffers = self._step("allocate", lambda: [device.allocate(a.nbytes) for _ in range(3)])
        buf_a, buf_b, buf_out = self.buffers
        self._step("copy in", lambda: (device.copy(buf_a, a), device.copy(buf_b, b)))
        program = self._step("compile", device.compile, source)
        self._step("launch", lambda: device.launch(program, buf_a, buf_b, buf_out, global_size=SELFTEST_ELEMENTS))
        self._step("sync", device.sync)
        out = np.zeros_like(a)
        self._step("copy out", lambda: (device.copy(out, buf_out), device.sync()))
        self._step("check", _check_sum, out, a + b)
        self._step("free", lambda: [device.free(buffer) for buffer in self.buffers])

    def _step(self, label: str, action: Callable[..., Any], *args: Any) -> Any:
        print(f"  {label:<14}", end="", flush=True)
        start = time.perf_counter()
        try:
            result = action(*args)
        except Exception:
            print("error")
            raise
        print(f"{(time.perf_counter() - start) * 1e3:10.3f} ms")
        return result


def _add_f32_source(device: Device) -> str:
    from tinyhw.testing.kernels import kernels_for  # the conformance suite's kernels, in the device's language

    return kernels_for(device)["add_f32"]


def _check_sum(out: np.ndarray, expected: np.ndarray) -> None:
    if not np.array_equal(out, expected):
        wrong = np.flatnonzero(out != expected)
        raise AssertionError(f"{wrong.size} of {out.size} elements wrong; first at [{wrong[0]}]: "
                             f"{out[wrong[0]]} != {expected[wrong[0]]}")  # fmt: skip


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
