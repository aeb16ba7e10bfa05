"""RDNA3 (gfx11) instruction encodings: how to tell the formats apart, their opcode tables, operand codes.

Facts from the "RDNA3 Instruction Set Architecture" reference (chapter "Microcode Formats"),
checked against LLVM's assembler by tests/sim/amd/test_isa_decoder.py. Opcode tables hold the
instructions the emulator knows; the compare (VOPC) table is generated from its regular layout.
VOP1, VOP2 and VOPC instructions also exist as VOP3 ("_e64") at VOP3_BASE offsets.
"""

from __future__ import annotations

__all__ = ["FORMATS", "OPCODES", "VOP3_BASE", "VOP3SD", "format_of", "operand_name"]

SOP2 = {
    0x00: "s_add_u32", 0x01: "s_sub_u32", 0x02: "s_add_i32", 0x03: "s_sub_i32", 0x04: "s_addc_u32",
    0x05: "s_subb_u32", 0x06: "s_absdiff_i32", 0x08: "s_lshl_b32", 0x09: "s_lshl_b64", 0x0A: "s_lshr_b32",
    0x0B: "s_lshr_b64", 0x0C: "s_ashr_i32", 0x0D: "s_ashr_i64", 0x0E: "s_lshl1_add_u32", 0x0F: "s_lshl2_add_u32",
    0x10: "s_lshl3_add_u32", 0x11: "s_lshl4_add_u32", 0x12: "s_min_i32", 0x13: "s_min_u32", 0x14: "s_max_i32",
    0x15: "s_max_u32", 0x16: "s_and_b32", 0x17: "s_and_b64", 0x18: "s_or_b32", 0x19: "s_or_b64",
    0x1A: "s_xor_b32", 0x1B: "s_xor_b64", 0x1C: "s_nand_b32", 0x1E: "s_nor_b32", 0x20: "s_xnor_b32",
    0x22: "s_and_not1_b32", 0x23: "s_and_not1_b64", 0x24: "s_or_not1_b32", 0x26: "s_bfe_u32", 0x27: "s_bfe_i32",
    0x28: "s_bfe_u64", 0x29: "s_bfe_i64", 0x2A: "s_bfm_b32", 0x2C: "s_mul_i32", 0x2D: "s_mul_hi_u32",
    0x2E: "s_mul_hi_i32", 0x30: "s_cselect_b32", 0x31: "s_cselect_b64", 0x32: "s_pack_ll_b32_b16",
}  # fmt: skip
SOPK = {0x00: "s_movk_i32", 0x02: "s_cmovk_i32", 0x03: "s_cmpk_eq_i32", 0x04: "s_cmpk_lg_i32", 0x05: "s_cmpk_gt_i32",
        0x06: "s_cmpk_ge_i32", 0x07: "s_cmpk_lt_i32", 0x08: "s_cmpk_le_i32", 0x09: "s_cmpk_eq_u32",
        0x0A: "s_cmpk_lg_u32", 0x0B: "s_cmpk_gt_u32", 0x0C: "s_cmpk_ge_u32", 0x0D: "s_cmpk_lt_u32",
        0x0E: "s_cmpk_le_u32", 0x0F: "s_addk_i32", 0x10: "s_mulk_i32", 0x18: "s_waitcnt_vscnt",
        0x19: "s_waitcnt_vmcnt", 0x1A: "s_waitcnt_expcnt", 0x1B: "s_waitcnt_lgkmcnt"}  # fmt: skip
SOP1 = {
    0x00: "s_mov_b32", 0x01: "s_mov_b64", 0x02: "s_cmov_b32", 0x04: "s_brev_b32", 0x08: "s_ctz_i32_b32",
    0x0A: "s_clz_i32_u32", 0x0C: "s_cls_i32", 0x0E: "s_sext_i32_i8", 0x0F: "s_sext_i32_i16", 0x10: "s_bitset0_b32",
    0x12: "s_bitset1_b32", 0x15: "s_abs_i32", 0x16: "s_bcnt0_i32_b32", 0x18: "s_bcnt1_i32_b32", 0x1E: "s_not_b32",
    0x20: "s_and_saveexec_b32", 0x22: "s_or_saveexec_b32", 0x24: "s_xor_saveexec_b32",
    0x30: "s_and_not1_saveexec_b32", 0x32: "s_or_not1_saveexec_b32", 0x47: "s_getpc_b64",
}  # fmt: skip
SOPC = {0x00: "s_cmp_eq_i32", 0x01: "s_cmp_lg_i32", 0x02: "s_cmp_gt_i32", 0x03: "s_cmp_ge_i32", 0x04: "s_cmp_lt_i32",
        0x05: "s_cmp_le_i32", 0x06: "s_cmp_eq_u32", 0x07: "s_cmp_lg_u32", 0x08: "s_cmp_gt_u32", 0x09: "s_cmp_ge_u32",
        0x0A: "s_cmp_lt_u32", 0x0B: "s_cmp_le_u32", 0x0C: "s_bitcmp0_b32", 0x0D: "s_bitcmp1_b32",
        0x10: "s_cmp_eq_u64", 0x11: "s_cmp_lg_u64"}  # fmt: skip
