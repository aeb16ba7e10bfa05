"""Type declarations of a preprocessed unit (via pycparser), filtered and rendered as cffi cdef text."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import cffi
from pycparser import c_ast, c_generator, c_parser

from autogen.cexpr import CInt, ExprError, evaluate, parse, tokenize

__all__ = ["Declarations", "Entry", "InlineFunction", "FFITypes"]

_PACK = re.compile(r"pack\s*\(\s*(?:(push)\s*,?\s*)?(\d*)\s*\)|pack\s*\(\s*pop\s*\)")


@dataclass
class Entry:
    """One type definition: the names it answers to ('struct x', 'x_t'), its node, packing and file."""

    keys: tuple[str, ...]
    node: c_ast.Node
    pack: int | None
    origin: str


@dataclass(frozen=True)
class InlineFunction:
    """A `static inline` function whose body is one `return` of an expression over its parameters."""

    name: str
    params: tuple[str, ...]
    expression: str
    origin: str


@dataclass
class Declarations:
    """What a translation unit declares, in source order."""

    entries: list[Entry] = field(default_factory=list)
    by_key: dict[str, Entry] = field(default_factory=dict)
    enum_constants: dict[str, tuple[CInt, str]] = field(default_factory=dict)
    functions: list[InlineFunction] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Declarations:
        """Parse preprocessed C text; enumerator values and array sizes are folded to integers."""
        decls, pack, stack = cls(), None, []
        for node in c_parser.CParser().parse(text).ext:
            if isinstance(node, c_ast.Pragma):
                pack, stack = _pragma(node.string, pack, stack)
            elif isinstance(node, c_ast.FuncDef):
                decls._function(node)
            elif isinstance(node, (c_ast.Decl, c_ast.Typedef)):
                decls._declaration(node, pack)
        return decls

    def _declaration(self, node: c_ast.Decl | c_ast.Typedef, pack: int | None) -> None:
        inner = node.type.type if isinstance(node, c_ast.Typedef) else node.type
        keys = [f"{_tag_kind(inner)} {inner.name}"] if _is_definition(inner) and inner.name else []
        if isinstance(node, c_ast.Typedef):
            keys.append(node.name)
        if not keys:
            return
        if isinstance(inner, c_ast.Enum) and inner.values is not None:
            self._enumerate(inner, node.coord.file)
        _fold(node, {name: v for name, (v, _) in self.enum_constants.items()})
        entry = Entry(tuple(keys), node, pack, os.path.normpath(node.coord.file))
        self.entries.append(entry)
        for key in keys:
            self.by_key.setdefault(key, entry)

    def _enumerate(self, enum: c_ast.Enum, origin: str) -> None:
        value = CInt(-1)
        names = {name: v for name, (v, _) in self.enum_constants.items()}
        for item in enum.values.enumerators:
            if item.value is None:
                value = CInt(value.value + 1)
            else:
                value = evaluate(parse(tokenize(_render(item.value))), names=names)
            names[item.name] = value
            self.enum_constants[item.name] = (value, os.path.normpath(origin))
            item.value = c_ast.Constant("int", str(value.value))

    def _function(self, node: c_ast.FuncDef) -> None:
        body = node.body.block_items or []
        if "inline" not in node.decl.funcspec or len(body) != 1 or not isinstance(body[0], c_ast.Return):
            return
        params = node.decl.type.args.params if node.decl.type.args else []
        names = tuple(p.name for p in params if getattr(p, "name", None))
        if body[0].expr is not None and len(names) == len(params):
            self.functions.append(
                InlineFunction(node.decl.name, names, _render(body[0].expr), os.path.normpath(node.coord.file))
            )

    def closure(self, wanted: set[str]) -> list[Entry]:
        """The entries named in `wanted` plus every type they use, in source order."""
        keep: set[str] = set()
        todo = [k for k in wanted if k in self.by_key]
        builtin = cffi.FFI()
        while todo:
            key = todo.pop()
            if key in keep or (" " not in key and _is_builtin(builtin, key)):  # uint32_t: not libc's typedef chain
                continue
            keep.add(key)
            todo.extend(k for k in _references(self.by_key[key].node) if k in self.by_key and k not in keep)
        chosen = {id(self.by_key[k]) for k in keep}
        return [e for e in self.entries if id(e) in chosen]


def render_cdef(entries: list[Entry], names: dict[str, CInt]) -> tuple[str, int | None]:
    """cdef text for entries and their common packing; typedefs cffi already knows are left out.

    Array sizes that take the `sizeof` of an earlier type are folded here, once those types are known.
    """
    packs = {e.pack for e in entries if any(k.startswith(("struct ", "union ")) for k in e.keys)}
    if len(packs) > 1:
        raise ExprError(f"types with different #pragma pack values in one module: {sorted(map(str, packs))}")
    pack, builtin, parts = (packs.pop() if packs else None), cffi.FFI(), []
    for e in entries:
        if isinstance(e.node, c_ast.Typedef) and _is_builtin(builtin, e.node.name):
            continue
        if any(
            isinstance(c, c_ast.ArrayDecl) and not isinstance(c.dim, (c_ast.Constant, type(None)))
            for c in _walk(e.node)
        ):
            _fold(e.node, names, FFITypes("".join(parts), pack))
        parts.append("\n".join(line.rstrip() for line in _render(e.node).splitlines()) + ";\n")
    return "".join(parts), pack


class FFITypes:
    """cexpr.Types backed by a cffi FFI holding the module's cdef."""

    def __init__(self, cdef: str, pack: int | None):
        self.ffi = cffi.FFI()
        self.ffi.cdef(cdef, pack=pack)
        self._typedefs = set(re.findall(r"typedef\b[^;]*?\b(\w+)\s*;", cdef))

    def is_type(self, name: str) -> bool:
        return name in self._typedefs or _is_builtin(self.ffi, name)

    def sizeof(self, ctype: str) -> int:
        try:
            return self.ffi.sizeof(ctype)
        except (cffi.CDefError, cffi.FFIError, TypeError, ValueError) as e:
            raise ExprError(f"sizeof({ctype}): {e}") from e

    def is_signed(self, ctype: str) -> bool:
        try:
            return self.ffi.cast(ctype, -1) < 0
        except (cffi.CDefError, cffi.FFIError, TypeError) as e:
            raise ExprError(f"cast to {ctype}: {e}") from e


