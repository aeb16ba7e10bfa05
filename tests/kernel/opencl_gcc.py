"""Type-checking OpenCL C with gcc: a prelude mapping OpenCL C onto GNU C vector extensions.

A machine without an OpenCL driver still checks a rendered kernel's syntax, scoping and vector
types with `gcc -fsyntax-only`.
"""

from __future__ import annotations

import re
import subprocess

_C_TYPES = {"char": "char", "uchar": "unsigned char", "short": "short", "ushort": "unsigned short",
            "int": "int", "uint": "unsigned int", "long": "long", "ulong": "unsigned long", "float": "float",
            "double": "double"}  # fmt: skip
_UNARY_BUILTINS = ("sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "erf", "floor", "ceil",
                   "trunc", "fabs", "abs")  # fmt: skip


def _vector_prelude(t: str, c: str, n: int) -> list[str]:
    return [
        f"typedef {c} {t}{n} __attribute__((vector_size(sizeof({c}) * {4 if n == 3 else n})));",
        f"#define convert_{t}{n}(x) __builtin_convertvector((x), {t}{n})",
        f"#define as_{t}{n}(x) (({t}{n})(x))",
    ]


def _memory_prelude(n: int | str) -> list[str]:
    zero = f"(float{n}){{0}}" if n else "0.0f"
    lines = [f"#define vload_half{n}(o, p) ((void)(o), (void)(p)->bits, {zero})",
             f"#define vstore_half{n}_rte(v, o, p) ((void)(o), (void)(p)->bits, (void)({zero} + (v)))"]  # fmt: skip
    if n:  # vloadN: a vector of the pointee's type; vstoreN: the value's lanes are the pointee's size
        lanes = 4 if n == 3 else n
        lines += [f"#define vload{n}(o, p) ({{ typedef __typeof__(*(p)) e_ __attribute__((vector_size({lanes} * "
                  f"sizeof(*(p))))); (void)(o); *(e_*)(p); }})",
                  f"#define vstore{n}(v, o, p) ((void)(o), (void)sizeof(char[sizeof((v)[0]) == sizeof(*(p)) ? 1 : "
                  f"-1]), *(__typeof__((v) + 0)*)(p) = (v))"]  # fmt: skip
    return lines


def _gcc_prelude() -> str:
    """Declarations that let gcc type-check OpenCL C: vector types, conversions, builtins, qualifiers."""
    lines = ["#include <stdbool.h>", "#include <stddef.h>", "typedef struct { unsigned short bits; } half;"]
    lines += [f"typedef {c} {t};" for t, c in _C_TYPES.items() if t.startswith("u")]
    for t, c in _C_TYPES.items():
        lines += [f"#define convert_{t}(x) (({t})(x))", f"#define as_{t}(x) (({t})(x))"]
        lines += [line for n in (2, 3, 4, 8, 16) for line in _vector_prelude(t, c, n)]
    lines += [line for n in ("", 2, 3, 4, 8, 16) for line in _memory_prelude(n)]
    lines += [f"#define {f}(x) ((__typeof__(x))(x))" for f in _UNARY_BUILTINS]
    lines += [f"#define {f}(x, y) ((x) + (y))" for f in ("fmax", "fmin", "fmod", "pow", "max", "min")]
    lines += ["#define select(a, b, c) ((void)(c), (a) + (b))", "#define isnan(x) ((x) != (x))",
              "#define __kernel", "#define __global", "#define __local", "#define reqd_work_group_size(x, y, z)",
              "size_t get_group_id(unsigned); size_t get_local_id(unsigned); void barrier(int);",
              "#define CLK_LOCAL_MEM_FENCE 1", "#define CLK_GLOBAL_MEM_FENCE 2",
              "#define INFINITY __builtin_inff()", '#define NAN __builtin_nanf("")']  # fmt: skip
    return "\n".join(lines) + "\n"


_VECTOR_LITERAL = re.compile(r"\((?:u?char|u?short|u?int|u?long|float|double)(?:2|3|4|8|16)\)\(")


def _as_gnu_c(source: str) -> str:
    """OpenCL-only syntax in GNU C spelling: `v.s3` -> `v[0x3]`, `(float4)(a, b)` -> `(float4){a, b}`."""
    source = re.sub(r"\.s([0-9a-f])\b", r"[0x\1]", source)
    pos = 0
    while match := _VECTOR_LITERAL.search(source, pos):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        source = f"{source[: match.end() - 1]}{{{source[match.end() : end - 1]}}}{source[end:]}"
        pos = match.end()
    return source


def gcc_check(source: str, tmp_path) -> None:
    """Fail with gcc's diagnostics unless `source` type-checks as GNU C with -Wall -Werror."""
    path = tmp_path / "kernel.c"
    path.write_text(_gcc_prelude() + _as_gnu_c(source))
    flags = ["-std=gnu11", "-fsyntax-only", "-fsigned-char", "-Wall", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused",
             "-Wno-psabi"]  # fmt: skip
    result = subprocess.run(["gcc", *flags, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"gcc rejected the rendered kernel:\n{result.stderr}\n{source}"
