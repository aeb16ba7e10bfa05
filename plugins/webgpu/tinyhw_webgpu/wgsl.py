"""Render kernel IR as WGSL, under the WebGPU backend's parameter convention (kernel.py).

Buffers become `array<T>` storage bindings in group 0 and every parameter a field of the uniform
struct `Args` (a buffer's field is its view offset in elements, added to every index); workgroup
and local ids come from `@builtin(workgroup_id)` / `@builtin(local_invocation_id)`; the kernel's
local size is its `@workgroup_size`. Every non-leaf value is one `let vN: T = ...;` line.

WGSL can hold only 32-bit scalars in storage without extensions, so buffers, local arrays and
scalar parameters of any dtype but float32, int32 and uint32 are refused with an IRError naming
the dtype (bool, int8/16, float16, bfloat16, int64 and float64 would otherwise be silently
misread). Vectors of 2 to 4 lanes are WGSL vectors; their loads and stores go lane by lane.
Masked loads use `select`: WebGPU's robust buffer access makes the unmasked read harmless.

The walk over statements and the re-read rules (a load is read again after a store to its
buffer, a barrier or a loop that writes it) are those of the OpenCL renderer, whose walker this
renderer subclasses; only the spelling differs.
"""

from __future__ import annotations

import math
import re
import struct

from tinyhw.kernel.dtypes import DType
from tinyhw.kernel.ir import Barrier, Buf, IRError, Kernel, Store, Value
from tinyhw.kernel.render.base import RenderedKernel
from tinyhw.kernel.render.opencl import _Renderer

__all__ = ["render_wgsl", "SUPPORTED"]

SUPPORTED = {"float32": "f32", "int32": "i32", "uint32": "u32"}
"""Memory and parameter dtypes and their WGSL types."""
_REGISTER = {**SUPPORTED, "bool": "bool"}
_WHY = {"bool": "WGSL has no 8-bit storage (tinyhw stores bools as bytes)",
        "float16": "f16 needs the shader-f16 feature and is not emitted yet", "bfloat16": "WGSL has no bfloat16",
        "int64": "WGSL has no 64-bit integers", "uint64": "WGSL has no 64-bit integers",
        "float64": "WGSL has no f64"}  # fmt: skip

_MATH = {"sqrt": "sqrt", "rsqrt": "inverseSqrt", "exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2",
         "sin": "sin", "cos": "cos", "tanh": "tanh", "erf": "tinyhw_erf", "floor": "floor", "ceil": "ceil",
         "trunc": "trunc", "abs": "abs"}  # fmt: skip
_FLOAT_UNARY = {"neg": "-({x})", "recip": "1.0f / ({x})", **{op: f"{fn}({{x}})" for op, fn in _MATH.items()}}
_INT_UNARY = {"neg": "-({x})", "not": "~({x})", "abs": "abs({x})"}
_BOOL_UNARY = {"not": "!({x})"}
_COMPARE = {"lt": "{a} < {b}", "le": "{a} <= {b}", "eq": "{a} == {b}", "ne": "{a} != {b}"}
_ARITH = {"add": "{a} + {b}", "sub": "{a} - {b}", "mul": "{a} * {b}", "div": "{a} / {b}", "mod": "{a} % {b}",
          "max": "max({a}, {b})", "min": "min({a}, {b})", **_COMPARE}  # fmt: skip
_FLOAT_BINARY = {**_ARITH, "pow": "pow({a}, {b})"}
_INT_BINARY = {**_ARITH, "and": "{a} & {b}", "or": "{a} | {b}", "xor": "{a} ^ {b}", "shl": "{a} << {ub}",
               "shr": "{a} >> {ub}"}  # fmt: skip
_BOOL_BINARY = {**_COMPARE, "and": "{a} & {b}", "or": "{a} | {b}", "xor": "{a} != {b}", "max": "{a} | {b}",
                "min": "{a} & {b}"}  # fmt: skip
