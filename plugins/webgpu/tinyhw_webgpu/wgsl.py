"""Render kernel IR as WGSL, under the WebGPU backend's parameter convention (kernel.py).

Buffers become storage bindings in group 0 and every parameter a field of the uniform struct
`Args` (a buffer's field is its view offset in elements, added to every index); workgroup and
local ids come from `@builtin(workgroup_id)` / `@builtin(local_invocation_id)` plus the launch's
`tinyhw_group_base` (so the device can split a launch over more workgroups than one dispatch
allows); the kernel's local size is its `@workgroup_size`. Every non-leaf value is one
`let vN: T = ...;` line, emitted by the shared walker (`tinyhw.kernel.render.SourceRenderer`).

WGSL storage holds only 32-bit scalars without extensions. Buffers of the narrower dtypes keep
the host's byte layout, so copies need no conversion (`packing.py`): bool, int8, uint8, int16,
uint16, float16 and bfloat16 buffers are `array<u32>` (`array<atomic<u32>>` when the kernel
stores to them) and their elements are extracted from and merged into 32-bit words. In registers
those dtypes are i32/u32/f32/bool: integer results are wrapped to the dtype's width and
float16/bfloat16 results of inexact operations are rounded to the dtype at once, so values match
the dtype's own arithmetic. int64, uint64 and float64 have no WGSL type and are refused with an
IRError naming the dtype, as are scalar parameters of any dtype but float32, int32 and uint32.
Vectors of 2 to 4 lanes are WGSL vectors, longer ones `array<T, N>` computed lane by lane.
Masked loads use `select`: WebGPU's robust buffer access makes the unmasked read harmless.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tinyhw.kernel.dtypes import DType, uint32
from tinyhw.kernel.ir import Barrier, Buf, DefineAcc, If, IRError, Kernel, Range, Store, Value
from tinyhw.kernel.render.base import RenderedKernel, SourceRenderer
from tinyhw_webgpu.kernel import GROUP_BASE
from tinyhw_webgpu.packing import HELPERS, NEEDS, PACKED, ROUND, literal, narrow, pack_bits, unpack_bits

__all__ = ["render_wgsl", "SUPPORTED"]

SUPPORTED = {"float32": "f32", "int32": "i32", "uint32": "u32"}
"""Dtypes stored as themselves, and the only scalar-parameter dtypes; their WGSL types."""
_REGISTER = {**SUPPORTED, "bool": "bool", "int8": "i32", "int16": "i32", "uint8": "u32", "uint16": "u32",
             "float16": "f32", "bfloat16": "f32"}  # fmt: skip
"""Register type of each dtype WGSL can compute with."""
_WHY = {"int64": "WGSL has no 64-bit integers", "uint64": "WGSL has no 64-bit integers",
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
_FLOAT_BINARY = {**_ARITH, "pow": "pow({a}, {b})", "mod": "tinyhw_fmod({a}, {b})"}
_INT_BINARY = {**_ARITH, "and": "{a} & {b}", "or": "{a} | {b}", "xor": "{a} ^ {b}", "shl": "{a} << {ub}",
               "shr": "{a} >> {ub}"}  # fmt: skip
_BOOL_BINARY = {**_COMPARE, "and": "{a} & {b}", "or": "{a} | {b}", "xor": "{a} != {b}", "max": "{a} | {b}",
                "min": "{a} & {b}", "add": "{a} | {b}", "mul": "{a} & {b}"}  # fmt: skip
"""bool operators; + and * are numpy's (or, and)."""
_INEXACT = frozenset({"add", "sub", "mul", "div", "pow", "recip", "cast", *_MATH}) - {"floor", "ceil", "trunc", "abs"}
"""Ops whose float16/bfloat16 results are rounded to the dtype (the rest are exact on its values)."""
_WRAPS = frozenset({"add", "sub", "mul", "div", "mod", "neg", "not", "abs", "shl", "cast"})
"""Ops whose 8- and 16-bit integer results may leave the dtype's range in a 32-bit register."""
_SPECIAL = frozenset({"where", "cast", "bitcast", "gep", "vectorize", "load"})
_ERF_SMALL = (1.1283792, -0.37612629, 0.11283612, -0.026854793, 0.0051900274, -0.00080241432, 7.8975609e-05)
"""erf(x) / x as a polynomial in x*x for |x| <= 1 (the CPU renderer's fit, tinyhw/kernel/render/llvm_ops.py)."""
_ERF_LARGE = (0.00024698736, 0.55941546, 0.039473172, -0.46206039, 0.47496516, -0.21059322, -0.0032566807,
              0.041472934, -0.012079884)  # fmt: skip
