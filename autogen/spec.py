"""The declarative description of one generated module."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import translate
from functools import cache

__all__ = ["Target"]


@dataclass(frozen=True)
class Target:
    """Which headers of which Debian package make which module, and which of their names it keeps.

    Name patterns are shell globs (`KFD_*`, `regCP_*`) matched against the C names. `constants`
    selects `#define`s, enum members, function-like macros and static inline functions; `types`
    selects struct, union, enum and typedef names (types they use, and types a kept ioctl
    number's `sizeof` names, come along). `exclude` drops matching names of either kind.
    """

    name: str
    title: str
    package: str
    headers: tuple[str, ...]
    output: str
    constants: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: C text placed before the headers (kernel-internal headers expect stdint types from their includer).
    prelude: str = ""
    #: Replacement contents for included files the package does not ship, by include name.
    stubs: dict[str, str] = field(default_factory=dict)
    #: Further archive members the headers include (linux-source targets).
    extra_files: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        """The generated module's import name (`plugins/amd/tinyhw_amd/autogen/kfd.py` -> `tinyhw_amd.autogen.kfd`)."""
        parts = self.output.removesuffix(".py").split("/")
        return ".".join(parts[2:] if parts[0] == "plugins" else parts)

    def keeps_constant(self, name: str) -> bool:
        """Whether a constant-like name belongs in the module."""
        return _matches(name, self.constants) and not _matches(name, self.exclude)

    def keeps_type(self, name: str) -> bool:
        """Whether a struct/union/enum tag or typedef name is asked for by name."""
        return _matches(name, self.types) and not _matches(name, self.exclude)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return _pattern(patterns).match(name) is not None


@cache
def _pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(translate(p) for p in patterns) or "(?!)")
