"""Vector instruction executors: VOP1, VOP2, VOPC, VOP3 (and VOP3SD), VOP3P and VOPD operand plumbing.

Semantics of ordinary ops come from valu.VALU; this module reads sources (with VOP3's abs/neg/
op_sel modifiers and gfx11's true16 encoding, where bit 7 of a VOP1/VOP2/VOPC VGPR field picks
the upper half of a 16-bit operand), applies clamp/omod, and writes the lanes EXEC enables.
Instructions with lane masks in SGPRs (compares, carries, cndmask, readlane) are built here too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .decoder import LITERAL, Instruction
from .errors import UnknownInstruction
from .valu import COMPARE_CONDITIONS, TYPES, VALU, classify
from .wave import (
    EXEC,
    LANES,
    VCC,
    Wave,
    lane_mask,
    mask_bits,
    scalar_reader,
    scalar_writer,
    vector_reader,
    vector_writer,
)

__all__ = ["build_vector"]

Reader = Callable[[Wave], np.ndarray]
_OMOD = {1: 2.0, 2: 4.0, 3: 0.5}


def _typed(code: int, literal: int | None, type_: str, hi: bool = False, abs_: bool = False, neg: bool = False):
    """A reader of source `code` as `type_` values (numpy array per lane), with abs then neg applied."""
    bits, dtype = TYPES[type_]
    plain = not (abs_ or neg) or type_[0] != "f"
    if plain and bits == 32 and code >= 256:  # the common case, one call per read
        return lambda w, r=code - 256: w.vgpr[r].view(dtype)
    raw = vector_reader(code, literal, bits, type_[0] == "f", hi)
    if plain:
        return lambda w: raw(w).view(dtype)
    magnitude = (lambda x: np.abs(x)) if abs_ else (lambda x: x)
    if neg:
        return lambda w: np.negative(magnitude(raw(w).view(dtype)))
    return lambda w: magnitude(raw(w).view(dtype))


def _t16(code: int, type_: str, is_vgpr_field: bool) -> tuple[int, bool]:
    """True16 e32 operands: for 16-bit types, bit 7 of a VGPR number selects the register's upper half."""
    if TYPES[type_][0] != 16 or not is_vgpr_field:
        return code, False
    return (code & ~0x80), bool(code & 0x80)


