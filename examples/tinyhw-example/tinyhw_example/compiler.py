"""The example backend's kernel language (renderer "python") and its compiler.

A kernel is one Python function. Its first three parameters are the workgroup ids; each other
parameter is annotated with its kind, a string:

    def add_f32(gx, gy, gz, a: "buffer", b: "buffer", out: "buffer"):
        view(out, np.float32)[gx] = view(a, np.float32)[gx] + view(b, np.float32)[gx]

A "buffer" parameter arrives as a writable uint8 numpy array over the buffer's bytes, and
`view(buffer, dtype)` gives its whole elements of another type; a scalar parameter ("uint32",
"float32", ... any of `tinyhw.program.SCALAR_KINDS` but bfloat16, which numpy lacks) arrives as a
numpy scalar of that kind. `np` is numpy. One call runs one workgroup; its work-items are the
kernel's own loop.

The binary is a magic line, a JSON line naming the kernel and its parameters, then the source.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from tinyhw import CompileError, Param
from tinyhw.program import SCALAR_KINDS

__all__ = ["KINDS", "compile_kernel", "load_kernel", "view"]

MAGIC = b"tinyhw-example kernel v1\n"
GROUP_IDS = ["gx", "gy", "gz"]
KINDS = ("buffer",) + tuple(kind for kind in SCALAR_KINDS if kind != "bfloat16")
"""Parameter kinds a kernel may declare."""


def compile_kernel(source: str | bytes, entry: str | None) -> bytes:
    """Check `source` and return the binary of its kernel `entry` (or of its only function)."""
    text = source.decode() if isinstance(source, bytes) else source
    function = _find(_parse(text), entry)
    params = [[param.name, param.kind] for param in _params(function)]
    header = json.dumps({"name": function.name, "params": params})
    return MAGIC + header.encode() + b"\n" + text.encode()


def load_kernel(binary: bytes) -> tuple[str, tuple[Param, ...], Callable[..., Any]]:
    """The name, parameters and Python function of a binary from `compile_kernel`."""
    if not binary.startswith(MAGIC):
        raise CompileError("not a tinyhw-example kernel binary (wrong header); recompile the source")
    header, _, source = binary[len(MAGIC) :].partition(b"\n")
    try:
        meta = json.loads(header)
        name, params = meta["name"], tuple(Param(pname, kind) for pname, kind in meta["params"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CompileError(f"malformed tinyhw-example kernel binary: {exc}") from None
    namespace: dict[str, Any] = {"np": np, "view": view, "__name__": f"tinyhw_example.kernel.{name}"}
    try:
        exec(compile(source, f"<kernel {name}>", "exec"), namespace)
    except Exception as exc:
        raise CompileError(f"kernel {name}: loading failed: {type(exc).__name__}: {exc}") from None
    return name, params, namespace[name]


def view(buffer: np.ndarray, dtype: Any) -> np.ndarray:
    """The whole elements of `dtype` in a buffer parameter (bytes past the last whole element are left out)."""
    itemsize = np.dtype(dtype).itemsize
    return buffer[: len(buffer) - len(buffer) % itemsize].view(dtype)


def _parse(text: str) -> ast.Module:
    try:
        tree = ast.parse(text, "<kernel>")
        compile(tree, "<kernel>", "exec")  # catches what the parser lets through (e.g. `return` outside a function)
    except SyntaxError as exc:
        line = f": {exc.text.strip()}" if exc.text else ""
        raise CompileError(f"line {exc.lineno}, column {exc.offset}: {exc.msg}{line}") from None
    return tree


def _find(tree: ast.Module, entry: str | None) -> ast.FunctionDef:
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    names = [function.name for function in functions]
    chosen = functions if entry is None else [f for f in functions if f.name == entry]
    if len(chosen) == 1:
        return chosen[0]
    if entry is not None:
        raise CompileError(f"no kernel {entry!r} in the source; it defines {names}")
    raise CompileError(f"the source defines {len(names)} functions {names}; name the kernel to compile as `entry`")


def _params(function: ast.FunctionDef) -> list[Param]:
    args = function.args
    extras = args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg or args.defaults
    if [a.arg for a in args.args[:3]] != GROUP_IDS or extras:
        shape = f"def {function.name}(gx, gy, gz, <annotated params>)"
        raise CompileError(f"line {function.lineno}: kernel {function.name} must be `{shape}` "
                           "with no defaults, *args, **kwargs or keyword-only params")  # fmt: skip
    return [_param(function, arg) for arg in args.args[3:]]


def _param(function: ast.FunctionDef, arg: ast.arg) -> Param:
    kind = arg.annotation.value if isinstance(arg.annotation, ast.Constant) else None
    if kind not in KINDS:
        raise CompileError(f'line {arg.lineno}: parameter {arg.arg!r} of {function.name} needs its kind as an '
                           f'annotation, e.g. `{arg.arg}: "buffer"`; kinds: {", ".join(KINDS)}')  # fmt: skip
    return Param(arg.arg, kind)
