"""Vector ALU semantics: what each VOP1/VOP2/VOP3 instruction computes, per lane, with numpy.

`VALU[name]` is a VOp: the destination type, the source types, and a function of the typed
source arrays (float32, int32, float16, ...: one element per lane) returning the typed result.
Operand plumbing (encodings, modifiers, EXEC) lives in vector.py. Float ops are IEEE (denormals
kept, round to nearest even); min/max return the non-NaN operand like the hardware in IEEE mode.
Integer ops wrap at their width. Known differences from hardware: fma_f32 rounds a float64 fma
(double rounding is possible in rare cases), fma_f64 is not fused; div_scale never scales and
div_fixup returns the correctly rounded quotient of its numerator and denominator operands, so a
whole division sequence gives IEEE n / d (as on hardware) while its intermediate values may differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["COMPARE_CONDITIONS", "TYPES", "VALU", "VOp", "classify"]

TYPES: dict[str, tuple[int, type]] = {
    "f16": (16, np.float16), "i16": (16, np.int16), "u16": (16, np.uint16), "b16": (16, np.uint16),
    "f32": (32, np.float32), "i32": (32, np.int32), "u32": (32, np.uint32), "b32": (32, np.uint32),
    "f64": (64, np.float64), "i64": (64, np.int64), "u64": (64, np.uint64), "b64": (64, np.uint64),
}  # fmt: skip
"""Operand types: (width in bits, numpy type of the lane values)."""


@dataclass(frozen=True, slots=True)
class VOp:
    """A vector op: destination type, source types, and the per-lane function of the typed sources."""

    dst: str
    srcs: tuple[str, ...]
    fn: Callable[..., np.ndarray]


VALU: dict[str, VOp] = {}


def _op(name: str, signature: str, fn: Callable[..., np.ndarray]) -> None:
    dst, srcs = signature.split(":")
    VALU[name] = VOp(dst, tuple(srcs.split(",")), fn)


def _f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64)


def _cvt_int(x: np.ndarray, dtype: type) -> np.ndarray:
    """Float -> integer conversion: truncate, saturate at the type's range, NaN -> 0."""
    info = np.iinfo(dtype)
    return np.nan_to_num(np.trunc(_f64(x)), nan=0).clip(info.min, info.max).astype(dtype)


