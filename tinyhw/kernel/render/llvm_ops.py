"""LLVM IR spellings of kernel IR types, constants and operations, shared by every LLVM dialect.

Registers hold bool as `i1`; memory holds it as `i8` (0 or 1). float16 is `half`, bfloat16 is
`bfloat`; a vector dtype is `<N x T>`. Operations are looked up by (op, kind) where kind is the
operand's dtype kind ("b", "i", "u", "f"): an instruction template or an overloaded `llvm.*`
intrinsic. `EXPANSIONS` rewrite an op in terms of others, in kernel IR,
for dialects whose targets lack it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinyhw.kernel.dtypes import DType, int32
from tinyhw.kernel.ir import Value

__all__ = [
    "BINARY",
    "EXPANSIONS",
    "IDENTITY",
    "Intrinsic",
    "MATH_OPS",
    "TO_BOOL",
    "UNARY",
    "cast_instruction",
    "constant",
    "intrinsic_suffix",
    "llvm_type",
    "memory_type",
]

_SCALAR = {"bool": "i1", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "i8",
           "uint16": "i16", "uint32": "i32", "uint64": "i64", "float16": "half", "bfloat16": "bfloat",
           "float32": "float", "float64": "double"}  # fmt: skip
_SUFFIX = {"half": "f16", "bfloat": "bf16", "float": "f32", "double": "f64"}
MATH_OPS = frozenset({"exp", "exp2", "log", "log2", "sin", "cos", "tanh", "erf", "pow"})
"""Transcendental ops: computed in float32 for 16-bit floats; a dialect may lack them for float64."""


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """An overloaded LLVM intrinsic `llvm.NAME.<type suffix>`, with constant trailing arguments `extra`."""

    name: str
    extra: tuple[str, ...] = ()


def llvm_type(dtype: DType) -> str:
    """The register type of `dtype` (bool is i1)."""
    scalar = _SCALAR[dtype.name]
    return scalar if dtype.count == 1 else f"<{dtype.count} x {scalar}>"


def memory_type(dtype: DType) -> str:
    """The in-memory type of `dtype` (bool is i8)."""
    scalar = "i8" if dtype.kind == "b" else _SCALAR[dtype.name]
    return scalar if dtype.count == 1 else f"<{dtype.count} x {scalar}>"


def intrinsic_suffix(dtype: DType) -> str:
    """The type suffix of an overloaded intrinsic: f32, i64, v8f32, ..."""
    scalar = _SCALAR[dtype.name]
    scalar = _SUFFIX.get(scalar, scalar)
    return scalar if dtype.count == 1 else f"v{dtype.count}{scalar}"


def constant(value: bool | int | float, dtype: DType) -> str:
    """`value` as an LLVM operand of `dtype` (a vector dtype splats it)."""
    if dtype.kind == "b":
        text = "true" if value else "false"
    elif dtype.kind in "iu":
        bits = 8 * dtype.itemsize
        wrapped = int(value) & ((1 << bits) - 1)
        text = str(wrapped - (1 << bits) if wrapped >= 1 << (bits - 1) else wrapped)
    else:
        text = _float_constant(float(value), dtype.scalar)
    return text if dtype.count == 1 else f"splat ({llvm_type(dtype.scalar)} {text})"


def _float_constant(x: float, dtype: DType) -> str:
    """Decimal where it is exact and finite; else LLVM's hex forms (0xH half, 0xR bfloat, 0x double bits)."""
    if dtype.name == "float16":
        with np.errstate(over="ignore"):
            return f"0xH{int(np.array(x, np.float16).view(np.uint16)):04X}"
    if dtype.name == "bfloat16":
        return f"0xR{_bfloat16_bits(x):04X}"
    if dtype.itemsize == 4:
        with np.errstate(over="ignore"):
            x = float(np.float32(x))
    if not math.isfinite(x):
        return f"0x{struct.unpack('<Q', struct.pack('<d', x))[0]:016X}"
    text = repr(x)
    return text if "." in text else text.replace("e", ".0e")  # LLVM wants a '.' before the exponent


def _bfloat16_bits(x: float) -> int:
    """bfloat16 bits of `x`, rounded once to nearest even (not via float32, which could round twice)."""
    if math.isnan(x):
        return 0x7FC0
    if math.isfinite(x) and x != 0:
        mantissa, exponent = math.frexp(x)
        x = math.ldexp(round(mantissa * 256), exponent - 8)  # 8 significant bits
    with np.errstate(over="ignore"):
        return int(np.array(x, np.float32).view(np.uint32)) >> 16


