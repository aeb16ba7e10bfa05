"""The built-in layers, registered through the `tinyhw` entry point like any third-party layer.

Enable with `TINYHW_LAYERS=trace,validate` (comma-separated, outermost first).
"""

from __future__ import annotations

from tinyhw.backend import Layer
from tinyhw.hookspec import hookimpl
from tinyhw.layers.trace import TraceLayer
from tinyhw.layers.validate import ValidateLayer

__all__ = ["TraceLayer", "ValidateLayer"]


@hookimpl
def tinyhw_layers() -> list[Layer]:
    return [
        Layer("trace", TraceLayer, "log every device operation with sizes and timings (to stderr)"),
        Layer("validate", ValidateLayer, "check arguments, buffer ownership and lifetimes; report leaks at close"),
    ]
