"""Render kernel IR as OpenCL C 1.2, for the Qualcomm plugin and vendors that ship an OpenCL compiler.

The output is one `__kernel` function: buffers become `__global T*` parameters and scalars plain
parameters, in the kernel's order; `reqd_work_group_size` carries the local size; group and local
ids come from `get_group_id`/`get_local_id`, so the launch's global work size must be
`global_size * local_size` work-items. Every non-leaf value is one `const T vN = ...;` line,
emitted where first used, depth first, so the text is deterministic.

Types OpenCL 1.2 cannot hold directly are stored differently from how they are computed:

- bool is `bool` in registers, `uchar` (0/1) in memory and in kernel arguments; a vector of bools
  is an `intN` of 0/-1 lanes, which is what OpenCL's vector comparisons produce;
- float16 is computed in `float` and moved with `vload_half`/`vstore_half_rte`, which need no
  `cl_khr_fp16`; a scalar float16 argument is passed as its 16 bits (`ushort`);
- bfloat16 has no OpenCL type: its 16 bits are a `ushort` in memory and arguments, widened by a
  shift on load and rounded to nearest even on the way back;
- every float16/bfloat16 result of an inexact operation is rounded to its type at once, so the
  values match the type's own arithmetic (float has enough bits that rounding twice is exact for
  + - * / and sqrt).

Only `cl_khr_fp64` is ever enabled, and only for kernels that use float64. Memory reads follow
the IR's order: a load used again after a store to its buffer, a barrier, or inside a loop that
writes its buffer is read again; likewise values that read an accumulator after its update.
"""

from __future__ import annotations

import math
import re

import numpy as np

from tinyhw.kernel.dtypes import DType, bfloat16, float16
from tinyhw.kernel.ir import Barrier, Buf, DefineAcc, IRError, Kernel, Store, Value
from tinyhw.kernel.render.base import RenderedKernel, SourceRenderer

__all__ = ["render_opencl"]

_SCALAR = {"bool": "bool", "int8": "char", "int16": "short", "int32": "int", "int64": "long", "uint8": "uchar",
           "uint16": "ushort", "uint32": "uint", "uint64": "ulong", "float16": "float", "bfloat16": "float",
           "float32": "float", "float64": "double"}  # fmt: skip
"""Register type of each scalar dtype."""
_STORAGE = {"bool": "uchar", "float16": "half", "bfloat16": "ushort"}
"""Memory element types that differ from the register type."""
_ARGUMENT = {"bool": "uchar", "float16": "ushort", "bfloat16": "ushort"}
"""Scalar kernel-argument types that differ from the register type (OpenCL forbids bool and half there)."""
_SIGNED = {1: "char", 2: "short", 4: "int", 8: "long"}
_WIDTHS = frozenset({2, 3, 4, 8, 16})