def _by_kind(op: str, f: object = None, i: object = None, u: object = None, b: object = None) -> dict:
    return {(op, kind): entry for kind, entry in zip("fiub", (f, i, u, b)) if entry is not None}


IDENTITY = "{x}"
"""The UNARY entry of an op that leaves its operand as it is (abs of unsigned, floor of integers)."""
UNARY: dict[tuple[str, str], str | Intrinsic] = {
    **_by_kind("neg", "fneg {t} {x}", "sub {t} {zero}, {x}", "sub {t} {zero}, {x}"),
    **_by_kind("not", None, "xor {t} {x}, {ones}", "xor {t} {x}, {ones}", "xor {t} {x}, {ones}"),
    **_by_kind("abs", Intrinsic("fabs"), Intrinsic("abs", ("i1 false",)), IDENTITY, IDENTITY),
    **_by_kind("recip", "fdiv {t} {one}, {x}"),
    **{(op, "f"): Intrinsic(op) for op in ("sqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh")},
    **{(op, "f"): Intrinsic(op) for op in ("floor", "ceil", "trunc")},
    **{(op, kind): IDENTITY for op in ("floor", "ceil", "trunc") for kind in "iub"},
}
"""(op, kind) -> instruction template ({t} type, {x} operand, {zero}/{one}/{ones} constants) or intrinsic.
erf is not here: dialects supply it as a function (libm) or an expansion; rsqrt is recip(sqrt(x))."""

BINARY: dict[tuple[str, str], str | Intrinsic] = {
    **_by_kind("add", "fadd contract", "add", "add", "or"),
    **_by_kind("sub", "fsub contract", "sub", "sub"),
    **_by_kind("mul", "fmul contract", "mul", "mul", "and"),
    **_by_kind("div", "fdiv", "sdiv", "udiv"),
    **_by_kind("mod", "frem", "srem", "urem"),
    **_by_kind("and", None, "and", "and", "and"),
    **_by_kind("or", None, "or", "or", "or"),
    **_by_kind("xor", None, "xor", "xor", "xor"),
    **_by_kind("shl", None, "shl", "shl"),
    **_by_kind("shr", None, "ashr", "lshr"),
    **_by_kind("lt", "fcmp olt", "icmp slt", "icmp ult", "icmp ult"),
    **_by_kind("le", "fcmp ole", "icmp sle", "icmp ule", "icmp ule"),
    **_by_kind("eq", "fcmp oeq", "icmp eq", "icmp eq", "icmp eq"),
    **_by_kind("ne", "fcmp une", "icmp ne", "icmp ne", "icmp ne"),
    **_by_kind("max", Intrinsic("maximum"), Intrinsic("smax"), Intrinsic("umax"), Intrinsic("umax")),
    **_by_kind("min", Intrinsic("minimum"), Intrinsic("smin"), Intrinsic("umin"), Intrinsic("umin")),
    **_by_kind("pow", Intrinsic("pow")),
}
"""(op, operand kind) -> instruction (as `INSTR T a, b`) or intrinsic. Integer div/mod truncate as in C;
bool add/mul are or/and (as numpy's). Float max/min propagate NaN (as numpy's maximum/minimum; LLVM's
maxnum/minnum would drop it). Float add/sub/mul may contract into fused multiply-adds (one rounding
instead of two, as BLAS libraries do)."""

TO_BOOL = {"f": "fcmp une", "i": "icmp ne", "u": "icmp ne"}
"""How each kind converts to bool: compare with zero."""
_CONVERSIONS = {("b", "i"): "zext", ("b", "u"): "zext", ("b", "f"): "uitofp", ("i", "f"): "sitofp",
                ("u", "f"): "uitofp", ("f", "i"): "fptosi", ("f", "u"): "fptoui"}  # fmt: skip


def cast_instruction(src: DType, dst: DType) -> str | None:
    """The conversion instruction from `src` to non-bool `dst` (None: the bits are already right)."""
    if (src.kind, dst.kind) in _CONVERSIONS:
        return _CONVERSIONS[src.kind, dst.kind]
    if src.kind == "f":
        return "fpext" if dst.itemsize > src.itemsize else "fptrunc"
    if src.itemsize == dst.itemsize:
        return None
    return "trunc" if dst.itemsize < src.itemsize else "sext" if src.kind == "i" else "zext"


# -- expansions: ops written in terms of others, for targets without them --

