"""A third-party layer: counts the launches of each kernel and reports them when the device closes.

Enable it with `TINYHW_LAYERS=count`. A layer is an object of `@hookimpl(wrapper=True)` methods
named after the device operations it wraps; each yields to the next layer (or the device).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Generator
from typing import Any

from tinyhw import hookimpl

__all__ = ["CountLayer"]


class CountLayer:
    """Counts launches per kernel name on one device; prints the totals to stderr at close."""

    def __init__(self, device: str, impl: Any) -> None:
        self.device = device
        self.launches: Counter[str] = Counter()

    @hookimpl(wrapper=True)
    def launch(self, program: Any, args: tuple, global_size: tuple, local_size: tuple) -> Generator[None, Any, Any]:
        result = yield  # counted only once the launch was accepted (it raised nothing)
        self.launches[program.name] += 1
        return result

    @hookimpl(wrapper=True)
    def close(self) -> Generator[None, Any, Any]:
        counts = ", ".join(f"{name} x{n}" for name, n in self.launches.most_common()) or "none"
        print(f"tinyhw count {self.device}: {sum(self.launches.values())} launches ({counts})", file=sys.stderr)
        return (yield)