def _fma(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return _f64(a) * _f64(b) + _f64(c)


def _med3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.fmax(np.fmin(a, b), np.fmin(np.fmax(a, b), c))


def _imed3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _bfe(a: np.ndarray, offset: np.ndarray, width: np.ndarray, signed: bool) -> np.ndarray:
    offset, width = (offset & 31).astype(np.int64), (width & 31).astype(np.int64)
    field = (a.astype(np.int64) & 0xFFFFFFFF) >> offset & ((1 << width) - 1)
    if signed:
        field = np.where((width > 0) & (field >> np.maximum(width - 1, 0) & 1 == 1), field - (1 << width), field)
    return field


def _bit_reverse(a: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(a.astype("<u4").view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
    return np.packbits(bits[:, ::-1], axis=1, bitorder="little").view("<u4").ravel()


def _leading_zeros(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.uint64)
    count = np.where(a == 0, -1, 31 - np.floor(np.log2(np.maximum(a, 1).astype(np.float64))).astype(np.int64))
    return count


def _trailing_zeros(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int64)
    return np.where(a == 0, -1, np.log2((a & -a).astype(np.float64)).astype(np.int64))


def _frexp_mant(a: np.ndarray) -> np.ndarray:
    mant, _ = np.frexp(a)
    return np.where(np.isfinite(a), mant, a)


def _frexp_exp(a: np.ndarray) -> np.ndarray:
    _, exp = np.frexp(a)
    return np.where(np.isfinite(a), exp, 0)


def _ldexp(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.ldexp(a, np.clip(e.astype(np.int64), -1100, 1100).astype(np.int32))


def _shift(bits: int) -> Callable[[np.ndarray], np.ndarray]:
    dtype = {16: np.uint16, 32: np.uint32, 64: np.uint64}[bits]
    return lambda s: (s & (bits - 1)).astype(dtype)


def _div_fixup(q: np.ndarray, d: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The IEEE quotient n / d: what LLVM's div_scale/rcp/fma/div_fmas/div_fixup sequence computes on hardware."""
    return np.true_divide(n, d)


def _mul_dx9(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Multiply where 0 * anything (inf and NaN included) is 0, as Direct3D 9 shaders want."""
    return np.where((a == 0) | (b == 0), 0, a * b)


def _sin(a: np.ndarray) -> np.ndarray:
    return np.sin(_f64(a) * (2 * np.pi))


def _cos(a: np.ndarray) -> np.ndarray:
    return np.cos(_f64(a) * (2 * np.pi))


_shift32, _shift64, _shift16 = _shift(32), _shift(64), _shift(16)

for _t in ("f16", "f32", "f64"):
    _s = f"{_t}:{_t},{_t}"
    _op(f"v_add_{_t}", _s, np.add)
    _op(f"v_sub_{_t}", _s, np.subtract)
    _op(f"v_subrev_{_t}", _s, lambda a, b: b - a)
    _op(f"v_mul_{_t}", _s, np.multiply)
    _op(f"v_min_{_t}", _s, np.fmin)
    _op(f"v_max_{_t}", _s, np.fmax)
    _op(f"v_fma_{_t}", f"{_t}:{_t},{_t},{_t}", _fma)
    _op(f"v_fmac_{_t}", f"{_t}:{_t},{_t},{_t}", _fma)
    _op(f"v_trunc_{_t}", f"{_t}:{_t}", np.trunc)
    _op(f"v_ceil_{_t}", f"{_t}:{_t}", np.ceil)
    _op(f"v_floor_{_t}", f"{_t}:{_t}", np.floor)
    _op(f"v_rndne_{_t}", f"{_t}:{_t}", np.rint)
    _op(f"v_sqrt_{_t}", f"{_t}:{_t}", np.sqrt)
    _op(f"v_rcp_{_t}", f"{_t}:{_t}", lambda a: 1 / _f64(a))
    _op(f"v_rsq_{_t}", f"{_t}:{_t}", lambda a: 1 / np.sqrt(_f64(a)))
    _op(f"v_ldexp_{_t}", f"{_t}:{_t},i32", _ldexp)
    _op(f"v_div_fixup_{_t}", f"{_t}:{_t},{_t},{_t}", _div_fixup)
for _t in ("f16", "f32"):
    _op(f"v_min3_{_t}", f"{_t}:{_t},{_t},{_t}", lambda a, b, c: np.fmin(np.fmin(a, b), c))
    _op(f"v_max3_{_t}", f"{_t}:{_t},{_t},{_t}", lambda a, b, c: np.fmax(np.fmax(a, b), c))
    _op(f"v_exp_{_t}", f"{_t}:{_t}", lambda a: np.exp2(_f64(a)))
    _op(f"v_log_{_t}", f"{_t}:{_t}", lambda a: np.log2(_f64(a)))
    _op(f"v_sin_{_t}", f"{_t}:{_t}", _sin)
    _op(f"v_cos_{_t}", f"{_t}:{_t}", _cos)
for _t in ("i32", "u32", "i16", "u16"):
    _op(f"v_min_{_t}", f"{_t}:{_t},{_t}", np.minimum)
    _op(f"v_max_{_t}", f"{_t}:{_t},{_t}", np.maximum)
    _op(f"v_min3_{_t}", f"{_t}:{_t},{_t},{_t}", lambda a, b, c: np.minimum(np.minimum(a, b), c))
    _op(f"v_max3_{_t}", f"{_t}:{_t},{_t},{_t}", lambda a, b, c: np.maximum(np.maximum(a, b), c))
    _op(f"v_med3_{_t}", f"{_t}:{_t},{_t},{_t}", _imed3)
for _t in ("b32", "b16"):
    _op(f"v_and_{_t}", f"{_t}:{_t},{_t}", np.bitwise_and)
    _op(f"v_or_{_t}", f"{_t}:{_t},{_t}", np.bitwise_or)
    _op(f"v_xor_{_t}", f"{_t}:{_t},{_t}", np.bitwise_xor)

_op("v_rcp_iflag_f32", "f32:f32", lambda a: 1 / _f64(a))
_op("v_med3_f32", "f32:f32,f32,f32", _med3)
_op("v_mul_dx9_zero_f32", "f32:f32,f32", _mul_dx9)
_op("v_fmamk_f32", "f32:f32,f32,f32", lambda a, k, b: _fma(a, k, b))
_op("v_fmaak_f32", "f32:f32,f32,f32", _fma)
_op("v_div_fmas_f32", "f32:f32,f32,f32", _fma)
_op("v_div_fmas_f64", "f64:f64,f64,f64", _fma)
_op("v_frexp_mant_f32", "f32:f32", _frexp_mant)
_op("v_frexp_exp_i32_f32", "i32:f32", _frexp_exp)
_op("v_mov_b32", "b32:b32", lambda a: a)
_op("v_mov_b16", "b16:b16", lambda a: a)
_op("v_add_u16", "u16:u16,u16", np.add)  # the lanes of v_pk_add_u16
_op("v_add_nc_u16", "u16:u16,u16", np.add)
_op("v_add_nc_i16", "i16:i16,i16", np.add)
_op("v_sub_nc_u16", "u16:u16,u16", np.subtract)
_op("v_mul_lo_u16", "u16:u16,u16", np.multiply)
_op("v_lshlrev_b16", "b16:u16,b16", lambda s, a: a << _shift16(s))
_op("v_lshrrev_b16", "b16:u16,b16", lambda s, a: a >> _shift16(s))
_op("v_ashrrev_i16", "i16:u16,i16", lambda s, a: a >> _shift16(s).astype(np.int16))
_op("v_not_b32", "b32:b32", np.invert)
_op("v_bfrev_b32", "b32:b32", _bit_reverse)
_op("v_clz_i32_u32", "i32:u32", _leading_zeros)
_op("v_ctz_i32_b32", "i32:b32", _trailing_zeros)
_op("v_cls_i32", "i32:i32", lambda a: _leading_zeros((a ^ (a >> 31)).view(np.uint32)))  # bits equal to the sign
_op("v_xnor_b32", "b32:b32,b32", lambda a, b: ~(a ^ b))
_op("v_add_nc_u32", "u32:u32,u32", np.add)
_op("v_sub_nc_u32", "u32:u32,u32", np.subtract)
_op("v_subrev_nc_u32", "u32:u32,u32", lambda a, b: b - a)
_op("v_mul_lo_u32", "u32:u32,u32", np.multiply)
_op("v_mul_hi_u32", "u32:u32,u32", lambda a, b: (a.astype(np.uint64) * b) >> np.uint64(32))
_op("v_mul_hi_i32", "i32:i32,i32", lambda a, b: (a.astype(np.int64) * b) >> 32)
_op("v_mul_u32_u24", "u32:u32,u32", lambda a, b: (a & 0xFFFFFF) * (b & 0xFFFFFF))
_op("v_mul_i32_i24", "i32:i32,i32", lambda a, b: ((a << 8) >> 8) * ((b << 8) >> 8))
_op("v_mul_hi_u32_u24", "u32:u32,u32", lambda a, b: ((a & 0xFFFFFF).astype(np.uint64) * (b & 0xFFFFFF)) >> 32)
_op("v_mul_hi_i32_i24", "i32:i32,i32", lambda a, b: (((a << 8) >> 8).astype(np.int64) * ((b << 8) >> 8)) >> 32)
_op("v_mad_u32_u24", "u32:u32,u32,u32", lambda a, b, c: (a & 0xFFFFFF) * (b & 0xFFFFFF) + c)
_op("v_mad_i32_i24", "i32:i32,i32,i32", lambda a, b, c: ((a << 8) >> 8) * ((b << 8) >> 8) + c)
_op("v_mad_u32_u16", "u32:u32,u32,u32", lambda a, b, c: (a & 0xFFFF) * (b & 0xFFFF) + c)
_op("v_fract_f32", "f32:f32", lambda a: np.minimum(a - np.floor(a), np.float32(0.99999994)))  # below 1.0
_op("v_lshlrev_b32", "b32:u32,b32", lambda s, a: a << _shift32(s))
_op("v_lshrrev_b32", "b32:u32,b32", lambda s, a: a >> _shift32(s))
_op("v_ashrrev_i32", "i32:u32,i32", lambda s, a: a >> _shift32(s).astype(np.int32))
_op("v_lshlrev_b64", "b64:u32,b64", lambda s, a: a << _shift64(s))
_op("v_lshrrev_b64", "b64:u32,b64", lambda s, a: a >> _shift64(s))
_op("v_ashrrev_i64", "i64:u32,i64", lambda s, a: a >> _shift64(s).astype(np.int64))
_op("v_bfe_u32", "u32:u32,u32,u32", lambda a, o, w: _bfe(a, o, w, False))
_op("v_bfe_i32", "i32:u32,u32,u32", lambda a, o, w: _bfe(a, o, w, True))
_op("v_bfi_b32", "b32:b32,b32,b32", lambda m, a, b: (m & a) | (~m & b))
_op("v_alignbit_b32", "b32:u32,u32,u32",
    lambda a, b, s: (a.astype(np.uint64) << np.uint64(32) | b) >> (s & 31).astype(np.uint64))  # fmt: skip
_op("v_xad_u32", "u32:u32,u32,u32", lambda a, b, c: (a ^ b) + c)
_op("v_lshl_add_u32", "u32:u32,u32,u32", lambda a, s, c: (a << _shift32(s)) + c)
_op("v_add_lshl_u32", "u32:u32,u32,u32", lambda a, b, s: (a + b) << _shift32(s))
_op("v_lshl_or_b32", "b32:b32,u32,b32", lambda a, s, c: (a << _shift32(s)) | c)
_op("v_and_or_b32", "b32:b32,b32,b32", lambda a, b, c: (a & b) | c)
_op("v_or3_b32", "b32:b32,b32,b32", lambda a, b, c: a | b | c)
_op("v_add3_u32", "u32:u32,u32,u32", lambda a, b, c: a + b + c)
_op("v_cvt_f32_i32", "f32:i32", lambda a: a)
_op("v_cvt_f32_u32", "f32:u32", lambda a: a)
_op("v_cvt_i32_f32", "i32:f32", lambda a: _cvt_int(a, np.int32))
_op("v_cvt_u32_f32", "u32:f32", lambda a: _cvt_int(a, np.uint32))
_op("v_cvt_f16_f32", "f16:f32", lambda a: a)
_op("v_cvt_f32_f16", "f32:f16", lambda a: a)
_op("v_cvt_f32_f64", "f32:f64", lambda a: a)
_op("v_cvt_f64_f32", "f64:f32", lambda a: a)
_op("v_cvt_f64_i32", "f64:i32", lambda a: a)
_op("v_cvt_f64_u32", "f64:u32", lambda a: a)
_op("v_cvt_i32_f64", "i32:f64", lambda a: _cvt_int(a, np.int32))
_op("v_cvt_u32_f64", "u32:f64", lambda a: _cvt_int(a, np.uint32))
_op("v_cvt_f16_u16", "f16:u16", lambda a: a)
_op("v_cvt_f16_i16", "f16:i16", lambda a: a)
_op("v_cvt_u16_f16", "u16:f16", lambda a: _cvt_int(a, np.uint16))
_op("v_cvt_i16_f16", "i16:f16", lambda a: _cvt_int(a, np.int16))
for _byte in range(4):
    _op(f"v_cvt_f32_ubyte{_byte}", "f32:u32", lambda a, n=_byte: (a >> (8 * n)) & 0xFF)

COMPARE_CONDITIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "f": lambda a, b: np.zeros(a.shape, bool), "t": lambda a, b: np.ones(a.shape, bool),
    "lt": np.less, "eq": np.equal, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "ne": np.not_equal,
    "lg": lambda a, b: (a < b) | (a > b), "o": lambda a, b: ~(np.isnan(a) | np.isnan(b)),
    "u": lambda a, b: np.isnan(a) | np.isnan(b), "nge": lambda a, b: ~(a >= b),
    "nlg": lambda a, b: ~((a < b) | (a > b)), "ngt": lambda a, b: ~(a > b), "nle": lambda a, b: ~(a <= b),
    "neq": lambda a, b: ~(a == b), "nlt": lambda a, b: ~(a < b),
}  # fmt: skip
"""v_cmp_<cond>_<type>: the per-lane test (the n* forms are true for unordered operands)."""


def classify(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """v_cmp_class: whether each value's class is in `mask` (bit 0 signaling NaN, 1 quiet NaN, 2 -inf,
    3 -normal, 4 -denormal, 5 -0, 6 +0, 7 +denormal, 8 +normal, 9 +inf)."""
    info = np.finfo(a.dtype)
    negative, magnitude = np.signbit(a), np.abs(a)
    bits = a.view(np.uint64 if a.itemsize == 8 else np.uint32 if a.itemsize == 4 else np.uint16).astype(np.uint64)
    quiet = (bits >> np.uint64(info.nmant - 1)) & np.uint64(1) == 1
    cls = np.select(
        [np.isnan(a) & ~quiet, np.isnan(a), np.isinf(a), magnitude == 0, magnitude < info.smallest_normal],
        [0, 1, np.where(negative, 2, 9), np.where(negative, 5, 6), np.where(negative, 4, 7)],
        np.where(negative, 3, 8),
    )
    return (mask.astype(np.int64) >> cls) & 1 == 1
