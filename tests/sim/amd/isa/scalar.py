"""Scalar ALU (SOP1, SOP2, SOPC, SOPK) and program control (SOPP) semantics, on Python ints.

Each `OPS_*` entry maps an instruction name to a function of its unsigned source values that
returns (result, SCC) — SCC None leaves SCC unchanged. Widths follow the name's suffix; results
wrap to the destination width. Waits, hints and cache invalidations are no-ops in an in-order
emulator; branches set the wave's pc.
"""

from __future__ import annotations

from collections.abc import Callable

from .decoder import Instruction
from .errors import UnknownInstruction
from .wave import EXEC, VCC, Wave, scalar_reader, scalar_writer

__all__ = ["build_scalar"]

M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def _s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x >> 31 else x


def _s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def _sext(x: int, bits: int) -> int:
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def _nz(x: int) -> int:
    return int(x != 0)


def _bfe(value: int, spec: int, bits: int, signed: bool) -> int:
    offset, width = spec & (bits - 1), (spec >> 16) & 0x7F
    field = (value >> offset) & ((1 << width) - 1) if width else 0
    return _sext(field, width) if signed and width else field


def _cls(x: int) -> int:
    """Position (from the MSB, 1..31) of the first bit differing from the sign bit; -1 if none."""
    sign = x >> 31 & 1
    return next((i for i in range(1, 32) if (x >> (31 - i) & 1) != sign), -1)


def _brev(x: int) -> int:
    return int(f"{x & M32:032b}"[::-1], 2)


def _clz(x: int) -> int:
    return 32 - (x & M32).bit_length() if x else -1


def _ctz(x: int) -> int:
    return (x & -x).bit_length() - 1 if x else -1


OPS_SOP2: dict[str, Callable[..., tuple[int, int | None]]] = {
    "s_add_u32": lambda a, b, c: ((a + b) & M32, (a + b) >> 32),
    "s_sub_u32": lambda a, b, c: ((a - b) & M32, int(b > a)),
    "s_addc_u32": lambda a, b, c: ((a + b + c) & M32, (a + b + c) >> 32),
    "s_subb_u32": lambda a, b, c: ((a - b - c) & M32, int(b + c > a)),
    "s_add_i32": lambda a, b, c: ((a + b) & M32, int(_s32(a) + _s32(b) != _s32(a + b))),
    "s_sub_i32": lambda a, b, c: ((a - b) & M32, int(_s32(a) - _s32(b) != _s32(a - b))),
    "s_absdiff_i32": lambda a, b, c: (abs(_s32(a) - _s32(b)) & M32, _nz(abs(_s32(a) - _s32(b)) & M32)),
    "s_lshl_b32": lambda a, b, c: ((a << (b & 31)) & M32, _nz((a << (b & 31)) & M32)),
    "s_lshl_b64": lambda a, b, c: ((a << (b & 63)) & M64, _nz((a << (b & 63)) & M64)),
    "s_lshr_b32": lambda a, b, c: (a >> (b & 31), _nz(a >> (b & 31))),
    "s_lshr_b64": lambda a, b, c: (a >> (b & 63), _nz(a >> (b & 63))),
    "s_ashr_i32": lambda a, b, c: ((_s32(a) >> (b & 31)) & M32, _nz(_s32(a) >> (b & 31))),
    "s_ashr_i64": lambda a, b, c: ((_s64(a) >> (b & 63)) & M64, _nz(_s64(a) >> (b & 63))),
    "s_min_i32": lambda a, b, c: (a if _s32(a) < _s32(b) else b, int(_s32(a) < _s32(b))),
    "s_min_u32": lambda a, b, c: (min(a, b), int(a < b)),
    "s_max_i32": lambda a, b, c: (a if _s32(a) > _s32(b) else b, int(_s32(a) > _s32(b))),
    "s_max_u32": lambda a, b, c: (max(a, b), int(a > b)),
    "s_and_b32": lambda a, b, c: (a & b, _nz(a & b)),
    "s_and_b64": lambda a, b, c: (a & b, _nz(a & b)),
    "s_or_b32": lambda a, b, c: (a | b, _nz(a | b)),
    "s_or_b64": lambda a, b, c: (a | b, _nz(a | b)),
    "s_xor_b32": lambda a, b, c: (a ^ b, _nz(a ^ b)),
    "s_xor_b64": lambda a, b, c: (a ^ b, _nz(a ^ b)),
    "s_nand_b32": lambda a, b, c: (~(a & b) & M32, _nz(~(a & b) & M32)),
    "s_nor_b32": lambda a, b, c: (~(a | b) & M32, _nz(~(a | b) & M32)),
    "s_xnor_b32": lambda a, b, c: (~(a ^ b) & M32, _nz(~(a ^ b) & M32)),
    "s_and_not1_b32": lambda a, b, c: (a & ~b & M32, _nz(a & ~b & M32)),
    "s_and_not1_b64": lambda a, b, c: (a & ~b & M64, _nz(a & ~b & M64)),
    "s_or_not1_b32": lambda a, b, c: ((a | ~b) & M32, _nz((a | ~b) & M32)),
    "s_bfe_u32": lambda a, b, c: (_bfe(a, b, 32, False), _nz(_bfe(a, b, 32, False))),
    "s_bfe_i32": lambda a, b, c: (_bfe(a, b, 32, True) & M32, _nz(_bfe(a, b, 32, True))),
    "s_bfe_u64": lambda a, b, c: (_bfe(a, b, 64, False), _nz(_bfe(a, b, 64, False))),
    "s_bfe_i64": lambda a, b, c: (_bfe(a, b, 64, True) & M64, _nz(_bfe(a, b, 64, True))),
    "s_bfm_b32": lambda a, b, c: ((((1 << (a & 31)) - 1) << (b & 31)) & M32, None),
    "s_mul_i32": lambda a, b, c: ((a * b) & M32, None),
    "s_mul_hi_u32": lambda a, b, c: ((a * b) >> 32, None),
    "s_mul_hi_i32": lambda a, b, c: (((_s32(a) * _s32(b)) >> 32) & M32, None),
    "s_cselect_b32": lambda a, b, c: (a if c else b, None),
    "s_cselect_b64": lambda a, b, c: (a if c else b, None),
    "s_pack_ll_b32_b16": lambda a, b, c: ((a & 0xFFFF) | (b & 0xFFFF) << 16, None),
}  # fmt: skip
for _n in (1, 2, 3, 4):
    OPS_SOP2[f"s_lshl{_n}_add_u32"] = lambda a, b, c, n=_n: (((a << n) + b) & M32, ((a << n) + b) >> 32 != 0)

