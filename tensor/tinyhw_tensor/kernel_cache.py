"""Lowered kernels on disk, so that a new process skips lowering and rendering graphs it has seen.

Lowering a fused graph and rendering its kernel cost tens of milliseconds per kernel, most of a
warm start (a model of twenty distinct kernels spends half a second on it before its first
launch). The device's compile cache keys binaries on the rendered source, so it can only help
after both. This cache keys the rendered source on what produced it: the graph's structure
(`lower.signature`), the device's backend, target, compiler and renderer, the lowering's
parameters, and a digest of the code that lowers and renders (this package, tinyhw.kernel and
the renderer's package), so a change to any of them is a miss, never a stale kernel. It lives in
the compile cache's directory and is off with it (`TINYHW_CACHE=0`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from tinyhw.cache import CompileCache, default_directory
from tinyhw.kernel import ir

__all__ = ["Lowered", "lowered_key", "load", "store"]

FORMAT = 1

Lowered = dict[str, Any]
"""{"source": rendered text, "entry": name or None, "global_size": workgroups, "local_size": [x, y, z],
"name": the kernel's name}."""
_FIELDS = {"source", "entry", "global_size", "local_size", "name"}


def lowered_key(device: Any, graph: tuple, cores: int, simt: bool) -> str:
    """The cache key of graph structure `graph` lowered for `device` (`cores` and `simt` as `lower` takes them)."""
    info, renderer = device.info, device.backend.renderer
    digest = hashlib.sha256()
    for part in (f"lowered/{FORMAT}", _code_digest(renderer), device.backend.name, info.target, info.compiler,
                 str(renderer), str(cores), str(simt), repr(graph)):  # fmt: skip
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def load(key: str) -> Lowered | None:
    """The lowered kernel stored under `key`, or None (missing or unreadable: a miss)."""
    data = _cache().get(key)
    if data is None:
        return None
    try:
        lowered = json.loads(data)
    except ValueError:
        return None
    return lowered if isinstance(lowered, dict) and lowered.keys() == _FIELDS else None


def store(key: str, lowered: Lowered) -> None:
    """Keep `lowered` under `key` (a full or read-only disk only loses the entry)."""
    _cache().put(key, json.dumps(lowered).encode())


def _cache() -> CompileCache:
    return CompileCache(default_directory())  # read each time, as devices do: tests point it elsewhere


@functools.cache
def _code_digest(renderer: str | None) -> str:
    """A digest of the source files that lower and render: this package, tinyhw.kernel, and the package of
    the renderer's module (a plugin's renderer may import its helpers lazily)."""
    from tinyhw.kernel.render import renderers

    folders = [Path(__file__).parent, Path(ir.__file__).parent]
    function = renderers().get(renderer) if renderer else None
    function = getattr(function, "func", function)  # a functools.partial: the function it calls
    module = sys.modules.get(getattr(function, "__module__", None) or "")
    if module is not None and getattr(module, "__file__", None):
        folders.append(Path(module.__file__).parent)
    files = [path for folder in folders for path in sorted(folder.rglob("*.py"))]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
