"""Preprocessor macros as `gcc -E -dD` reports them, and their expansion into C expression tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass

from autogen.cexpr import ExprError, tokenize

__all__ = ["Macro", "MacroTable", "parse_define"]

_DEFINE = re.compile(r"#define\s+(?P<name>\w+)(?P<params>\([^)]*\))?\s*(?P<body>.*)")


@dataclass(frozen=True)
class Macro:
    """One `#define`: its name, parameters (None for object-like macros), body text and defining file."""

    name: str
    params: tuple[str, ...] | None
    body: str
    origin: str


def parse_define(line: str, origin: str) -> Macro | None:
    """The Macro a `#define` line declares, or None for lines that are not defines."""
    m = _DEFINE.match(line)
    if not m:
        return None
    params = None
    if m.group("params") is not None:
        params = tuple(p.strip() for p in m.group("params")[1:-1].split(",") if p.strip())
    return Macro(m.group("name"), params, m.group("body").strip(), origin)


class MacroTable:
    """The macros in effect at the end of a translation unit, in definition order."""

    def __init__(self) -> None:
        self.macros: dict[str, Macro] = {}

    def define(self, macro: Macro) -> None:
        """Record a definition; a redefinition replaces the earlier one's value but keeps its place."""
        self.macros[macro.name] = macro

    def undef(self, name: str) -> None:
        """Forget a macro, as `#undef` does."""
        self.macros.pop(name, None)

    def expand(self, tokens: list[str], hidden: frozenset[str] = frozenset()) -> list[str]:
        """Fully macro-expand tokens; names in `hidden` (being expanded, or parameters) stay as they are."""
        out: list[str] = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            macro = self.macros.get(token)
            if macro is None or token in hidden:
                out.append(token)
                i += 1
            elif macro.params is None:
                out.extend(self.expand(self.tokens(macro), hidden | {token}))
                i += 1
            elif i + 1 < len(tokens) and tokens[i + 1] == "(":
                args, i = _arguments(tokens, i + 1)
                out.extend(self.call(macro, [self.expand(a, hidden) for a in args], hidden))
            else:
                out.append(token)
                i += 1
        return out

    def call(self, macro: Macro, args: list[list[str]], hidden: frozenset[str]) -> list[str]:
        """Substitute already expanded arguments into a function-like macro's body and rescan it."""
        if len(args) != len(macro.params) and not (args == [[]] and not macro.params):
            raise ExprError(f"{macro.name} takes {len(macro.params)} arguments, got {len(args)}")
        bound = dict(zip(macro.params, args))
        body: list[str] = []
        for token in self.tokens(macro):
            body.extend(bound.get(token, [token]))
        return self.expand(body, hidden | {macro.name})

    def tokens(self, macro: Macro) -> list[str]:
        """The body's tokens; stringizing and token pasting are refused (no constant uses them)."""
        tokens = tokenize(macro.body)
        if "#" in tokens or "##" in tokens:
            raise ExprError(f"{macro.name} uses # or ##")
        return tokens


def _arguments(tokens: list[str], start: int) -> tuple[list[list[str]], int]:
    """Split a call's argument tokens at top-level commas; returns them and the index after ')'."""
    args: list[list[str]] = [[]]
    depth = 0
    for i in range(start + 1, len(tokens)):
        token = tokens[i]
        if token == ")" and depth == 0:
            return args, i + 1
        if token == "," and depth == 0:
            args.append([])
            continue
        depth += {"(": 1, ")": -1}.get(token, 0)
        args[-1].append(token)
    raise ExprError(f"unterminated call in {' '.join(tokens)!r}")
