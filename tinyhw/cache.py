"""The on-disk compile cache: binaries keyed by backend, target, compiler version and source.

Lives in `$XDG_CACHE_HOME/tinyhw` (default `~/.cache/tinyhw`), or `TINYHW_CACHE_DIR`;
`TINYHW_CACHE=0` turns it off. Entries are written atomically, so concurrent processes and a
crash mid-write never leave a torn binary behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["CompileCache", "cache_key"]


def cache_key(backend: str, target: str, compiler: str, entry: str | None, source: str | bytes) -> str:
    """The hex digest naming one compiled binary."""
    digest = hashlib.sha256()
    for part in (backend, target, compiler, entry or ""):
        digest.update(part.encode() + b"\0")
    digest.update(source.encode() if isinstance(source, str) else source)
    return digest.hexdigest()


def default_directory() -> Path | None:
    """Where the cache lives, or None when `TINYHW_CACHE=0` disables it."""
    if os.environ.get("TINYHW_CACHE", "1") == "0":
        return None
    if explicit := os.environ.get("TINYHW_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinyhw"


class CompileCache:
    """Compiled binaries on disk, one file per key; a missing or unreadable entry is a miss."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def get(self, key: str) -> bytes | None:
        """The cached binary for `key`, or None."""
        if self.directory is None:
            return None
        try:
            return (self.directory / key[:2] / key).read_bytes()
        except OSError:
            return None

    def put(self, key: str, binary: bytes) -> None:
        """Store `binary` under `key`; a read-only or full disk only loses the cache entry."""
        if self.directory is None:
            return
        folder = self.directory / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, delete=False) as tmp:
                tmp.write(binary)
            os.replace(tmp.name, folder / key)
        except OSError:
            return
