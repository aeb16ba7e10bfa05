"""A C probe per generated module: gcc compiles the real headers and prints what the module claims.

For every struct/union in the module's CDEF: sizeof and the offset of each (non-bit-field) member;
for every integer constant: its value; for every function: its value at sample arguments. The
headers are compiled exactly as installed (no GNU extensions stripped), so the numbers are the C
compiler's own.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import cffi
import pytest

from autogen.sources import PACKAGES, LinuxSource, SourceMissing, headers_root, probe_flags, probe_source
from autogen.spec import Target

#: Arguments functions are called with: distinct, non-zero, small enough for every field.
SAMPLE_ARGS = (3, 5, 6, 1)


@dataclass
class Row:
    """One probed quantity: what (e.g. 'sizeof struct x'), the C expression, and the module's value."""

    label: str
    c_expr: str
    expected: int
    width_expr: str = "8"  # bytes of the C value: constants and functions are compared in their C type's width


def ffi_of(module: ModuleType) -> cffi.FFI:
    """A cffi FFI holding a generated module's CDEF."""
    ffi = cffi.FFI()
    if hasattr(module, "CDEF"):
        ffi.cdef(module.CDEF, pack=module.PACK)
    return ffi


def layout_rows(module: ModuleType) -> list[Row]:
    """sizeof and member offsets of every struct and union the module defines."""
    ffi, rows = ffi_of(module), []
    _, structs, unions = ffi.list_types()
    for ctype in [f"struct {n}" for n in structs] + [f"union {n}" for n in unions]:
        rows.append(Row(f"sizeof {ctype}", f"sizeof({ctype})", ffi.sizeof(ctype)))
        for name, field in ffi.typeof(ctype).fields or ():
            if field.bitsize == -1 and name:
                rows.append(Row(f"offsetof {ctype}.{name}", f"offsetof({ctype}, {name})", field.offset))
    return rows


def constant_rows(module: ModuleType) -> list[Row]:
    """Every integer constant of the module."""
    return [
        Row(name, name, value, f"sizeof({name})")
        for name, value in vars(module).items()
        if isinstance(value, int) and not name.startswith("_") and name != "PACK"
    ]


def function_rows(module: ModuleType) -> list[Row]:
    """Every function of the module, called at SAMPLE_ARGS."""
    rows = []
    for name, fn in vars(module).items():
        if inspect.isfunction(fn) and fn.__module__ == module.__name__:
            args = SAMPLE_ARGS[: len(inspect.signature(fn).parameters)]
            call = f"{name}({', '.join(map(str, args))})"
            rows.append(Row(call, call, fn(*args), f"sizeof({call})"))
    return rows


def run_probe(target: Target, rows: list[Row]) -> dict[str, tuple[int, int]]:
    """Compile and run a probe of `rows` against the target's headers: label -> (C value, width in bytes)."""
    root = installed_root(target)
    table = "".join(f'  {{"{r.label}", (long long)({r.c_expr}), {r.width_expr}}},\n' for r in rows)
    source = (
        "#include <stdio.h>\n#include <stddef.h>\n"
        + probe_source(target, root)
        + "struct row { const char *label; long long value; int width; };\n"
        + f"int main(void) {{\n  struct row rows[] = {{\n{table}}};\n"  # in main: inline functions are not constant
        + "  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)\n"
        + '    printf("%s\\t%lld\\t%d\\n", rows[i].label, rows[i].value, rows[i].width);\n  return 0;\n}\n'
    )
    with tempfile.TemporaryDirectory(prefix="tinyhw-probe-") as tmp:
        c_file, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        c_file.write_text(source)
        flags = probe_flags(target, root, Path(tmp) / "stubs")
        build = subprocess.run(
            ["gcc", "-w", "-O0", *flags, "-o", str(exe), str(c_file)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert build.returncode == 0, f"probe for {target.name} does not compile:\n{build.stderr[:4000]}"
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True).stdout
    result = {}
    for line in out.splitlines():
        label, value, width = line.rsplit("\t", 2)
        result[label] = (int(value), int(width))
    return result


def mismatches(target: Target, rows: list[Row]) -> list[str]:
    """Rows whose module value differs from the C compiler's (compared in the C value's width)."""
    measured = run_probe(target, rows)
    bad = []
    for row in rows:
        c_value, width = measured[row.label]
        mask = (1 << (8 * width)) - 1
        if row.width_expr == "8":  # sizes and offsets: exact
            same = c_value == row.expected
        elif row.expected >= 0 and c_value < 0:  # a bit pattern published for a negative int (cexpr.bit_pattern)
            same = row.expected == c_value & mask
        else:
            same = c_value == _signed64(row.expected) if width == 8 else (c_value & mask) == (row.expected & mask)
        if not same:
            bad.append(f"{row.label}: module {row.expected:#x}, C {c_value:#x}")
    return bad


def _signed64(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


def installed_root(target: Target) -> Path:
    """The target's header directory, or a pytest skip naming what to install (or extract)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    package = PACKAGES[target.package]
    try:
        if isinstance(package, LinuxSource):
            cache = package.cache_dir()
            if not all((cache / m).is_file() for m in target.headers + target.extra_files):
                pytest.skip(f"{target.package} headers not extracted: run `python -m autogen --check` once")
        return headers_root(target)
    except SourceMissing as e:
        pytest.skip(str(e))


def generated(target: Target) -> ModuleType:
    """The committed generated module of a target."""
    return importlib.import_module(target.module)