SOPP = {0x00: "s_nop", 0x04: "s_set_inst_prefetch_distance", 0x05: "s_clause", 0x07: "s_delay_alu",
        0x08: "s_waitcnt_depctr", 0x09: "s_waitcnt", 0x1F: "s_code_end", 0x20: "s_branch", 0x21: "s_cbranch_scc0",
        0x22: "s_cbranch_scc1", 0x23: "s_cbranch_vccz", 0x24: "s_cbranch_vccnz", 0x25: "s_cbranch_execz",
        0x26: "s_cbranch_execnz", 0x30: "s_endpgm", 0x36: "s_sendmsg", 0x3D: "s_barrier"}  # fmt: skip
SMEM = {0x00: "s_load_b32", 0x01: "s_load_b64", 0x02: "s_load_b128", 0x03: "s_load_b256", 0x04: "s_load_b512"}
VOP1 = {
    0x00: "v_nop", 0x01: "v_mov_b32", 0x02: "v_readfirstlane_b32", 0x03: "v_cvt_i32_f64", 0x04: "v_cvt_f64_i32",
    0x05: "v_cvt_f32_i32", 0x06: "v_cvt_f32_u32", 0x07: "v_cvt_u32_f32", 0x08: "v_cvt_i32_f32", 0x0A: "v_cvt_f16_f32",
    0x0B: "v_cvt_f32_f16", 0x0F: "v_cvt_f32_f64", 0x10: "v_cvt_f64_f32", 0x11: "v_cvt_f32_ubyte0",
    0x12: "v_cvt_f32_ubyte1", 0x13: "v_cvt_f32_ubyte2", 0x14: "v_cvt_f32_ubyte3", 0x15: "v_cvt_u32_f64",
    0x16: "v_cvt_f64_u32", 0x17: "v_trunc_f64", 0x18: "v_ceil_f64", 0x19: "v_rndne_f64", 0x1A: "v_floor_f64",
    0x1C: "v_mov_b16", 0x20: "v_fract_f32", 0x21: "v_trunc_f32", 0x22: "v_ceil_f32", 0x23: "v_rndne_f32",
    0x24: "v_floor_f32", 0x25: "v_exp_f32", 0x27: "v_log_f32", 0x2A: "v_rcp_f32", 0x2B: "v_rcp_iflag_f32",
    0x2E: "v_rsq_f32", 0x2F: "v_rcp_f64", 0x31: "v_rsq_f64", 0x33: "v_sqrt_f32", 0x34: "v_sqrt_f64",
    0x35: "v_sin_f32", 0x36: "v_cos_f32", 0x37: "v_not_b32", 0x38: "v_bfrev_b32", 0x39: "v_clz_i32_u32",
    0x3A: "v_ctz_i32_b32", 0x3B: "v_cls_i32", 0x3F: "v_frexp_exp_i32_f32", 0x40: "v_frexp_mant_f32",
    0x50: "v_cvt_f16_u16", 0x51: "v_cvt_f16_i16", 0x52: "v_cvt_u16_f16", 0x53: "v_cvt_i16_f16", 0x54: "v_rcp_f16",
    0x55: "v_sqrt_f16", 0x56: "v_rsq_f16", 0x57: "v_log_f16", 0x58: "v_exp_f16", 0x5B: "v_floor_f16",
    0x5C: "v_ceil_f16", 0x5D: "v_trunc_f16", 0x5E: "v_rndne_f16", 0x60: "v_sin_f16", 0x61: "v_cos_f16",
}  # fmt: skip
VOP2 = {
    0x01: "v_cndmask_b32", 0x03: "v_add_f32", 0x04: "v_sub_f32", 0x05: "v_subrev_f32", 0x07: "v_mul_dx9_zero_f32",
    0x08: "v_mul_f32", 0x09: "v_mul_i32_i24", 0x0A: "v_mul_hi_i32_i24", 0x0B: "v_mul_u32_u24",
    0x0C: "v_mul_hi_u32_u24", 0x0F: "v_min_f32", 0x10: "v_max_f32",
    0x11: "v_min_i32", 0x12: "v_max_i32", 0x13: "v_min_u32", 0x14: "v_max_u32", 0x18: "v_lshlrev_b32",
    0x19: "v_lshrrev_b32", 0x1A: "v_ashrrev_i32", 0x1B: "v_and_b32", 0x1C: "v_or_b32", 0x1D: "v_xor_b32",
    0x1E: "v_xnor_b32", 0x20: "v_add_co_ci_u32", 0x21: "v_sub_co_ci_u32", 0x22: "v_subrev_co_ci_u32",
    0x25: "v_add_nc_u32", 0x26: "v_sub_nc_u32", 0x27: "v_subrev_nc_u32", 0x2B: "v_fmac_f32", 0x2C: "v_fmamk_f32",
    0x2D: "v_fmaak_f32", 0x32: "v_add_f16", 0x33: "v_sub_f16", 0x34: "v_subrev_f16", 0x35: "v_mul_f16",
    0x36: "v_fmac_f16", 0x39: "v_max_f16", 0x3A: "v_min_f16", 0x3B: "v_ldexp_f16",
}  # fmt: skip
VOP3 = {
    0x20A: "v_mad_i32_i24", 0x20B: "v_mad_u32_u24", 0x210: "v_bfe_u32", 0x211: "v_bfe_i32", 0x212: "v_bfi_b32",
    0x213: "v_fma_f32", 0x214: "v_fma_f64", 0x216: "v_alignbit_b32", 0x219: "v_min3_f32", 0x21A: "v_min3_i32",
    0x21B: "v_min3_u32", 0x21C: "v_max3_f32", 0x21D: "v_max3_i32", 0x21E: "v_max3_u32", 0x21F: "v_med3_f32",
    0x220: "v_med3_i32", 0x221: "v_med3_u32", 0x227: "v_div_fixup_f32", 0x228: "v_div_fixup_f64",
    0x237: "v_div_fmas_f32", 0x238: "v_div_fmas_f64", 0x245: "v_xad_u32", 0x246: "v_lshl_add_u32",
    0x247: "v_add_lshl_u32", 0x248: "v_fma_f16", 0x249: "v_min3_f16", 0x24A: "v_min3_i16", 0x24B: "v_min3_u16",
    0x24C: "v_max3_f16", 0x24D: "v_max3_i16", 0x24E: "v_max3_u16", 0x254: "v_div_fixup_f16", 0x255: "v_add3_u32",
    0x256: "v_lshl_or_b32", 0x257: "v_and_or_b32", 0x258: "v_or3_b32", 0x259: "v_mad_u32_u16", 0x25D: "v_cndmask_b16",
    0x2FC: "v_div_scale_f32", 0x2FD: "v_div_scale_f64", 0x2FE: "v_mad_u64_u32", 0x2FF: "v_mad_i64_i32",
    0x300: "v_add_co_u32", 0x301: "v_sub_co_u32", 0x302: "v_subrev_co_u32", 0x303: "v_add_nc_u16",
    0x304: "v_sub_nc_u16", 0x305: "v_mul_lo_u16", 0x309: "v_max_u16", 0x30A: "v_max_i16", 0x30B: "v_min_u16",
    0x30C: "v_min_i16", 0x30D: "v_add_nc_i16", 0x31C: "v_ldexp_f32", 0x327: "v_add_f64", 0x328: "v_mul_f64",
    0x329: "v_min_f64", 0x32A: "v_max_f64", 0x32B: "v_ldexp_f64", 0x32C: "v_mul_lo_u32", 0x32D: "v_mul_hi_u32",
    0x32E: "v_mul_hi_i32", 0x33C: "v_lshlrev_b64", 0x33D: "v_lshrrev_b64", 0x33E: "v_ashrrev_i64",
    0x338: "v_lshlrev_b16", 0x339: "v_lshrrev_b16", 0x33A: "v_ashrrev_i16", 0x360: "v_readlane_b32",
    0x361: "v_writelane_b32", 0x362: "v_and_b16", 0x363: "v_or_b16", 0x364: "v_xor_b16",
}  # fmt: skip
VOP3SD = frozenset(
    {
        "v_div_scale_f32",
        "v_div_scale_f64",
        "v_mad_u64_u32",
        "v_mad_i64_i32",
        "v_add_co_u32",
        "v_sub_co_u32",
        "v_subrev_co_u32",
        "v_add_co_ci_u32",
        "v_sub_co_ci_u32",
        "v_subrev_co_ci_u32",
    }
)
"""VOP3 instructions in the VOP3SD layout: a scalar destination (carry/VCC out) where VOP3 has abs/op_sel."""
VOP3P = {0x0A: "v_pk_add_u16", 0x0E: "v_pk_fma_f16", 0x0F: "v_pk_add_f16", 0x10: "v_pk_mul_f16",
         0x11: "v_pk_min_f16", 0x12: "v_pk_max_f16", 0x20: "v_fma_mix_f32", 0x21: "v_fma_mixlo_f16",
         0x22: "v_fma_mixhi_f16"}  # fmt: skip
