"""Registers the built-in CPU device through the `tinyhw` entry point, like any plugin."""

from __future__ import annotations

from tinyhw.backend import API_VERSION, Backend, Capabilities
from tinyhw.hookspec import hookimpl

__all__ = ["tinyhw_backends"]


def _open(index: int):
    from tinyhw.cpu.device import CPUDevice  # imported on open: listing plugins stays cheap

    return CPUDevice(f"cpu:{index}")


@hookimpl
def tinyhw_backends() -> list[Backend]:
    from tinyhw import __version__

    return [
        Backend(
            name="cpu",
            version=__version__,
            api_version=API_VERSION,
            device_count=lambda: 1,
            open=_open,
            priority=0,
            renderer="llvm-cpu",
            capabilities=Capabilities(features=frozenset({"hcq", "graph", "host-visible-memory"})),
        )
    ]