"""erfc(x) * exp(x*x) as a polynomial in 1/x for x >= 1 (likewise)."""


def _horner(x: str, coefficients: tuple[float, ...]) -> str:
    """WGSL for sum(c[i] * x**i), by Horner's rule."""
    text = f"{coefficients[-1]!r}f"
    for c in reversed(coefficients[:-1]):
        text = f"({c!r}f + {x} * {text})"
    return text


_ERF = f"""fn tinyhw_erf(x: f32) -> f32 {{  // within about 2 ulp
  let a = abs(x);
  let s = a * a;
  if (a <= 1.0f) {{ return x * {_horner("s", _ERF_SMALL)}; }}
  let y = 1.0f - exp(-s) * {_horner("(1.0f / a)", _ERF_LARGE)};
  return select(y, -y, x < 0.0f);
}}"""
_FMOD = """fn tinyhw_fmod(a: f32, b: f32) -> f32 {  // C's fmod, exact (WGSL's % is a - b * trunc(a / b))
  let y = abs(b);
  var r = abs(a);
  if (r != r || y != y || r == bitcast<f32>(0x7f800000u) || y == 0.0f) { return bitcast<f32>(0x7fc00000u); }
  while (r >= y) {  // subtract the largest y * 2^k <= r; exact, since it is within a factor 2 of r
    var d = ldexp(y, frexp(r).exp - frexp(y).exp - 1);
    if (d + d <= r) { d = d + d; }
    r = r - d;
  }
  return select(r, -r, bitcast<u32>(a) >= 0x80000000u);  // the sign of a, -0 included
}"""
_FUNCTIONS = {"tinyhw_erf": _ERF, "tinyhw_fmod": _FMOD, **HELPERS}
"""WGSL helper functions by name."""
_RESERVED = re.compile(
    r"(v\d+|args|gid|lid|tinyhw_\w*|offset\d+|[iuf](8|16|32|64)|bool|vec\d\w*|mat\w*|array|ptr|atomic\w*|fn|let|var"
    r"|const|struct|if|else|for|loop|while|break|continue|return|switch|case|default|discard|true|false|enable"
    r"|alias|override|workgroup|storage|uniform|private|function|read|write|read_write|sqrt|inverseSqrt|exp2?|log2?"
    r"|sin|cos|tanh|floor|ceil|trunc|round|abs|min|max|pow|select|bitcast|sign|extractBits|(un)?pack\w*"
    r"|workgroupBarrier|storageBarrier|_.*|\w*__\w*)"
)
"""Identifiers an IR name must not take: SSA names, the convention's own names, keywords and builtins."""


def render_wgsl(kernel: Kernel) -> RenderedKernel:
    """Render `kernel` as WGSL; raises IRError for dtypes or constructs WGSL cannot hold."""
    renderer = _WGSLRenderer(kernel)
    return RenderedKernel(renderer.source(), renderer.entry, "wgsl")


def _stored(body: tuple) -> set[Buf]:
    """The buffers `body` stores to."""
    found: set[Buf] = set()
    for s in body:
        if isinstance(s, Store):
            found.add(s.buf)
        elif isinstance(s, Range | If):
            found |= _stored(s.body)
    return found


