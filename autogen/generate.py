"""From a Target to the text of its Python module: the pipeline the CLI and the tests share."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from autogen.cdefs import Declarations, FFITypes, render_cdef
from autogen.cexpr import ExprError, bit_pattern, evaluate, parse, to_python, tokenize
from autogen.emit import render_module
from autogen.macros import MacroTable
from autogen.sources import PACKAGES, Unit, preprocess
from autogen.spec import Target
from autogen.targets import TARGETS

__all__ = ["Module", "build", "generate"]


@dataclass
class Module:
    """Everything a generated module holds, before it is rendered as text."""

    target: Target
    package_version: str
    headers: tuple[str, ...]
    cdef: str = ""
    pack: int | None = None
    constants: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (value, C text)
    functions: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)  # name -> (params, body)


def generate(target: Target) -> str:
    """The module text for a target, from the installed headers (SourceMissing when absent)."""
    return render_module(build(target))


def build(target: Target) -> Module:
    """Preprocess, parse and evaluate a target's headers into a Module."""
    siblings = tuple(m for t in TARGETS if t.package == target.package for m in t.headers + t.extra_files)
    unit = preprocess(target, prefetch=siblings)
    decls = Declarations.parse(unit.text)
    package = PACKAGES[target.package]
    module = Module(target, unit.version, tuple(package.display(h) for h in target.headers))
    mine = set(unit.headers)
    macros = [m for m in unit.macros.macros.values() if m.origin in mine and target.keeps_constant(m.name)]
    wanted = {k for e in decls.entries if e.origin in mine for k in e.keys if target.keeps_type(k.split()[-1])}
    wanted |= _sizeof_types(unit.macros, [m.name for m in macros if m.params is None])
    entries = decls.closure(wanted)
    enum_values = {name: value for name, (value, _) in decls.enum_constants.items()}
    module.cdef, module.pack = render_cdef(entries, enum_values)
    types = FFITypes(module.cdef, module.pack)
    for name, (value, origin) in decls.enum_constants.items():
        if origin in mine and target.keeps_constant(name):
            module.constants[name] = (value.value, str(value.value))
    _add_macros(module, unit, macros, types)
    for fn in decls.functions:
        if fn.origin in mine and target.keeps_constant(fn.name):
            _add_function(module, fn.name, fn.params, fn.expression, types)
    return module


def _sizeof_types(table: MacroTable, names: list[str]) -> set[str]:
    """Types that kept macros take the size of (ioctl numbers): they join the cdef."""
    found = set()
    for name in names:
        try:
            tokens = table.expand([name])
        except ExprError:
            continue
        for i, token in enumerate(tokens[:-2]):
            if token == "sizeof" and tokens[i + 1] == "(":
                end = tokens.index(")", i)
                found.add(" ".join(tokens[i + 2 : end]))
    return found


def _add_macros(module: Module, unit: Unit, macros: list, types: FFITypes) -> None:
    for macro in macros:
        if macro.name in module.constants:
            continue
        try:
            if macro.params is None:
                node = parse(unit.macros.expand([macro.name]), types)
                module.constants[macro.name] = (bit_pattern(node, evaluate(node, types)), macro.body)
            else:
                body = unit.macros.expand(unit.macros.tokens(macro), frozenset(macro.params) | {macro.name})
                _add_function(module, macro.name, macro.params, body, types)
        except ExprError:
            continue  # not an integer expression (strings, types, statements): nothing to emit


def _add_function(module: Module, name: str, params: tuple[str, ...], body: list[str] | str, types: FFITypes) -> None:
    """Emit a function-like macro or inline function (body as tokens or C text) if Python can say it."""
    if not params or any(keyword.iskeyword(p) for p in params) or name in module.functions:
        return
    try:
        tokens = tokenize(body) if isinstance(body, str) else body
        module.functions[name] = (params, to_python(parse(tokens, types), params, types))
    except ExprError:
        return  # uses C semantics Python does not share (division, comparisons, signed casts)