VOPD = {0x0: "v_dual_fmac_f32", 0x1: "v_dual_fmaak_f32", 0x2: "v_dual_fmamk_f32", 0x3: "v_dual_mul_f32",
        0x4: "v_dual_add_f32", 0x5: "v_dual_sub_f32", 0x6: "v_dual_subrev_f32", 0x7: "v_dual_mul_dx9_zero_f32",
        0x8: "v_dual_mov_b32", 0x9: "v_dual_cndmask_b32", 0xA: "v_dual_max_f32", 0xB: "v_dual_min_f32",
        0x10: "v_dual_add_nc_u32", 0x11: "v_dual_lshlrev_b32", 0x12: "v_dual_and_b32"}  # fmt: skip
DS = {
    0x00: "ds_add_u32", 0x01: "ds_sub_u32", 0x05: "ds_min_i32", 0x06: "ds_max_i32", 0x07: "ds_min_u32",
    0x08: "ds_max_u32", 0x09: "ds_and_b32", 0x0A: "ds_or_b32", 0x0B: "ds_xor_b32", 0x0D: "ds_store_b32",
    0x0E: "ds_store_2addr_b32", 0x0F: "ds_store_2addr_stride64_b32", 0x12: "ds_min_f32", 0x13: "ds_max_f32",
    0x15: "ds_add_f32", 0x1E: "ds_store_b8", 0x1F: "ds_store_b16", 0x36: "ds_load_b32", 0x37: "ds_load_2addr_b32",
    0x38: "ds_load_2addr_stride64_b32", 0x39: "ds_load_i8", 0x3A: "ds_load_u8", 0x3B: "ds_load_i16",
    0x3C: "ds_load_u16", 0x4D: "ds_store_b64", 0x4E: "ds_store_2addr_b64", 0x4F: "ds_store_2addr_stride64_b64",
    0x76: "ds_load_b64", 0x77: "ds_load_2addr_b64", 0x78: "ds_load_2addr_stride64_b64", 0xDE: "ds_store_b96",
    0xDF: "ds_store_b128", 0xFE: "ds_load_b96", 0xFF: "ds_load_b128",
}  # fmt: skip
FLAT = {0x10: "load_u8", 0x11: "load_i8", 0x12: "load_u16", 0x13: "load_i16", 0x14: "load_b32", 0x15: "load_b64",
        0x16: "load_b96", 0x17: "load_b128", 0x18: "store_b8", 0x19: "store_b16", 0x1A: "store_b32",
        0x1B: "store_b64", 0x1C: "store_b96", 0x1D: "store_b128", 0x1E: "load_d16_u8", 0x1F: "load_d16_i8",
        0x20: "load_d16_b16", 0x21: "load_d16_hi_u8", 0x22: "load_d16_hi_i8", 0x23: "load_d16_hi_b16",
        0x24: "store_d16_hi_b8", 0x25: "store_d16_hi_b16"}  # fmt: skip