class _WGSLRenderer(SourceRenderer):
    """The shared statement walker, spelling WGSL."""

    SEPARATOR = ""

    def __init__(self, kernel: Kernel) -> None:
        self.helpers: dict[str, None] = {}
        self.atomic = {b for b in _stored(kernel.body) if b.space == "global" and b.dtype.name in PACKED}
        super().__init__(kernel)

    def legal_ident(self, name: str) -> str:
        base = re.sub(r"\W", "_", name).strip("_") or "x"
        return base if not base[0].isdigit() and not _RESERVED.fullmatch(base) else f"n{base}"

    def reg(self, dtype: DType) -> str:
        scalar = _REGISTER.get(dtype.scalar.name)
        if scalar is None:
            raise IRError(f"wgsl: {dtype.scalar.name} is not supported on WebGPU: {_WHY.get(dtype.scalar.name)}")
        if dtype.count > 4:
            return f"array<{scalar}, {dtype.count}>"  # computed lane by lane (see `lanewise`)
        return scalar if dtype.count == 1 else f"vec{dtype.count}<{scalar}>"

    def declare(self, name: str, dtype: DType, expr: str) -> str:
        return f"let {name}: {self.reg(dtype)} = {expr};"

    def temp(self, dtype: DType, expr: str) -> str:
        """A new SSA name holding `expr` (not tied to an IR value)."""
        name, self.counter = f"v{self.counter}", self.counter + 1
        self.emit(self.declare(name, dtype, expr))
        return name

    def helper(self, name: str) -> str:
        """Use WGSL helper function `name` (emitted before the kernel once); returns its name."""
        if name in NEEDS:
            self.helper(NEEDS[name])
        self.helpers[name] = None
        return name

    # -- values --

    def leaf(self, v: Value) -> str | None:
        if v.op == "const":
            text = literal(v.value, v.dtype.scalar)
            lanes = 1 if v.dtype.count <= 4 else v.dtype.count  # arrays have no splat constructor
            return text if v.dtype.count == 1 else f"{self.reg(v.dtype)}({', '.join([text] * lanes)})"
        if v.op in ("loop", "acc"):
            return self.ident(v.args[0])
        if v.op == "group_id":
            return f"i32(gid.{'xyz'[v.args[0]]} + args.{GROUP_BASE}.{'xyz'[v.args[0]]})"
        if v.op == "local_id":
            return f"i32(lid.{'xyz'[v.args[0]]})"
        if v.op == "param":
            if v.dtype.name not in SUPPORTED:
                raise IRError(f"wgsl: scalar parameter {v.args[0]!r} of {v.dtype} is not supported on WebGPU: "
                              "only float32, int32 and uint32 parameters are")  # fmt: skip
            return f"args.{self.ident(v.args[0])}"
        return None

    def expr(self, v: Value) -> str:
        text = getattr(self, f"op_{v.op}")(v) if v.op in _SPECIAL else self.arith(v)
        name = v.dtype.scalar.name
        if name in ROUND and v.op in _INEXACT:
            return self.per_lane(v.dtype, text, lambda x: f"{self.helper(ROUND[name])}({x})")
        if v.dtype.kind in "iu" and v.dtype.itemsize < 4 and v.op in _WRAPS:
            return self.per_lane(v.dtype, text, lambda x: narrow(x, v.dtype.scalar))
        return text

    def per_lane(self, dtype: DType, text: str, function: Callable[[str], str]) -> str:
        """`function` applied to each lane of `text` (a value of `dtype`)."""
        if dtype.count == 1:
            return function(text)
        value = self.temp(dtype, text)
        return f"{self.reg(dtype)}({', '.join(function(f'{value}[{i}]') for i in range(dtype.count))})"

    def arith(self, v: Value) -> str:
        x = v.args[0].dtype
        tables = {"f": (_FLOAT_UNARY, _FLOAT_BINARY), "b": (_BOOL_UNARY, _BOOL_BINARY)}.get(x.kind)
        template = (tables or (_INT_UNARY, _INT_BINARY))[len(v.args) - 1].get(v.op)
        if template is None:
            raise IRError(f"wgsl: {v.op} is not defined for {x}")
        if template.startswith("tinyhw_"):
            self.helper(template.partition("(")[0])
        a, b = self.ref(v.args[0]), self.ref(v.args[-1])
        if x.count > 4 or (x.count > 1 and template.startswith("tinyhw_")):  # helpers take scalars
            return self.lanewise(v, lambda i: template.format(x=f"{a}[{i}]", a=f"{a}[{i}]", b=f"{b}[{i}]",
                                                              ub=f"u32({b}[{i}])"))  # fmt: skip
        ub = b if self.reg(x.scalar) == "u32" else f"{self.reg(x).replace('i32', 'u32')}({b})"
        return template.format(x=a, a=a, b=b, ub=ub)

    def lanewise(self, v: Value, lane: Callable[[int], str]) -> str:
        """An `array<T, N>` built from `lane(i)` for each lane: WGSL vectors stop at 4 lanes."""
        return f"{self.reg(v.dtype)}({', '.join(lane(i) for i in range(v.dtype.count))})"

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
        """`x` of `src` converted to `dst`'s register type (to bool: != 0; from bool: 0 or 1)."""
        if dst.kind == "b":
            return f"{x} != {self.reg(src)}({literal(0, src.scalar)})"
        if src.kind == "b":
            zero, one = literal(0, dst.scalar), literal(1, dst.scalar)
            return f"select({self.reg(dst)}({zero}), {self.reg(dst)}({one}), {x})"
        return f"{self.reg(dst)}({x})"

    def op_bitcast(self, v: Value) -> str:
        src, dst = v.args[0].dtype, v.dtype
        if src.scalar.name not in SUPPORTED or dst.scalar.name not in SUPPORTED or max(src.count, dst.count) > 4:
            raise IRError(f"wgsl: cannot bitcast {src} to {dst}: only 32-bit lanes, up to 4 of them")
        return f"bitcast<{self.reg(dst)}>({self.ref(v.args[0])})"

    def op_gep(self, v: Value) -> str:
        return f"{self.ref(v.args[0])}[{v.args[1]}]"

    def op_vectorize(self, v: Value) -> str:
        return f"{self.reg(v.dtype)}({', '.join(self.ref(x) for x in v.args)})"

    def index(self, buf: Buf, index: str, lane: int) -> str:
        """The u32 element index of `index` (+ `lane`) in `buf`, offset by its view for global buffers."""
        i = index if not lane else f"{index} + {lane}"
        return f"args.{self.ident(buf.name)} + u32({i})" if buf.space == "global" else f"u32({i})"

    def read(self, buf: Buf, index: str, lane: int) -> str:
        """The value of element `index` (+ `lane`) of `buf`."""
        name, i = self.ident(buf.name), self.index(buf, index, lane)
        if buf.space == "local" or buf.dtype.name not in PACKED:
            return f"{name}[{i}]"
        at = self.temp(uint32, i)
        word = f"{name}[{at} >> {PACKED[buf.dtype.name][0]}u]"
        return unpack_bits(f"atomicLoad(&{word})" if buf in self.atomic else word, at, buf.dtype)

    def op_load(self, v: Value) -> str:
        buf, index, mask, other = v.args
        self.storage(buf)
        i = self.ref(index)
        lanes = [self.read(buf, i, lane) for lane in range(v.dtype.count)]
        text = lanes[0] if v.dtype.count == 1 else f"{self.reg(v.dtype)}({', '.join(lanes)})"
        return text if mask is None else f"select({self.ref(other)}, {text}, {self.ref(mask)})"

    # -- statements --

    def loop_opener(self, var: str, start: str, end: str) -> str:
        return f"for (var {var}: i32 = {start}; {var} < {end}; {var}++)"

    def define_acc(self, s: DefineAcc) -> None:
        self.emit(f"var {self.ident(s.acc.args[0])}: {self.reg(s.acc.dtype)} = {self.ref(s.init)};")

    def barrier(self, s: Barrier) -> None:
        self.emit("storageBarrier();")
        self.emit("workgroupBarrier();")
        self.forget(self.writes((s,)))

    def store(self, s: Store) -> None:
        self.storage(s.buf)
        index, value, count = self.ref(s.index), self.ref(s.value), s.value.dtype.count
        if s.mask is not None:
            self.emit(f"if ({self.ref(s.mask)}) {{")
            self.scopes.append({})
        for lane in range(count):
            self.write(s.buf, index, lane, value if count == 1 else f"{value}[{lane}]")
        if s.mask is not None:
            self.scopes.pop()
            self.emit("}")
        self.forget(frozenset({s.buf}))

    def write(self, buf: Buf, index: str, lane: int, value: str) -> None:
        """Emit the store of `value` to element `index` (+ `lane`) of `buf`."""
        name, i = self.ident(buf.name), self.index(buf, index, lane)
        if buf.space == "local" or buf.dtype.name not in PACKED:
            self.emit(f"{name}[{i}] = {value};")
            return
        shift, mask = PACKED[buf.dtype.name]
        at = self.temp(uint32, i)
        bits = pack_bits(value, buf.dtype, self.helper)
        place = f"({at} & {mask}u) * {32 >> shift}u"  # the element's bit offset in its word
        # clear the element's bits, then set them: threads writing other elements of the word stay correct
        self.emit(f"atomicAnd(&{name}[{at} >> {shift}u], ~({(1 << (32 >> shift)) - 1}u << ({place})));")
        self.emit(f"atomicOr(&{name}[{at} >> {shift}u], {bits} << ({place}));")

    # -- the whole module --

    def storage(self, buf: Buf) -> str:
        """The WGSL element type of `buf`'s array; IRError for dtypes WGSL cannot hold."""
        name = buf.dtype.name
        if name not in _REGISTER:
            raise IRError(f"wgsl: {buf.space} buffer {buf.name!r} of {buf.dtype} is not supported on WebGPU: "
                          f"{_WHY.get(name)}")  # fmt: skip
        if buf.space == "local":
            return _REGISTER[name]  # workgroup memory need not match the host's layout
        if name not in PACKED:
            return SUPPORTED[name]
        return "atomic<u32>" if buf in self.atomic else "u32"

    def declarations(self) -> list[str]:
        fields, bindings = [f"{GROUP_BASE}: vec3<u32>"], []
        for p in self.kernel.params:
            if isinstance(p, Buf):
                name, element = self.ident(p.name), self.storage(p)
                fields.append(f"{name}: {f'offset{p.dtype.itemsize * 8}' if p.dtype.name in PACKED else 'u32'}")
                bindings.append(f"@group(0) @binding({len(bindings)}) var<storage, read_write> {name}: "
                                f"array<{element}>;")  # fmt: skip
            else:
                self.leaf(p)  # checks the dtype
                fields.append(f"{self.ident(p.args[0])}: {self.reg(p.dtype)}")
        bindings.append(f"@group(0) @binding({len(bindings)}) var<uniform> args: Args;")
        aliases = ["alias offset8 = u32;", "alias offset16 = u32;"]
        locals_ = [
            f"var<workgroup> {self.ident(b.name)}: array<{self.storage(b)}, {b.size}>;" for b in self.kernel.locals
        ]
        return [*aliases, f"struct Args {{ {', '.join(fields)} }}", *bindings, *locals_]

    def source(self) -> str:
        declarations = self.declarations()
        size = ", ".join(map(str, self.kernel.local_size))
        ids = "@builtin(workgroup_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>"
        for stmt in self.kernel.body:
            self.statement(stmt)
        helpers = [_FUNCTIONS[name] for name in self.helpers]
        header = f"@compute @workgroup_size({size}) fn {self.entry}({ids}) {{"
        return "\n".join([*declarations, *helpers, header, *self.lines, "}", ""])
