"""Where a target's headers come from (installed Debian packages) and how they are preprocessed."""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from autogen.macros import MacroTable, parse_define
from autogen.spec import Target

__all__ = [
    "Package",
    "LinuxSource",
    "PACKAGES",
    "SourceMissing",
    "Unit",
    "headers_root",
    "preprocess",
    "probe_flags",
    "probe_source",
]

#: GNU C extensions pycparser does not parse, removed before parsing. None changes a layout on
#: LP64 for the headers used here (no packed attributes; `#pragma pack` is kept and honoured);
#: the layout tests compare against gcc compiling the untouched headers.
_GNU_FLAGS = (
    "-D__attribute__(x)=", "-D__extension__=", "-D__signed__=signed", "-D__inline__=inline", "-D__inline=inline",
    "-D__asm__(x)=", "-D__restrict=", "-D__restrict__=", "-D__volatile__=volatile",
)  # fmt: skip


class SourceMissing(RuntimeError):
    """A target's package or header is not installed; the message says what to install."""


class Package:
    """A Debian package whose installed headers live under one directory."""

    def __init__(self, name: str, root: str):
        self.name, self._root = name, Path(root)

    def version(self) -> str:
        """The installed version, from dpkg; SourceMissing when the package is not installed."""
        return _dpkg_version(self.name)

    def root(self, members: tuple[str, ...], prefetch: tuple[str, ...] = ()) -> Path:
        """The directory the headers are under; SourceMissing names the first absent one.

        `prefetch` names members other targets will ask for, which an archive unpacks in the same pass.
        """
        for member in members:
            if not (self._root / member).is_file():
                raise SourceMissing(f"{self._root / member} is missing: apt-get install {self.name}")
        return self._root

    def display(self, member: str) -> str:
        """How a header is named in generated files."""
        return str(self._root / member)


class LinuxSource(Package):
    """`linux-source-X.Y`: a tarball under /usr/src; only the members a target names are extracted.

    Extraction goes to a cache under the temporary directory (one pass over the archive, ~1 min),
    never into the repository.
    """

    def __init__(self, name: str, tarball: str):
        super().__init__(name, tarball)
        self.tarball = Path(tarball)
        self.prefix = name + "/"

    def cache_dir(self) -> Path:
        """Where extracted members are kept between runs."""
        return Path(tempfile.gettempdir()) / "tinyhw-autogen" / f"{self.name}-{self.version()}"

    def root(self, members: tuple[str, ...], prefetch: tuple[str, ...] = ()) -> Path:
        cache_dir = self.cache_dir()
        missing = {self.prefix + m for m in members + prefetch if not (cache_dir / m).is_file()}
        if missing:
            if not self.tarball.is_file():
                raise SourceMissing(f"{self.tarball} is missing: apt-get install {self.name}")
            self._extract(missing, cache_dir)
        return cache_dir

    def _extract(self, wanted: set[str], cache_dir: Path) -> None:
        with tarfile.open(self.tarball) as archive:
            for info in archive:
                if info.name in wanted and info.isfile():
                    target = cache_dir / info.name[len(self.prefix) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.extractfile(info) as src:
                        target.write_bytes(src.read())
                    wanted.discard(info.name)
        if wanted:
            raise SourceMissing(f"{self.tarball} has no {', '.join(sorted(wanted))}")

    def display(self, member: str) -> str:
        return self.prefix + member


PACKAGES: dict[str, Package] = {
    "linux-libc-dev": Package("linux-libc-dev", "/usr/include"),
    "libdrm-dev": Package("libdrm-dev", "/usr/include/libdrm"),
    "linux-source-6.1": LinuxSource("linux-source-6.1", "/usr/src/linux-source-6.1.tar.xz"),
}


@cache
def _dpkg_version(name: str) -> str:
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError as e:
        raise SourceMissing(f"dpkg-query not found: autogen reads headers from Debian packages ({name})") from e
    if result.returncode != 0 or not result.stdout:
        raise SourceMissing(f"{name} is not installed: apt-get install {name}")
    return result.stdout


@dataclass
class Unit:
    """A preprocessed translation unit: C text for pycparser, the macros in effect, the header paths."""

    text: str
    macros: MacroTable
    headers: tuple[str, ...]
    version: str


def probe_source(target: Target, root: Path) -> str:
    """C text that includes the target's headers, after its prelude."""
    includes = "".join(f'#include "{root / h}"\n' for h in target.headers)
    return f"{target.prelude}\n{includes}"


def probe_flags(target: Target, root: Path, stub_dir: Path) -> list[str]:
    """gcc include flags for the target: stubs first, then the package's own tree."""
    for name, text in target.stubs.items():
        (stub_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (stub_dir / name).write_text(text + "\n")
    return [f"-I{stub_dir}", f"-I{root}"]


def headers_root(target: Target, prefetch: tuple[str, ...] = ()) -> Path:
    """The installed (or extracted) directory holding the target's headers."""
    return PACKAGES[target.package].root(target.headers + target.extra_files, prefetch)


def preprocess(target: Target, prefetch: tuple[str, ...] = ()) -> Unit:
    """Run `gcc -E -dD` over the target's headers; SourceMissing when they are not installed."""
    package = PACKAGES[target.package]
    root, version = headers_root(target, prefetch), package.version()
    with tempfile.TemporaryDirectory(prefix="tinyhw-autogen-") as tmp:
        source = Path(tmp) / "unit.c"
        source.write_text(probe_source(target, root))
        command = ["gcc", "-E", "-dD", *_GNU_FLAGS, *probe_flags(target, root, Path(tmp) / "stubs"), str(source)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise SourceMissing(f"gcc could not preprocess {target.name}:\n{result.stderr}")
    text, macros = _split(result.stdout)
    headers = tuple(os.path.normpath(root / h) for h in target.headers)
    return Unit(text, macros, headers, version)


def _split(output: str) -> tuple[str, MacroTable]:
    """Separate `#define`/`#undef` lines (with the file each is in) from the C text."""
    macros, lines, origin = MacroTable(), [], ""
    for line in output.splitlines():
        if line.startswith("# ") and '"' in line:
            origin = os.path.normpath(line.split('"')[1])
        elif line.startswith("#define"):
            macro = parse_define(line, origin)
            if macro is not None:
                macros.define(macro)
            line = ""
        elif line.startswith("#undef"):
            macros.undef(line.split()[1])
            line = ""
        lines.append(line)
    return "\n".join(lines), macros