_ERF = """fn tinyhw_erf(x: f32) -> f32 {
  let t = 1.0f / (1.0f + 0.3275911f * abs(x));  // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
  let y = 1.0f - ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f)
    * t * exp(-x * x);
  return sign(x) * y;
}"""
_RESERVED = re.compile(
    r"(v\d+|args|gid|lid|tinyhw_\w*|[iuf](8|16|32|64)|bool|vec\d\w*|mat\w*|array|ptr|atomic|fn|let|var|const|struct"
    r"|if|else|for|loop|while|break|continue|return|switch|case|default|discard|true|false|enable|alias|override"
    r"|workgroup|storage|uniform|private|function|read|write|read_write|sqrt|inverseSqrt|exp2?|log2?|sin|cos|tanh"
    r"|floor|ceil|trunc|abs|min|max|pow|select|bitcast|sign|workgroupBarrier|storageBarrier|_.*|\w*__\w*)"
)
"""Identifiers an IR name must not take: SSA names, the convention's own names, keywords and builtins."""


def render_wgsl(kernel: Kernel) -> RenderedKernel:
    """Render `kernel` as WGSL; raises IRError for dtypes or constructs WGSL cannot hold."""
    renderer = _WGSLRenderer(kernel)
    return RenderedKernel(renderer.source(), renderer.entry, "wgsl")


def _float_literal(value: float) -> str:
    single = struct.unpack("<f", struct.pack("<f", value))[0] if math.isfinite(value) and abs(value) < 3.5e38 else value
    if not math.isfinite(single) or abs(value) >= 3.5e38:
        return f"bitcast<f32>({struct.unpack('<I', struct.pack('<f', value if math.isfinite(value) else value))[0]}u)"
    return f"({single!r}f)" if single < 0 or math.copysign(1, single) < 0 else f"{single!r}f"


def _literal(value: object, dtype: DType) -> str:
    if dtype.kind == "b":
        return "true" if value else "false"
    if dtype.kind == "f":
        return _float_literal(float(value))
    if dtype.name == "int32" and value == -(1 << 31):
        return "bitcast<i32>(0x80000000u)"
    suffix = "u" if dtype.kind == "u" else "i"
    return f"{value}{suffix}" if value >= 0 else f"({value}{suffix})"