_MATH = ("sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "erf", "floor", "ceil", "trunc")
_FLOAT_UNARY = {"neg": "-{x}", "abs": "fabs({x})", "recip": "{one} / {x}", **{op: f"{op}({{x}})" for op in _MATH}}
_INT_UNARY = {"neg": "-{x}", "not": "~{x}", "abs": "as_{t}(abs({x}))"}
_BOOL_UNARY = {"not": "!{x}"}
_COMPARE = {"lt": "{a} < {b}", "le": "{a} <= {b}", "eq": "{a} == {b}", "ne": "{a} != {b}"}
_BITWISE = {"and": "{a} & {b}", "or": "{a} | {b}", "xor": "{a} ^ {b}"}
_ARITH = {"add": "{a} + {b}", "sub": "{a} - {b}", "mul": "{a} * {b}", "div": "{a} / {b}", **_COMPARE}
_FLOAT_BINARY = {
    **_ARITH,
    "mod": "fmod({a}, {b})",
    "pow": "pow({a}, {b})",
    **{op: f"(isnan({{a}}) || isnan({{b}}) ? {{a}} + {{b}} : f{op}({{a}}, {{b}}))" for op in ("max", "min")},
}
_FLOAT_VECTOR_BINARY = {
    **_FLOAT_BINARY,
    **{op: f"select(f{op}({{a}}, {{b}}), {{a}} + {{b}}, isnan({{a}}) | isnan({{b}}))" for op in ("max", "min")},
}
"""Float max/min propagate NaN (a + b is NaN when either is), as the IR defines them; OpenCL's fmax/fmin drop it."""
_INT_BINARY = {**_ARITH, **_BITWISE, "mod": "{a} % {b}", "max": "max({a}, {b})", "min": "min({a}, {b})",
               "shl": "{a} << {b}", "shr": "{a} >> {b}"}  # fmt: skip
_BOOL_BINARY = {**_COMPARE, **_BITWISE, "max": "{a} | {b}", "min": "{a} & {b}"}
_INEXACT = frozenset({"add", "sub", "mul", "div", "pow", "recip", "cast", *_MATH}) - {"floor", "ceil", "trunc"}
"""Ops whose float16/bfloat16 results are rounded to the type (the rest are exact on its values)."""

_HELPERS = {
    "f16_from_bits": "float{w} f16_from_bits{w}(ushort{w} b) {{ return vload_half{w}(0, (const half*)&b); }}",
    "f16_bits": """ushort{w} f16_bits{w}(float{w} x) {{
  ushort{w} b;
  vstore_half{w}_rte(x, 0, (half*)&b);
  return b;
}}""",
    "f16_round": "float{w} f16_round{w}(float{w} x) {{ return f16_from_bits{w}(f16_bits{w}(x)); }}",
    "bf16_from_bits": "float{w} bf16_from_bits{w}(ushort{w} b) {{ return as_float{w}(convert_uint{w}(b) << 16); }}",
    "bf16_bits": """ushort{w} bf16_bits{w}(float{w} x) {{
  uint{w} b = as_uint{w}(x);
  uint{w} rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;  // to nearest, ties to even
  return convert_ushort{w}(select(rounded, (b >> 16) | 0x40u, as_uint{w}(isnan(x))));  // NaN stays a quiet NaN
}}""",
    "bf16_round": "float{w} bf16_round{w}(float{w} x) {{ return bf16_from_bits{w}(bf16_bits{w}(x)); }}",
}
"""Conversion functions emitted before the kernel when used, as C for vector width {w} ("" for scalars)."""
_HELPER_CALLS = {"f16_round": ("f16_bits", "f16_from_bits"), "bf16_round": ("bf16_bits", "bf16_from_bits")}
_PREFIX = {"float16": "f16", "bfloat16": "bf16"}
"""Helper-name prefix of the types computed in float registers."""
_SPECIAL = frozenset({"where", "cast", "bitcast", "gep", "vectorize", "load"})
"""Ops with their own rendering method (`op_<name>`); the rest come from the operator tables."""

_RESERVED = re.compile(
    r"(v\d+|b?f16_\w*|(bool|u?char|u?short|u?int|u?long|half|float|double|size_t)(2|3|4|8|16)?|(as|convert)_\w+"
    r"|v(load|store)\w*|get_\w+|[a-z]*(sqrt|abs|max|min|mod|exp\w*|log\w*)|sin|cos|tanh|erf|floor|ceil|trunc|pow"
    r"|select|isnan|barrier|CLK_\w+|INFINITY|NAN|__\w*|kernel|global|local|constant|private|void|const|if|else|for"
    r"|while|do|return|break|continue|switch|case|default|static|inline|struct|union|enum|typedef|sizeof|signed"
    r"|unsigned|volatile|restrict|extern|register|auto|goto|true|false|main)"
)
"""Identifiers an IR name must not take: SSA names, helpers, types, builtins and keywords."""


def render_opencl(kernel: Kernel) -> RenderedKernel:
    """Render `kernel` as OpenCL C; raises IRError for IR this renderer cannot express."""
    renderer = _OpenCLRenderer(kernel)
    return RenderedKernel(renderer.source(), renderer.entry, "opencl")


def _width(dtype: DType) -> str:
    if dtype.count != 1 and dtype.count not in _WIDTHS:
        raise IRError(f"opencl: {dtype} has {dtype.count} lanes; OpenCL vectors have 2, 3, 4, 8 or 16")
    return "" if dtype.count == 1 else str(dtype.count)


def _register_size(dtype: DType) -> int:
    """Bytes per lane in registers (float16/bfloat16 live in floats, vector bools in ints)."""
    return 4 if dtype.scalar.name in ("bool", "float16", "bfloat16") else dtype.itemsize


def _round_float(value: float, name: str) -> float:
    """`value` rounded to float dtype `name`, as a Python float."""
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "float16":
            return float(np.float16(value))
        single = np.array([value], np.float32)
    if name == "bfloat16" and not math.isnan(value):
        bits = single.view(np.uint32).astype(np.uint64)
        single = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)
    return value if name == "float64" else float(single[0])