OPS_SOP1: dict[str, Callable[[int, int], tuple[int, int | None]]] = {
    "s_mov_b32": lambda a, c: (a, None),
    "s_mov_b64": lambda a, c: (a, None),
    "s_brev_b32": lambda a, c: (_brev(a), None),
    "s_ctz_i32_b32": lambda a, c: (_ctz(a) & M32, None),
    "s_clz_i32_u32": lambda a, c: (_clz(a) & M32, None),
    "s_cls_i32": lambda a, c: (_cls(a) & M32, None),
    "s_sext_i32_i8": lambda a, c: (_sext(a, 8) & M32, None),
    "s_sext_i32_i16": lambda a, c: (_sext(a, 16) & M32, None),
    "s_abs_i32": lambda a, c: (abs(_s32(a)) & M32, _nz(a)),
    "s_bcnt0_i32_b32": lambda a, c: (32 - a.bit_count(), _nz(32 - a.bit_count())),
    "s_bcnt1_i32_b32": lambda a, c: (a.bit_count(), _nz(a.bit_count())),
    "s_not_b32": lambda a, c: (~a & M32, _nz(~a & M32)),
}  # fmt: skip
_BITSET = {"s_bitset0_b32": 0, "s_bitset1_b32": 1}
_SAVEEXEC = {
    "s_and_saveexec_b32": lambda s, e: s & e, "s_or_saveexec_b32": lambda s, e: s | e,
    "s_xor_saveexec_b32": lambda s, e: s ^ e, "s_and_not1_saveexec_b32": lambda s, e: s & ~e & M32,
    "s_or_not1_saveexec_b32": lambda s, e: (s | ~e) & M32,
}  # fmt: skip
"""EXEC = f(source, old EXEC), the old EXEC to the destination, SCC = EXEC != 0."""

_CMP = {"eq": lambda a, b: a == b, "lg": lambda a, b: a != b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}  # fmt: skip


def _compare(name: str) -> Callable[[int, int], int]:
    """s_cmp_<cond>_<type> / s_cmpk_<cond>_<type> / s_bitcmp<0|1>_b32 as a function of unsigned sources."""
    if name.startswith("s_bitcmp"):
        want = int(name[8])
        return lambda a, b: int((a >> (b & 31) & 1) == want)
    cond, type_ = name.split("_")[2:4]
    test = _CMP[cond]
    if type_ == "i32":
        return lambda a, b: int(test(_s32(a), _s32(b)))
    return lambda a, b: int(test(a, b))


def _width(name: str) -> int:
    return 64 if name.endswith("64") else 32


def _sop2(ins: Instruction) -> Callable[[Wave], None]:
    op, bits, f = OPS_SOP2[ins.name], _width(ins.name), ins.fields
    shift_amount = ins.name.startswith(("s_lshl_", "s_lshr_", "s_ashr_", "s_bfe_"))
    a = scalar_reader(f["ssrc0"], ins.literal, bits)
    b = scalar_reader(f["ssrc1"], ins.literal, 32 if shift_amount else bits)
    write = scalar_writer(f["sdst"], bits)

    def run(w: Wave) -> None:
        result, scc = op(a(w), b(w), w.scc)
        write(w, result)
        if scc is not None:
            w.scc = int(scc)

    return run