class _WGSLRenderer(_Renderer):
    """The OpenCL renderer's walker, spelling WGSL."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.uses_erf = False

    def _ident(self, name: str) -> str:
        if name not in self.idents:
            base = re.sub(r"\W", "_", name).strip("_") or "x"
            base = base if not base[0].isdigit() and not _RESERVED.fullmatch(base) else f"n{base}"
            ident, n = base, 0
            while ident in self.taken:
                n, ident = n + 1, f"{base}{n + 1}"
            self.taken.add(ident)
            self.idents[name] = ident
        return self.idents[name]

    def reg(self, dtype: DType) -> str:
        scalar = _REGISTER.get(dtype.scalar.name)
        if scalar is None:
            raise IRError(f"wgsl: {dtype.scalar.name} is not supported on WebGPU: {_WHY.get(dtype.scalar.name)}")
        if dtype.count > 4:
            return f"array<{scalar}, {dtype.count}>"  # computed lane by lane (see `lanewise`)
        return scalar if dtype.count == 1 else f"vec{dtype.count}<{scalar}>"

    def storage(self, buf: Buf) -> str:
        if buf.dtype.name not in SUPPORTED:
            raise IRError(f"wgsl: {buf.space} buffer {buf.name!r} of {buf.dtype} is not supported on WebGPU: "
                          f"{_WHY.get(buf.dtype.name, 'only float32, int32 and uint32 are')}")  # fmt: skip
        return SUPPORTED[buf.dtype.name]

    # -- values --

    def ref(self, v: Value) -> str:
        leaf = self.leaf(v)
        if leaf is not None:
            return leaf
        for scope in reversed(self.scopes):
            if v in scope:
                return scope[v]
        expr = self.expr(v)
        name = f"v{self.counter}"
        self.counter += 1
        self.emit(f"let {name}: {self.reg(v.dtype)} = {expr};")
        self.scopes[-1][v] = name
        return name

    def leaf(self, v: Value) -> str | None:
        if v.op == "const":
            text = _literal(v.value, v.dtype.scalar)
            lanes = 1 if v.dtype.count <= 4 else v.dtype.count  # arrays have no splat constructor
            return text if v.dtype.count == 1 else f"{self.reg(v.dtype)}({', '.join([text] * lanes)})"
        if v.op in ("loop", "acc"):
            return self._ident(v.args[0])
        if v.op in ("group_id", "local_id"):
            return f"i32({'gid' if v.op == 'group_id' else 'lid'}.{'xyz'[v.args[0]]})"
        if v.op == "param":
            if v.dtype.name not in SUPPORTED:
                raise IRError(f"wgsl: scalar parameter {v.args[0]!r} of {v.dtype} is not supported on WebGPU: "
                              f"{_WHY.get(v.dtype.name, 'only float32, int32 and uint32 are')}")  # fmt: skip
            return f"args.{self._ident(v.args[0])}"
        return None

    def expr(self, v: Value) -> str:
        return getattr(self, f"op_{v.op}")(v) if v.op in ("where", "cast", "bitcast", "gep", "vectorize", "load") \
            else self.arith(v)  # fmt: skip

    def arith(self, v: Value) -> str:
        x = v.args[0].dtype
        tables = {"f": (_FLOAT_UNARY, _FLOAT_BINARY), "b": (_BOOL_UNARY, _BOOL_BINARY)}.get(x.kind)
        template = (tables or (_INT_UNARY, _INT_BINARY))[len(v.args) - 1].get(v.op)
        if template is None:
            raise IRError(f"wgsl: {v.op} is not defined for {x}")
        self.uses_erf |= v.op == "erf"
        a, b = self.ref(v.args[0]), self.ref(v.args[-1])
        if x.count > 4:
            return self.lanewise(v, lambda i: template.format(x=f"{a}[{i}]", a=f"{a}[{i}]", b=f"{b}[{i}]",
                                                              ub=f"u32({b}[{i}])"))  # fmt: skip
        ub = b if x.scalar.name == "uint32" else f"{self.reg(x).replace('i32', 'u32')}({b})"
        return template.format(x=a, a=a, b=b, ub=ub)

    def lanewise(self, v: Value, lane: object) -> str:
        """An `array<T, N>` built from `lane(i)` for each lane: WGSL vectors stop at 4 lanes."""
        return f"{self.reg(v.dtype)}({', '.join(lane(i) for i in range(v.dtype.count))})"  # type: ignore[operator]

    def op_where(self, v: Value) -> str:
        cond, a, b = (self.ref(x) for x in v.args)
        if v.dtype.count > 4:
            c = (lambda i: f"{cond}[{i}]") if v.args[0].dtype.count > 1 else (lambda i: cond)
            return self.lanewise(v, lambda i: f"select({b}[{i}], {a}[{i}], {c(i)})")
        return f"select({b}, {a}, {cond})"

    def op_cast(self, v: Value) -> str:
        x, src, dst = self.ref(v.args[0]), v.args[0].dtype, v.dtype
        if dst.count > 4:
            return self.lanewise(v, lambda i: self.cast_text(f"{x}[{i}]", src.scalar, dst.scalar))
        return self.cast_text(x, src, dst)

    def cast_text(self, x: str, src: DType, dst: DType) -> str:
        """`x` of `src` converted to `dst` (to bool: != 0; from bool: 0 or 1)."""
        if dst.kind == "b":
            return f"{x} != {self.reg(src)}({_literal(0, src.scalar)})"
        if src.kind == "b":
            return (
                f"select({self.reg(dst)}({_literal(0, dst.scalar)}), {self.reg(dst)}({_literal(1, dst.scalar)}), {x})"
            )
        return f"{self.reg(dst)}({x})"

    def op_bitcast(self, v: Value) -> str:
        if v.dtype.count > 4 or v.args[0].dtype.count > 4:
            raise IRError(f"wgsl: cannot bitcast {v.args[0].dtype} to {v.dtype}: more than 4 lanes")
        return f"bitcast<{self.reg(v.dtype)}>({self.ref(v.args[0])})"

    def op_gep(self, v: Value) -> str:
        return f"{self.ref(v.args[0])}[{v.args[1]}]"

    def op_vectorize(self, v: Value) -> str:
        return f"{self.reg(v.dtype)}({', '.join(self.ref(x) for x in v.args)})"

    def element(self, buf: Buf, index: str, lane: int = 0) -> str:
        """The WGSL lvalue of element `index` (+ `lane`) of `buf`, offset by its view for global buffers."""
        self.storage(buf)
        i = index if not lane else f"{index} + {lane}"
        where = f"args.{self._ident(buf.name)} + u32({i})" if buf.space == "global" else f"u32({i})"
        return f"{self._ident(buf.name)}[{where}]"

    def op_load(self, v: Value) -> str:
        buf, index, mask, other = v.args
        i = self.ref(index)
        lanes = [self.element(buf, i, lane) for lane in range(v.dtype.count)]
        text = lanes[0] if v.dtype.count == 1 else f"{self.reg(v.dtype)}({', '.join(lanes)})"
        return text if mask is None else f"select({self.ref(other)}, {text}, {self.ref(mask)})"

    # -- statements --

    def loop(self, s) -> None:
        start, end, i = self.ref(s.start), self.ref(s.end), self._ident(s.var.args[0])
        self.block(s.body, f"for (var {i}: i32 = {start}; {i} < {end}; {i}++)", self.writes(s.body))

    def define_acc(self, s) -> None:
        self.emit(f"var {self._ident(s.acc.args[0])}: {self.reg(s.acc.dtype)} = {self.ref(s.init)};")

    def barrier(self, s: Barrier) -> None:
        self.emit("storageBarrier();")
        self.emit("workgroupBarrier();")
        self.forget(self.writes((s,)))

    def store(self, s: Store) -> None:
        index, value, count = self.ref(s.index), self.ref(s.value), s.value.dtype.count
        lanes = [f"{self.element(s.buf, index, lane)} = {value if count == 1 else f'{value}[{lane}]'};"
                 for lane in range(count)]  # fmt: skip
        self.emit(" ".join(lanes) if s.mask is None else f"if ({self.ref(s.mask)}) {{ {' '.join(lanes)} }}")
        self.forget(frozenset({s.buf}))

    # -- the whole module --

    def declarations(self) -> list[str]:
        fields, bindings = [], []
        for p in self.kernel.params:
            if isinstance(p, Buf):
                name = self._ident(p.name)
                fields.append(f"{name}: u32")
                bindings.append(f"@group(0) @binding({len(bindings)}) var<storage, read_write> {name}: "
                                f"array<{self.storage(p)}>;")  # fmt: skip
            else:
                self.leaf(p)  # checks the dtype
                fields.append(f"{self._ident(p.args[0])}: {self.reg(p.dtype)}")
        if fields:
            bindings.append(f"@group(0) @binding({len(bindings)}) var<uniform> args: Args;")
        struct_ = [f"struct Args {{ {', '.join(fields)} }}"] if fields else []
        locals_ = [
            f"var<workgroup> {self._ident(b.name)}: array<{self.storage(b)}, {b.size}>;" for b in self.kernel.locals
        ]
        return struct_ + bindings + locals_

    def source(self) -> str:
        declarations = self.declarations()
        size = ", ".join(map(str, self.kernel.local_size))
        ids = "@builtin(workgroup_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>"
        for stmt in self.kernel.body:
            self.statement(stmt)
        helpers = [_ERF] if self.uses_erf else []
        header = f"@compute @workgroup_size({size}) fn {self.entry}({ids}) {{"
        return "\n".join([*declarations, *helpers, header, *self.lines, "}", ""])
