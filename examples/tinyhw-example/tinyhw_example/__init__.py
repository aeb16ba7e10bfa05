"""tinyhw-example: a complete tinyhw device backend in pure Python, the template for a vendor plugin.

tinyhw loads this module through the `tinyhw` entry point declared in pyproject.toml and calls
its registration hooks (tinyhw/hookspec.py, class Registration):

- `tinyhw_backends`: the "example" backend, whose device `example:0` is `device.ExampleDevice`;
- `tinyhw_layers`: the "count" layer (`layer.CountLayer`);
- `tinyhw_conformance_kernels`: the conformance suite's kernels in this backend's language.

Keep this module cheap to import: `tinyhw devices` imports every plugin, so the device module is
imported only when a device opens.
"""

from __future__ import annotations

from tinyhw import Backend, Capabilities, Layer, hookimpl
from tinyhw_example.layer import CountLayer

__all__ = ["tinyhw_backends", "tinyhw_layers", "tinyhw_conformance_kernels"]

__version__ = "0.1.0"

API_VERSION = "1.0"
"""The tinyhw API this plugin was written for: a literal, not tinyhw.API_VERSION, so that a tinyhw
with another major refuses it instead of running it against a contract it does not know."""

RENDERER = "python"

CAPABILITIES = Capabilities(
    features=frozenset({"host-visible-memory"}),  # every buffer is a bytearray in host memory
    unsupported={
        "hcq": "runs kernels synchronously in Python; no command queues or signals",
        "graph": "no command queues to record; each launch runs when it is called",
    },
)


def _open(index: int):
    from tinyhw_example.device import ExampleDevice

    return ExampleDevice(f"example:{index}")


@hookimpl
def tinyhw_backends() -> list[Backend]:
    return [
        Backend(
            name="example",
            version=__version__,
            api_version=API_VERSION,
            device_count=lambda: 1,
            open=_open,
            priority=-10,  # below the CPU: `tinyhw.Device()` should not pick a Python interpreter
            renderer=RENDERER,
            capabilities=CAPABILITIES,
        )
    ]


@hookimpl
def tinyhw_layers() -> list[Layer]:
    return [Layer("count", CountLayer, "count launches per kernel; print the totals when the device closes")]


@hookimpl
def tinyhw_conformance_kernels(renderer: str) -> dict[str, str] | None:
    if renderer != RENDERER:
        return None
    from tinyhw_example.kernels import KERNELS

    return dict(KERNELS)
