"""Narrow dtypes in WGSL: elements of 8 or 16 bits packed in `u32` words exactly as the host stores them.

bool, int8 and uint8 take one byte of a word, int16, uint16, float16 and bfloat16 a half-word,
little-endian, so a buffer's bytes are the host's and copies need no conversion. Element `i`
lives in word `i >> shift` at bit `(i & mask) * bits`. Reads extract the bits (sign-extending
signed integers); writes clear the element's bits with `atomicAnd` and set them with `atomicOr`,
so two work-items writing different elements of one word both land.

float16 and bfloat16 are computed in f32. Converting back rounds to nearest even, overflows to
infinity and keeps NaNs, in integer arithmetic of their own rather than through `pack2x16float`
(whose result WGSL leaves undefined outside float16's range), and needs no `shader-f16`.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import numpy as np

from tinyhw.kernel.dtypes import DType

__all__ = ["PACKED", "ROUND", "HELPERS", "NEEDS", "literal", "narrow", "unpack_bits", "pack_bits", "round_float"]

PACKED = {"bool": (2, 3), "int8": (2, 3), "uint8": (2, 3), "int16": (1, 1), "uint16": (1, 1), "float16": (1, 1),
          "bfloat16": (1, 1)}  # fmt: skip
"""Packed dtype -> (shift, mask): element i is in word i >> shift, at element slot i & mask."""
ROUND = {"float16": "tinyhw_f16", "bfloat16": "tinyhw_bf16"}
"""The WGSL function rounding an f32 to each 16-bit float dtype's nearest value."""
_BITS = {"float16": "tinyhw_f16_bits", "bfloat16": "tinyhw_bf16_bits"}
HELPERS = {
    "tinyhw_f16_bits": """fn tinyhw_f16_bits(x: f32) -> u32 {  // float16 bits of x: to nearest even
  let b = bitcast<u32>(x);
  let a = b & 0x7fffffffu;
  let sign = (b >> 16u) & 0x8000u;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }  // NaN
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }  // rounds past 65504: infinity
  if (a >= 0x38800000u) { return sign | ((a - 0x38000000u + 0xfffu + ((a >> 13u) & 1u)) >> 13u); }  // normal
  return sign | u32(round(bitcast<f32>(a) * 16777216.0f));  // subnormal: units of 2^-24; round() ties to even
}""",
    "tinyhw_f16": """fn tinyhw_f16(x: f32) -> f32 { return unpack2x16float(tinyhw_f16_bits(x)).x; }""",
    "tinyhw_bf16_bits": """fn tinyhw_bf16_bits(x: f32) -> u32 {  // bfloat16 bits of x: to nearest even
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; }  // NaN stays a quiet NaN
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}""",
    "tinyhw_bf16": """fn tinyhw_bf16(x: f32) -> f32 { return bitcast<f32>(tinyhw_bf16_bits(x) << 16u); }""",
}
"""WGSL helper functions by name."""
NEEDS = {"tinyhw_f16": "tinyhw_f16_bits", "tinyhw_bf16": "tinyhw_bf16_bits"}
"""The helper each helper calls."""


def round_float(value: float, name: str) -> float:
    """`value` rounded to float dtype `name` (float16, bfloat16 or float32), as a Python float."""
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "float16":
            return float(np.float16(value))
        single = np.array([value], np.float32)
    if name == "bfloat16" and not math.isnan(value):
        bits = single.view(np.uint32).astype(np.uint64)
        single = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32).view(np.float32)
    return float(single[0])


def literal(value: object, dtype: DType) -> str:
    """A scalar constant of `dtype` as WGSL text of its register type that reads back exactly."""
    if dtype.kind == "b":
        return "true" if value else "false"
    if dtype.kind == "f":
        single = round_float(float(value), dtype.name)  # type: ignore[arg-type]
        if not math.isfinite(single):
            return f"bitcast<f32>({struct.unpack('<I', struct.pack('<f', single))[0]}u)"
        return f"({single!r}f)" if math.copysign(1, single) < 0 else f"{single!r}f"
    if dtype.kind == "i" and value == -(1 << 31):
        return "bitcast<i32>(0x80000000u)"
    suffix = "u" if dtype.kind == "u" else "i"
    return f"{value}{suffix}" if value >= 0 else f"({value}{suffix})"  # type: ignore[operator]


def narrow(x: str, dtype: DType) -> str:
    """Integer register `x` wrapped to `dtype`'s width (sign-extended for signed dtypes)."""
    return f"extractBits({x}, 0u, {dtype.itemsize * 8}u)"


def unpack_bits(word: str, at: str, dtype: DType) -> str:
    """The register value of element `at` of packed `dtype`, read from the u32 `word` holding it."""
    shift, mask = PACKED[dtype.name]
    bits = 32 >> shift
    place = f"({at} & {mask}u) * {bits}u"
    if dtype.kind == "i":
        return f"extractBits(bitcast<i32>({word}), {place}, {bits}u)"
    raw = f"extractBits({word}, {place}, {bits}u)"
    if dtype.kind == "b":
        return f"{raw} != 0u"
    if dtype.name == "float16":
        return f"unpack2x16float({raw}).x"
    return f"bitcast<f32>({raw} << 16u)" if dtype.name == "bfloat16" else raw


def pack_bits(value: str, dtype: DType, helper: Callable[[str], str]) -> str:
    """The u32 holding `dtype`'s bits of register `value` in its low bits; `helper` declares WGSL helpers used."""
    if dtype.kind == "b":
        return f"select(0u, 1u, {value})"
    if dtype.name in _BITS:
        return f"{helper(_BITS[dtype.name])}({value})"
    return f"(u32({value}) & {(1 << dtype.itemsize * 8) - 1}u)"