"""FLAT/GLOBAL/SCRATCH share opcodes; the segment field picks the prefix (FLAT_SEGMENTS)."""
FLAT_SEGMENTS = {0: "flat_", 1: "scratch_", 2: "global_"}
MUBUF = {0x2B: "buffer_gl0_inv", 0x2C: "buffer_gl1_inv"}

_CMP_FLOAT = ("f", "lt", "eq", "le", "gt", "lg", "ge", "o", "u", "nge", "nlg", "ngt", "nle", "neq", "nlt", "t")
_CMP_INT = ("f", "lt", "eq", "le", "gt", "ne", "ge", "t")


def _vopc() -> dict[int, str]:
    """v_cmp(x)_* by opcode: 16 float conditions per float type, 8 per integer type, class tests at 0x7D-0x7F."""
    table: dict[int, str] = {}
    groups = [(0x00, "f16", _CMP_FLOAT), (0x10, "f32", _CMP_FLOAT), (0x20, "f64", _CMP_FLOAT)]
    groups += [(0x30, "i16", _CMP_INT), (0x38, "u16", _CMP_INT), (0x40, "i32", _CMP_INT), (0x48, "u32", _CMP_INT)]
    groups += [(0x50, "i64", _CMP_INT), (0x58, "u64", _CMP_INT)]
    for base, type_, conditions in groups:
        for i, cond in enumerate(conditions):
            if type_[0] in "iu" and cond in ("f", "t") and type_.endswith("16"):
                continue  # gfx11 has no v_cmp_f/t for 16-bit integers
            table[base + i] = f"v_cmp_{cond}_{type_}"
    table.update({0x7D: "v_cmp_class_f16", 0x7E: "v_cmp_class_f32", 0x7F: "v_cmp_class_f64"})
    table.update({op + 0x80: name.replace("v_cmp_", "v_cmpx_") for op, name in list(table.items())})
    return table