LOG2E, LN2 = 1.4426950408889634, 0.6931471805599453


def _erf(x: Value) -> Value:
    """Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7."""
    a = x.unary("abs")
    t = (a * 0.3275911 + 1.0).unary("recip")
    poly = ((((t * 1.061405429 - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    y = 1.0 - poly * (-(a * a)).unary("exp")
    return (x < 0.0).where(-y, y)


ERF_SMALL = (1.1283792, -0.37612629, 0.11283612, -0.026854793, 0.0051900274, -0.00080241432, 7.8975609e-05)
"""erf(x) / x as a polynomial in x*x for |x| <= 1 (a least-squares fit at Chebyshev nodes; relative error ~1.5 ulp)."""
ERF_LARGE = (0.00024698736, 0.55941546, 0.039473172, -0.46206039, 0.47496516, -0.21059322, -0.0032566807,
             0.041472934, -0.012079884)  # fmt: skip
"""erfc(x) * exp(x*x) as a polynomial in 1/x for 1 <= x <= 4 (the same kind of fit; error ~1 ulp of erf)."""


def _polynomial(x: Value, coefficients: tuple[float, ...]) -> Value:
    """sum(c[i] * x**i), by Horner's rule."""
    p = x * coefficients[-1] + coefficients[-2]
    for c in reversed(coefficients[:-2]):
        p = p * x + c
    return p


def _erf_f32(x: Value) -> Value:
    """erf without a libm call, so it vectorises: x * P(x*x) up to |x| = 1, else 1 - exp(-x*x) * Q(1/|x|)."""
    a = x.unary("abs")
    square = a * a
    small = x * _polynomial(square, ERF_SMALL)
    large = 1.0 - (-square).unary("exp") * _polynomial(a.max(1.0).unary("recip"), ERF_LARGE)
    return (a <= 1.0).where(small, (x < 0.0).where(-large, large))


def _pow(x: Value, y: Value) -> Value:
    """exp2(y * log2|x|), negated for a negative x and odd integral y, NaN for a negative x and fractional y."""
    r = (y * x.unary("abs").unary("log2")).unary("exp2")
    integral = y.unary("trunc").eq(y)
    odd = integral & (y * 0.5).unary("trunc").ne(y * 0.5)
    negative = integral.where(odd.where(-r, r), math.nan)
    return (y.eq(0.0) | x.eq(1.0)).where(1.0, (x < 0.0).where(negative, r))


def _times_pow2(p: Value, n: Value) -> Value:
    """p * 2**n for integral float32 n in [-151, 129], scaling twice so no step leaves float32's range."""
    ints = int32.vec(n.dtype.count)
    half = (n * 0.5).unary("floor")
    return p * _exponent_scale(half, ints) * _exponent_scale(n - half, ints)


def _exponent_scale(k: Value, ints) -> Value:
    return ((k.cast(ints) + 127) << 23).bitcast(k.dtype)


def _exp_reduced(r: Value, n: Value, x: Value) -> Value:
    """exp(r) * 2**n for |r| <= ln2/2 (degree-7 Taylor, error < 1e-8), NaN where x is NaN."""
    p = r * (1 / 5040) + 1 / 720
    for coefficient in (1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0):
        p = p * r + coefficient
    return x.ne(x).where(x, _times_pow2(p, n))


def _exp_f32(x: Value) -> Value:
    """exp with Cody-Waite range reduction: vectorisable, within about 1 ulp of libm's expf."""
    c = x.max(-104.0).min(89.0)
    n = (c * LOG2E + 0.5).unary("floor")
    return _exp_reduced(c - n * 0.693145751953125 - n * 1.428606765330187e-06, n, x)


def _exp2_f32(x: Value) -> Value:
    c = x.max(-151.0).min(129.0)
    n = (c + 0.5).unary("floor")
    return _exp_reduced((c - n) * LN2, n, x)


EXPANSIONS: dict[str, Callable[..., Value]] = {
    "exp:float32": _exp_f32,
    "exp2:float32": _exp2_f32,
    "exp": lambda x: (x * LOG2E).unary("exp2"),
    "log": lambda x: x.unary("log2") * LN2,
    "tanh": lambda x: 1.0 - ((x * 2.0).unary("exp") + 1.0).unary("recip") * 2.0,
    "erf:float32": _erf_f32,
    "erf": _erf,
    "pow": _pow,
    "mod": lambda x, y: x - y * (x / y).unary("trunc"),
}
"""op -> the op's arguments -> an equal value made of other ops."""