def _float_literal(value: float, name: str) -> str:
    value, double = _round_float(value, name), name == "float64"
    if not math.isfinite(value):
        sign, cast = "-" if value < 0 else "", "(double)" if double else ""
        return f"({sign}{cast}{'NAN' if math.isnan(value) else 'INFINITY'})"
    text = repr(value) if double else str(np.float32(value)) + "f"  # the shortest text that reads back exactly
    return f"({text})" if value < 0 or text.startswith("-") else text


def _int_literal(value: int, dtype: DType) -> str:
    suffix = ("U" if dtype.kind == "u" else "") + ("L" if dtype.itemsize == 8 else "")
    if dtype.itemsize < 4:
        return f"({_SCALAR[dtype.name]}){value}" if value >= 0 else f"({_SCALAR[dtype.name]})({value})"
    if value == -(1 << (8 * dtype.itemsize - 1)):
        return f"({value + 1}{suffix} - 1)"
    return f"{value}{suffix}" if value >= 0 else f"({value}{suffix})"


def _literal(value: object, dtype: DType) -> str:
    """A scalar constant of `dtype` as C text that reads back exactly."""
    if dtype.kind == "b":
        return "true" if value else "false"
    return _float_literal(value, dtype.name) if dtype.kind == "f" else _int_literal(value, dtype)