VOPC = _vopc()

VOP3_BASE = {"VOPC": 0x000, "VOP2": 0x100, "VOP1": 0x180}
"""Where VOPC/VOP2/VOP1 opcodes sit in the VOP3 opcode space (their "_e64" forms)."""

VOP3_ALL = {**VOP3, **{VOP3_BASE[f] + op: name for f, t in (("VOPC", VOPC), ("VOP2", VOP2), ("VOP1", VOP1))
                       for op, name in t.items()}}  # fmt: skip

OPCODES: dict[str, dict[int, str]] = {
    "SOP2": SOP2, "SOPK": SOPK, "SOP1": SOP1, "SOPC": SOPC, "SOPP": SOPP, "SMEM": SMEM, "VOP1": VOP1,
    "VOP2": VOP2, "VOPC": VOPC, "VOP3": VOP3_ALL, "VOP3P": VOP3P, "VOPD": VOPD, "DS": DS, "FLAT": FLAT,
    "MUBUF": MUBUF,
}  # fmt: skip
"""Instruction names by format and opcode."""

FORMATS: tuple[tuple[str, int, int, int, int, int], ...] = (
    # (format, top bits of dword 0, their width, dwords, opcode shift, opcode width); first match wins
    ("SOP1", 0b101111101, 9, 1, 8, 8),
    ("SOPC", 0b101111110, 9, 1, 16, 7),
    ("SOPP", 0b101111111, 9, 1, 16, 7),
    ("SOPK", 0b1011, 4, 1, 23, 5),
    ("SOP2", 0b10, 2, 1, 23, 7),
    ("VOP1", 0b0111111, 7, 1, 9, 8),
    ("VOPC", 0b0111110, 7, 1, 17, 8),
    ("VOP2", 0b0, 1, 1, 25, 6),
    ("SMEM", 0b111101, 6, 2, 18, 8),
    ("VOP3", 0b110101, 6, 2, 16, 10),
    ("VOP3P", 0b11001100, 8, 2, 16, 7),
    ("VOPD", 0b110010, 6, 2, 22, 4),
    ("DS", 0b110110, 6, 2, 18, 8),
    ("FLAT", 0b110111, 6, 2, 18, 7),
    ("MUBUF", 0b111000, 6, 2, 18, 8),
)
"""Formats told apart by the top bits of their first dword (RDNA3 ISA, "Microcode Formats")."""


def format_of(word: int) -> tuple[str, int, int]:
    """(format, opcode, dwords before any literal) of the instruction whose first dword is `word`."""
    for name, top, width, dwords, shift, op_width in FORMATS:
        if word >> (32 - width) == top:
            return name, (word >> shift) & ((1 << op_width) - 1), dwords
    return f"an unknown format (dword {word:#010x})", -1, 1


_SPECIAL = {106: "vcc_lo", 107: "vcc_hi", 124: "null", 125: "m0", 126: "exec_lo", 127: "exec_hi",
            240: "0.5", 241: "-0.5", 242: "1.0", 243: "-1.0", 244: "2.0", 245: "-2.0", 246: "4.0", 247: "-4.0",
            248: "0.15915494", 250: "dpp", 251: "src_vccz", 252: "src_execz", 253: "scc", 255: "literal"}  # fmt: skip


def operand_name(code: int) -> str:
    """LLVM's spelling of a 9-bit source operand code: "s5", "v3", "vcc_lo", "-4", "0.5", "literal"."""
    if code < 106:
        return f"s{code}"
    if code >= 256:
        return f"v{code - 256}"
    if 128 <= code <= 192:
        return str(code - 128)
    if 193 <= code <= 208:
        return str(192 - code)
    return _SPECIAL.get(code, f"operand {code}")
