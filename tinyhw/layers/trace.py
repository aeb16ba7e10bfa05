"""The trace layer: one log line per device operation, with its sizes and how long the call took."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Generator
from typing import Any

from tinyhw.hookspec import hookimpl

__all__ = ["TraceLayer"]

logger = logging.getLogger("tinyhw.trace")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at each record, so later redirections (pytest, contextlib) apply."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # StreamHandler.__init__ would pin today's sys.stderr

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr


def _default_handler() -> None:
    """Log to stderr unless the application configured the `tinyhw.trace` logger itself."""
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _describe(value: Any) -> str:
    size = getattr(value, "size", None) if not isinstance(value, memoryview) else value.nbytes
    kind = "host" if isinstance(value, memoryview) else type(value).__name__.lower()
    return f"{kind}[{size}]" if size is not None else repr(value)


class TraceLayer:
    """Logs every operation as `tinyhw.trace DEVICE OP details TIME` (enqueue time for async ops)."""

    def __init__(self, device: str, impl: Any) -> None:
        self.device = device
        _default_handler()

    def _timed(self, op: str, details: str) -> Generator[None, Any, Any]:
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            logger.info("%s %s %s %.1fus", self.device, op, details, (time.perf_counter() - start) * 1e6)

    @hookimpl(wrapper=True)
    def allocate(self, size: int, options: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("allocate", f"{size} bytes"))

    @hookimpl(wrapper=True)
    def free(self, buffer: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("free", _describe(buffer)))

    @hookimpl(wrapper=True)
    def copy(self, dst: Any, src: Any, size: int) -> Generator[None, Any, Any]:
        return (yield from self._timed("copy", f"{_describe(src)} -> {_describe(dst)} {size} bytes"))

    @hookimpl(wrapper=True)
    def compile(self, source: Any, entry: Any) -> Generator[None, Any, Any]:
        return (yield from self._timed("compile", f"{entry or '<single kernel>'} {len(source)} chars"))

    @hookimpl(wrapper=True)
    def load(self, binary: bytes) -> Generator[None, Any, Any]:
        return (yield from self._timed("load", f"{len(binary)} bytes"))

    @hookimpl(wrapper=True)
    def launch(self, program: Any, args: tuple, global_size: tuple, local_size: tuple) -> Generator[None, Any, Any]:
        details = f"{program.name} args={','.join(map(_describe, args))} global={global_size} local={local_size}"
        return (yield from self._timed("launch", details))

    @hookimpl(wrapper=True)
    def sync(self) -> Generator[None, Any, Any]:
        return (yield from self._timed("sync", ""))