def _sop1(ins: Instruction) -> Callable[[Wave], None]:
    name, f = ins.name, ins.fields
    if name == "s_getpc_b64":
        write, next_pc = scalar_writer(f["sdst"], 64), ins.address + ins.size
        return lambda w: write(w, next_pc)
    a, write = scalar_reader(f["ssrc0"], ins.literal, _width(name)), scalar_writer(f["sdst"], _width(name))
    if name in _SAVEEXEC:
        combine = _SAVEEXEC[name]

        def saveexec(w: Wave) -> None:
            old = w.sgpr[EXEC]
            w.sgpr[EXEC] = combine(a(w), old)
            write(w, old)
            w.scc = int(w.sgpr[EXEC] != 0)

        return saveexec
    if name in _BITSET:
        bit, old = _BITSET[name], scalar_reader(f["sdst"], None)
        return lambda w: write(w, old(w) & ~(1 << (a(w) & 31)) | bit << (a(w) & 31))
    op = OPS_SOP1[name]

    def run(w: Wave) -> None:
        result, scc = op(a(w), w.scc)
        write(w, result)
        if scc is not None:
            w.scc = scc

    return run


def _sopc(ins: Instruction) -> Callable[[Wave], None]:
    bits = 32 if ins.name.startswith("s_bitcmp") else _width(ins.name)
    a, b = scalar_reader(ins.fields["ssrc0"], ins.literal, bits), scalar_reader(ins.fields["ssrc1"], ins.literal, bits)
    test = _compare(ins.name)

    def run(w: Wave) -> None:
        w.scc = test(a(w), b(w))

    return run


def _sopk(ins: Instruction) -> Callable[[Wave], None]:
    name, simm = ins.name, ins.fields["simm16"]
    sdst = ins.fields["sdst"]
    signed = _sext(simm, 16) & M32
    read, write = scalar_reader(sdst, None), scalar_writer(sdst)
    if name.startswith("s_waitcnt"):
        return lambda w: None
    if name == "s_movk_i32":
        return lambda w: write(w, signed)
    if name == "s_cmovk_i32":
        return lambda w: write(w, signed) if w.scc else None
    if name == "s_mulk_i32":
        return lambda w: write(w, read(w) * signed)
    if name == "s_addk_i32":

        def addk(w: Wave) -> None:
            a = read(w)
            write(w, a + signed)
            w.scc = int(_s32(a) + _sext(simm, 16) != _s32(a + signed))

        return addk
    test, imm = _compare(name.replace("cmpk", "cmp")), signed if name.endswith("i32") else simm

    def cmpk(w: Wave) -> None:
        w.scc = test(read(w), imm)

    return cmpk


_BRANCH_TAKEN: dict[str, Callable[[Wave], bool]] = {
    "s_branch": lambda w: True,
    "s_cbranch_scc0": lambda w: w.scc == 0,
    "s_cbranch_scc1": lambda w: w.scc == 1,
    "s_cbranch_vccz": lambda w: w.sgpr[VCC] == 0,
    "s_cbranch_vccnz": lambda w: w.sgpr[VCC] != 0,
    "s_cbranch_execz": lambda w: w.sgpr[EXEC] == 0,
    "s_cbranch_execnz": lambda w: w.sgpr[EXEC] != 0,
}
_NOPS = frozenset({"s_nop", "s_set_inst_prefetch_distance", "s_clause", "s_delay_alu", "s_waitcnt_depctr",
                   "s_waitcnt", "s_sendmsg"})  # fmt: skip


def _sopp(ins: Instruction) -> Callable[[Wave], None]:
    name = ins.name
    if name in _NOPS:
        return lambda w: None
    if name == "s_endpgm":

        def endpgm(w: Wave) -> None:
            w.done = True

        return endpgm
    if name == "s_barrier":

        def barrier(w: Wave) -> None:
            w.at_barrier = True

        return barrier
    if name in _BRANCH_TAKEN:
        taken, target = _BRANCH_TAKEN[name], ins.address + 4 + 4 * _sext(ins.fields["simm16"], 16)

        def branch(w: Wave) -> None:
            if taken(w):
                w.pc = target

        return branch
    raise UnknownInstruction(f"{name} (ran past the end of the program)" if name == "s_code_end" else name,
                             ins.address)  # fmt: skip


_BUILDERS = {"SOP1": _sop1, "SOP2": _sop2, "SOPC": _sopc, "SOPK": _sopk, "SOPP": _sopp}


def build_scalar(ins: Instruction) -> Callable[[Wave], None]:
    """The executor of a scalar ALU or program-control instruction."""
    return _BUILDERS[ins.format](ins)