class _OpenCLRenderer(SourceRenderer):
    """The shared statement walker, spelling OpenCL C; see the module docstring for the mapping."""

    def __init__(self, kernel: Kernel) -> None:
        self.uses_fp64 = False
        self.helpers: dict[tuple[str, str], None] = {}
        super().__init__(kernel)

    # -- names and types --

    def legal_ident(self, name: str) -> str:
        base = re.sub(r"\W", "_", name) or "_"
        return base if not base[0].isdigit() and not _RESERVED.fullmatch(base) else f"{base}_"

    def reg(self, dtype: DType) -> str:
        """The register type of `dtype`."""
        self.uses_fp64 |= dtype.name == "float64"
        return f"int{_width(dtype)}" if dtype.kind == "b" and dtype.count > 1 else _SCALAR[dtype.name] + _width(dtype)

    def storage(self, buf: Buf) -> str:
        """The element type of `buf` in memory."""
        self.reg(buf.dtype)
        if buf.space == "local" and buf.dtype == float16:
            return "ushort"  # OpenCL 1.2 has no arrays of half; accessed through a half pointer
        return _STORAGE.get(buf.dtype.name, _SCALAR[buf.dtype.name])

    def helper(self, name: str, dtype: DType) -> str:
        """Use conversion helper `name` for `dtype`'s width; returns the function's name."""
        for callee in _HELPER_CALLS.get(name, ()):
            self.helper(callee, dtype)
        self.helpers[(name, _width(dtype))] = None
        return name + _width(dtype)

    # -- values --

    def declare(self, name: str, dtype: DType, expr: str) -> str:
        return f"const {self.reg(dtype)} {name} = {expr};"

    def leaf(self, v: Value) -> str | None:
        if v.op == "const":
            return self.const(v)
        if v.op in ("loop", "acc"):
            return self.ident(v.args[0])
        if v.op in ("group_id", "local_id"):
            return f"(int)get_{v.op}({v.args[0]})"
        if v.op == "param":
            name = self.ident(v.args[0])
            return self.from_bits(v.dtype, name) if v.dtype.name in _ARGUMENT else name
        return None

    def const(self, v: Value) -> str:
        if v.dtype.count == 1:
            return _literal(v.value, v.dtype)
        lane = "-1" if v.dtype.kind == "b" and v.value else _literal(v.value, v.dtype.scalar)
        return f"({self.reg(v.dtype)})({lane})"

    def expr(self, v: Value) -> str:
        """The right-hand side for non-leaf `v`, rounded to float16/bfloat16 where inexact."""
        text = getattr(self, f"op_{v.op}")(v) if v.op in _SPECIAL else self.arith(v)
        if v.dtype.scalar.name in _PREFIX and v.op in _INEXACT:
            text = f"{self.helper(_PREFIX[v.dtype.scalar.name] + '_round', v.dtype)}({text})"
        return text

    def arith(self, v: Value) -> str:
        """A unary or binary op from the tables of its operand type (vector bools use the integer tables)."""
        x = v.args[0].dtype
        if x.kind == "f":
            tables = (_FLOAT_UNARY, _FLOAT_BINARY if x.count == 1 else _FLOAT_VECTOR_BINARY)
        else:
            tables = (_BOOL_UNARY, _BOOL_BINARY) if x.kind == "b" and x.count == 1 else (_INT_UNARY, _INT_BINARY)
        template = tables[len(v.args) - 1].get(v.op)
        if template is None:
            raise IRError(f"opencl: {v.op} is not defined for {x}")
        a, b = self.ref(v.args[0]), self.ref(v.args[-1])
        text = template.format(x=a, a=a, b=b, t=self.reg(x), one="1.0" if x.scalar.name == "float64" else "1.0f")
        if v.dtype.kind == "b" and v.dtype.count > 1 and _register_size(x) != 4:
            text = f"convert_{self.reg(v.dtype)}({text})"  # vector comparisons give lanes of the operand's size
        return text

    def op_where(self, v: Value) -> str:
        cond, a, b = (self.ref(x) for x in v.args)
        if v.args[0].dtype.count not in (1, v.dtype.count):
            raise IRError(f"opencl: where with a {v.args[0].dtype} condition on {v.dtype} values")
        if v.args[0].dtype.count == 1:
            return f"{cond} ? {a} : {b}"
        if _register_size(v.dtype) != 4:
            cond = f"convert_{_SIGNED[_register_size(v.dtype)]}{_width(v.dtype)}({cond})"
        return f"select({b}, {a}, {cond})"

    def op_cast(self, v: Value) -> str:
        x, src, dst = self.ref(v.args[0]), v.args[0].dtype, v.dtype
        if dst.count == 1:
            return f"({self.reg(dst)}){x}"
        if dst.kind == "b":
            return f"convert_{self.reg(dst)}({x} != ({self.reg(src.scalar)})0)"  # a wider 0 would be an error
        return f"convert_{self.reg(dst)}(-{x})" if src.kind == "b" else f"convert_{self.reg(dst)}({x})"

    def op_bitcast(self, v: Value) -> str:
        x, src, dst = self.ref(v.args[0]), v.args[0].dtype, v.dtype
        if "b" in (src.kind, dst.kind):
            raise IRError(f"opencl: cannot bitcast {src} to {dst}: bools have no bit layout")
        if src.scalar.name not in _PREFIX and dst.scalar.name not in _PREFIX:
            return f"as_{self.reg(dst)}({x})"
        if src.count != dst.count:
            raise IRError(f"opencl: cannot bitcast {src} to {dst}: 16-bit floats bitcast lane by lane only")
        return self.from_bits(dst, self.to_bits(src, x))

    def to_bits(self, dtype: DType, x: str) -> str:
        """The 16 bits (ushortN) of a 16-bit value `x` of `dtype`."""
        if dtype.scalar.name in _PREFIX:
            return f"{self.helper(_PREFIX[dtype.scalar.name] + '_bits', dtype)}({x})"
        return f"as_ushort{_width(dtype)}({x})"

    def from_bits(self, dtype: DType, bits: str) -> str:
        """The value of `dtype` whose storage is `bits` (ushort for 16-bit floats, uchar 0/1 for bool)."""
        if dtype.kind == "b":
            return f"({bits} != 0)" if dtype.count == 1 else f"convert_{self.reg(dtype)}({bits} != (uchar)0)"
        if dtype.scalar.name in _PREFIX:
            return f"{self.helper(_PREFIX[dtype.scalar.name] + '_from_bits', dtype)}({bits})"
        return f"as_{self.reg(dtype)}({bits})"

    def op_gep(self, v: Value) -> str:
        lane = f"{self.ref(v.args[0])}.s{v.args[1]:x}"
        return f"({lane} != 0)" if v.dtype.kind == "b" else lane

    def op_vectorize(self, v: Value) -> str:
        lanes = [f"-(int){self.ref(x)}" if v.dtype.kind == "b" else self.ref(x) for x in v.args]
        return f"({self.reg(v.dtype)})({', '.join(lanes)})"

    def op_load(self, v: Value) -> str:
        buf, index, mask, other = v.args
        pointer, i, w = self.pointer(buf), self.ref(index), _width(v.dtype)
        if buf.dtype == float16:
            text = f"vload_half{w}(0, {pointer} + {i})"
        else:
            raw = f"{pointer}[{i}]" if not w else f"vload{w}(0, {pointer} + {i})"
            text = self.from_bits(v.dtype, raw) if buf.dtype.name in _STORAGE else raw
        if mask is None:
            return text
        if mask.dtype.count != 1:
            raise IRError(f"opencl: load from {buf.name} needs a scalar mask, got {mask.dtype}")
        return f"{self.ref(mask)} ? {text} : {self.ref(other)}"

    def pointer(self, buf: Buf) -> str:
        name = self.ident(buf.name)
        return f"((__local half*){name})" if buf.space == "local" and buf.dtype == float16 else name

    # -- statements --

    def loop_opener(self, var: str, start: str, end: str) -> str:
        return f"for (int {var} = {start}; {var} < {end}; {var}++)"

    def define_acc(self, s: DefineAcc) -> None:
        self.emit(f"{self.reg(s.acc.dtype)} {self.ident(s.acc.args[0])} = {self.ref(s.init)};")

    def barrier(self, s: Barrier) -> None:
        self.emit("barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);")
        self.forget(self.writes((s,)))

    def store(self, s: Store) -> None:
        index, value, w = self.ref(s.index), self.ref(s.value), _width(s.value.dtype)
        mask, pointer = None if s.mask is None else self.ref(s.mask), self.pointer(s.buf)
        if s.mask is not None and s.mask.dtype.count != 1:
            raise IRError(f"opencl: store to {s.buf.name} needs a scalar mask, got {s.mask.dtype}")
        if s.buf.dtype == float16:
            line = f"vstore_half{w}_rte({value}, 0, {pointer} + {index});"
        else:
            bits = self.to_memory(s.value.dtype, value)
            line = f"{pointer}[{index}] = {bits};" if not w else f"vstore{w}({bits}, 0, {pointer} + {index});"
        self.emit(line if mask is None else f"if ({mask}) {line}")
        self.forget(frozenset({s.buf}))

    def to_memory(self, dtype: DType, value: str) -> str:
        """`value` as the memory representation of `dtype` (bool as uchar 0/1, bfloat16 as its bits)."""
        if dtype.kind == "b":
            return f"(uchar){value}" if dtype.count == 1 else f"convert_uchar{_width(dtype)}(-{value})"
        return self.to_bits(dtype, value) if dtype.scalar == bfloat16 else value

    # -- the whole kernel --

    def signature(self) -> str:
        params = []
        for p in self.kernel.params:
            if isinstance(p, Buf):
                params.append(f"__global {self.storage(p)}* {self.ident(p.name)}")
            else:
                arg = _ARGUMENT[p.dtype.name] + _width(p.dtype) if p.dtype.name in _ARGUMENT else self.reg(p.dtype)
                params.append(f"{arg} {self.ident(p.args[0])}")
        size = ", ".join(map(str, self.kernel.local_size))
        return f"__kernel __attribute__((reqd_work_group_size({size}))) void {self.entry}({', '.join(params)})"

    def source(self) -> str:
        """The complete translation unit."""
        signature = self.signature()
        for buf in self.kernel.locals:
            self.emit(f"__local {self.storage(buf)} {self.ident(buf.name)}[{buf.size}];")
        for stmt in self.kernel.body:
            self.statement(stmt)
        pragma = ["#pragma OPENCL EXTENSION cl_khr_fp64 : enable"] if self.uses_fp64 else []
        helpers = [f"static inline {_HELPERS[name].format(w=w)}" for name, w in self.helpers]
        return "\n".join([*pragma, *helpers, signature + " {", *self.lines, "}", ""])