def _is_builtin(ffi: cffi.FFI, name: str) -> bool:
    try:
        ffi.typeof(name)
    except (cffi.CDefError, cffi.FFIError, TypeError):
        return False
    return True


def _pragma(text: str, pack: int | None, stack: list) -> tuple[int | None, list]:
    m = _PACK.search(text)
    if not m:
        return pack, stack
    if m.group(0).replace(" ", "").startswith("pack(pop"):
        return (stack[-1] if stack else None), stack[:-1]
    if m.group(1):
        stack = [*stack, pack]
    return (int(m.group(2)) if m.group(2) else None), stack


def _tag_kind(node: c_ast.Node) -> str:
    return {c_ast.Struct: "struct", c_ast.Union: "union", c_ast.Enum: "enum"}.get(type(node), "")


def _is_definition(node: c_ast.Node) -> bool:
    if isinstance(node, (c_ast.Struct, c_ast.Union)):
        return node.decls is not None
    return isinstance(node, c_ast.Enum) and node.values is not None


def _walk(node: c_ast.Node):
    yield node
    for _, child in node.children():
        yield from _walk(child)


def _references(node: c_ast.Node) -> set[str]:
    refs = set()
    for child in _walk(node):
        if isinstance(child, (c_ast.Struct, c_ast.Union, c_ast.Enum)) and child.name:
            refs.add(f"{_tag_kind(child)} {child.name}")
        elif isinstance(child, c_ast.IdentifierType):
            refs.update(child.names)
    return refs


def _render(node: c_ast.Node) -> str:
    return c_generator.CGenerator().visit(node)


def _fold(node: c_ast.Node, names: dict[str, CInt], types: FFITypes | None = None) -> None:
    """Replace array sizes and bit-field widths by their integer values (cffi wants plain numbers)."""
    for child in _walk(node):
        if isinstance(child, c_ast.ArrayDecl) and child.dim is not None:
            child.dim = _folded(child.dim, names, types)
        elif isinstance(child, c_ast.Decl) and child.bitsize is not None:
            child.bitsize = _folded(child.bitsize, names, types)


def _folded(expr: c_ast.Node, names: dict[str, CInt], types: FFITypes | None) -> c_ast.Node:
    try:
        return c_ast.Constant("int", str(evaluate(parse(tokenize(_render(expr)), types), types, names).value))
    except ExprError:
        return expr