def _result(type_: str, clamp: bool = False, omod: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Typed result -> raw bits, rounding to the destination type, then omod and clamp for floats."""
    bits, dtype = TYPES[type_]
    raw = {16: np.uint16, 32: np.uint32, 64: np.uint64}[bits]
    scale = _OMOD.get(omod)

    def convert(value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if type_[0] == "f":
            value = value.astype(dtype, copy=False)
            if scale:
                value = (value * dtype(scale)).astype(dtype)
            if clamp:
                value = np.clip(value, 0, 1).astype(dtype)
            return value.view(raw)
        return value.astype(dtype, copy=False).view(raw)

    return convert


def _alu(name: str, sources: list[Reader], vdst: int, hi: bool = False, clamp=False, omod=0):
    op = VALU[name]
    convert, write = _result(op.dst, clamp, omod), vector_writer(vdst, TYPES[op.dst][0], hi)
    fn = op.fn
    if len(sources) == 1:
        (a,) = sources
        return lambda w: write(w, convert(fn(a(w))), w.exec_mask())
    if len(sources) == 2:
        a, b = sources
        return lambda w: write(w, convert(fn(a(w), b(w))), w.exec_mask())
    return lambda w: write(w, convert(fn(*[read(w) for read in sources])), w.exec_mask())


def _sources_e32(ins: Instruction, types: tuple[str, ...]) -> list[Reader]:
    f, readers = ins.fields, []
    for code, type_ in zip((f["src0"], f["vsrc1"], 256 + f["vdst"]), types):
        code, hi = _t16(code, type_, code >= 256)
        readers.append(_typed(code, ins.literal, type_, hi))
    return readers


def _vop1(ins: Instruction) -> Callable[[Wave], None]:
    name, f = ins.name, ins.fields
    if name == "v_nop":
        return lambda w: None
    if name == "v_readfirstlane_b32":
        read, write = vector_reader(f["src0"], ins.literal, 32), scalar_writer(f["vdst"])
        return lambda w: write(w, int(read(w)[_first_lane(w)]))
    op = VALU[name]
    vdst, hi = _t16(f["vdst"], op.dst, True)
    return _alu(name, _sources_e32(ins, op.srcs), vdst, hi)


def _first_lane(w: Wave) -> int:
    exec_ = w.sgpr[EXEC]
    return (exec_ & -exec_).bit_length() - 1 if exec_ else 0


def _carry(name: str):
    """(result, carry out) of the 32-bit add/sub-with-carry family on uint64 lanes."""
    if "subrev" in name:
        return lambda a, b, c: (b - a - c, a + c > b)
    if "sub" in name:
        return lambda a, b, c: (a - b - c, b + c > a)
    return lambda a, b, c: (a + b + c, (a + b + c) >> np.uint64(32) != 0)


def _carry_op(name: str, sources: list[Reader], carry_in, vdst: int, carry_out) -> Callable[[Wave], None]:
    compute, write = _carry(name), vector_writer(vdst, 32)

    def run(w: Wave) -> None:
        exec_ = w.exec_mask()
        c = lane_mask(carry_in(w)).astype(np.uint64) if carry_in else np.uint64(0)
        result, carry = compute(sources[0](w).astype(np.uint64), sources[1](w).astype(np.uint64), c)
        write(w, result.astype(np.uint32), exec_)
        carry_out(w, mask_bits(carry & exec_))

    return run


def _cndmask(sources: list[Reader], select, vdst: int, bits: int = 32, hi: bool = False) -> Callable[[Wave], None]:
    write, raw = vector_writer(vdst, bits, hi), np.uint32 if bits == 32 else np.uint16
    return lambda w: write(w, np.where(lane_mask(select(w)), sources[1](w), sources[0](w)).view(raw), w.exec_mask())


def _vop2(ins: Instruction) -> Callable[[Wave], None]:
    name, f = ins.name, ins.fields
    vcc_read, vcc_write = scalar_reader(VCC, None), scalar_writer(VCC)
    if name == "v_cndmask_b32":
        return _cndmask(_sources_e32(ins, ("b32", "b32")), vcc_read, f["vdst"])
    if "_co_ci_" in name:
        return _carry_op(name, _sources_e32(ins, ("u32", "u32")), vcc_read, f["vdst"], vcc_write)
    if name in ("v_fmamk_f32", "v_fmaak_f32"):
        src0, src1 = _sources_e32(ins, ("f32", "f32"))
        lit = _typed(LITERAL, ins.literal, "f32")
        return _alu(name, [src0, lit, src1] if name == "v_fmamk_f32" else [src0, src1, lit], f["vdst"])
    op = VALU[name]
    vdst, hi = _t16(f["vdst"], op.dst, True)
    return _alu(name, _sources_e32(ins, op.srcs), vdst, hi)


def _compare(name: str) -> Callable[..., np.ndarray]:
    if name.startswith(("v_cmp_class", "v_cmpx_class")):
        return classify
    return COMPARE_CONDITIONS[name.split("_")[2]]


def _vopc_run(name: str, sources: list[Reader], sdst: int) -> Callable[[Wave], None]:
    """A compare: the lanes' results (0 for lanes EXEC disables) to VCC/an SGPR, or to EXEC for v_cmpx."""
    test = _compare(name)
    target = EXEC if name.startswith("v_cmpx") else sdst
    write = scalar_writer(target)

    def run(w: Wave) -> None:
        write(w, mask_bits(test(sources[0](w), sources[1](w)) & w.exec_mask()))

    return run


def _compare_types(name: str) -> tuple[str, str]:
    type_ = name.rsplit("_", 1)[1]
    return (type_, "u32") if "class" in name else (type_, type_)


def _vopc(ins: Instruction) -> Callable[[Wave], None]:
    return _vopc_run(ins.name, _sources_e32(ins, _compare_types(ins.name)), VCC)


def _vop3_sources(ins: Instruction, types: tuple[str, ...]) -> list[Reader]:
    f = ins.fields
    abs_, neg, opsel = f.get("abs", 0), f["neg"], f.get("opsel", 0)
    codes = (f["src0"], f["src1"], f["src2"])
    return [_typed(codes[i], ins.literal, t, bool(opsel >> i & 1), bool(abs_ >> i & 1), bool(neg >> i & 1))
            for i, t in enumerate(types)]  # fmt: skip


def _vop3(ins: Instruction) -> Callable[[Wave], None]:
    name, f = ins.name, ins.fields
    if ins.opcode < 0x100:
        return _vopc_run(name, _vop3_sources(ins, _compare_types(name)), f["vdst"])
    if name in ("v_cndmask_b32", "v_cndmask_b16"):
        bits = 32 if name.endswith("32") else 16
        types = ("f32", "f32") if bits == 32 else ("f16", "f16")  # abs/neg act on the sign bit, as for floats
        hi = bool(f["opsel"] >> 3 & 1)
        return _cndmask(_vop3_sources(ins, types), scalar_reader(f["src2"], ins.literal), f["vdst"], bits, hi)
    if name == "v_readlane_b32":
        read, lane = vector_reader(f["src0"], None, 32), scalar_reader(f["src1"], ins.literal)
        write = scalar_writer(f["vdst"])
        return lambda w: write(w, int(read(w)[lane(w) % LANES]))
    if name == "v_writelane_b32":
        value, lane = scalar_reader(f["src0"], ins.literal), scalar_reader(f["src1"], ins.literal)

        def writelane(w: Wave) -> None:
            w.vgpr[f["vdst"], lane(w) % LANES] = value(w)

        return writelane
    if "sdst" in f:
        return _vop3sd(ins)
    op = VALU[name]
    types = op.srcs
    if name in ("v_fmac_f32", "v_fmac_f16"):
        sources = _vop3_sources(ins, types[:2]) + [_typed(256 + f["vdst"], None, types[2])]
    else:
        sources = _vop3_sources(ins, types)
    return _alu(name, sources, f["vdst"], bool(f["opsel"] >> 3 & 1), bool(f["clamp"]), f["omod"])


def _vop3sd(ins: Instruction) -> Callable[[Wave], None]:
    name, f = ins.name, ins.fields
    carry_out = scalar_writer(f["sdst"])
    if name.startswith(("v_add_co", "v_sub_co", "v_subrev_co")):
        carry_in = scalar_reader(f["src2"], ins.literal) if "_ci_" in name else None
        return _carry_op(name, _vop3_sources(ins, ("u32", "u32")), carry_in, f["vdst"], carry_out)
    if name.startswith("v_div_scale"):
        type_ = name.rsplit("_", 1)[1]
        (source,) = _vop3_sources(ins, (type_,))
        convert, write = _result(type_), vector_writer(f["vdst"], TYPES[type_][0])

        def div_scale(w: Wave) -> None:
            write(w, convert(source(w)), w.exec_mask())
            carry_out(w, 0)

        return div_scale
    signed = name == "v_mad_i64_i32"
    types = ("i32", "i32", "i64") if signed else ("u32", "u32", "u64")
    a, b, c = _vop3_sources(ins, types)
    write = vector_writer(f["vdst"], 64)

    def mad64(w: Wave) -> None:
        wide = a(w).astype(object) * b(w).astype(object) + c(w).astype(object)
        exec_ = w.exec_mask()
        write(w, np.array([int(x) & (2**64 - 1) for x in wide], np.uint64), exec_)
        overflow = np.array([not (-(2**63) <= int(x) < 2**63) if signed else int(x) >> 64 != 0 for x in wide])
        carry_out(w, mask_bits(overflow & exec_))

    return mad64


def _vop3p(ins: Instruction) -> Callable[[Wave], None]:
    name, f = ins.name, ins.fields
    codes = (f["src0"], f["src1"], f["src2"])
    if name.startswith("v_fma_mix"):
        sources = []
        for i in range(3):
            if f["opsel_hi"] >> i & 1:
                half = _typed(codes[i], ins.literal, "f16", bool(f["opsel"] >> i & 1), bool(f["neg_hi"] >> i & 1),
                              bool(f["neg"] >> i & 1))  # fmt: skip
                sources.append(lambda w, r=half: r(w).astype(np.float32))
            else:
                sources.append(_typed(codes[i], ins.literal, "f32", False, bool(f["neg_hi"] >> i & 1),
                                      bool(f["neg"] >> i & 1)))  # fmt: skip
        dst = "f32" if name == "v_fma_mix_f32" else "f16"
        op = VALU[f"v_fma_{dst}"]
        convert = _result(dst, bool(f["clamp"]))
        write = vector_writer(f["vdst"], TYPES[dst][0], name.endswith("hi_f16"))
        return lambda w: write(w, convert(op.fn(*[s(w) for s in sources])), w.exec_mask())
    scalar_name = name.replace("v_pk_", "v_")
    op = VALU[scalar_name]
    n = len(op.srcs)
    lo = [_typed(codes[i], ins.literal, op.srcs[i], bool(f["opsel"] >> i & 1), False, bool(f["neg"] >> i & 1))
          for i in range(n)]  # fmt: skip
    hi = [_typed(codes[i], ins.literal, op.srcs[i], bool(f["opsel_hi"] >> i & 1), False, bool(f["neg_hi"] >> i & 1))
          for i in range(n)]  # fmt: skip
    convert, write = _result(op.dst, bool(f["clamp"])), vector_writer(f["vdst"], 32)

    def packed(w: Wave) -> None:
        low = convert(op.fn(*[r(w) for r in lo])).astype(np.uint32)
        high = convert(op.fn(*[r(w) for r in hi])).astype(np.uint32)
        write(w, low | high << np.uint32(16), w.exec_mask())

    return packed


def _dual_half(name: str, src0: int, vsrc1: int, vdst: int, literal: int | None):
    """(compute, write) for one half of a VOPD pair; all sources are read before either half writes."""
    base = name.replace("v_dual_", "v_")
    write = vector_writer(vdst, 32)
    src0_r, src1_r = _typed(src0, literal, "f32"), _typed(vsrc1, literal, "f32")
    if base == "v_cndmask_b32":
        return (lambda w: np.where(w.vcc_mask(), src1_r(w), src0_r(w)).view(np.uint32)), write
    if base == "v_mov_b32":
        return (lambda w: src0_r(w).view(np.uint32)), write
    op = VALU[base]
    if base in ("v_fmaak_f32", "v_fmamk_f32"):
        lit = _typed(LITERAL, literal, "f32")
        sources = [src0_r, src1_r, lit] if base == "v_fmaak_f32" else [src0_r, lit, src1_r]
    elif base == "v_fmac_f32":
        sources = [src0_r, src1_r, _typed(256 + vdst, None, "f32")]
    else:
        sources = [_typed(c, literal, t) for c, t in zip((src0, vsrc1), op.srcs)]
    convert = _result(op.dst)
    return (lambda w: convert(op.fn(*[s(w) for s in sources]))), write


def _vopd(ins: Instruction) -> Callable[[Wave], None]:
    f = ins.fields
    x_name, y_name = ins.name.split("::")
    x, write_x = _dual_half(x_name, f["src0x"], f["vsrc1x"], f["vdstx"], ins.literal)
    y, write_y = _dual_half(y_name, f["src0y"], f["vsrc1y"], f["vdsty"], ins.literal)

    def run(w: Wave) -> None:
        exec_ = w.exec_mask()
        rx, ry = x(w), np.array(y(w))  # a copy: Y's result may be a view of the register X writes
        write_x(w, rx, exec_)
        write_y(w, ry, exec_)

    return run


_BUILDERS = {"VOP1": _vop1, "VOP2": _vop2, "VOPC": _vopc, "VOP3": _vop3, "VOP3P": _vop3p, "VOPD": _vopd}


def build_vector(ins: Instruction) -> Callable[[Wave], None]:
    """The executor of a vector ALU instruction; UnknownInstruction for DPP operands (not emulated)."""
    if ins.fields.get("src0") in (233, 234, 250):
        raise UnknownInstruction(f"{ins.describe()} with DPP", ins.address)
    return _BUILDERS[ins.format](ins)
