"""Vector ALU instructions (VOP1/VOP2/VOP3/VOP3P/VOPC/VOPD), each assembled by llvm-mc-15 and run on one wave.

Inputs are chosen per lane so each case also checks edge values (NaN, infinities, signed zero,
wrap-around, carries) against numpy's IEEE arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.sim.amd.isa.assembler import assemble, bits, run_code
from tests.sim.amd.isa.errors import UnknownInstruction
from tests.sim.amd.isa.wave import VCC

LANE = np.arange(32)
F = np.linspace(-4, 4, 32).astype(np.float32)  # lane-varying floats, includes no exact zero
F64 = F.astype(np.float64)
G = np.float32([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, 3.5, -2.25] * 4)  # specials and a denormal
U = (LANE * 0x9E3779B9).astype(np.uint32)  # lane-varying 32-bit patterns
S = U.view(np.int32)
POSITIVE = np.linspace(0.25, 9, 32).astype(np.float32)


def f16(x) -> np.ndarray:
    return np.asarray(x, np.float16).view(np.uint16).astype(np.uint32)


# (assembly, {vgpr: lane values}, {sgpr: value}, {vgpr: expected lane values}, float rtol or None for exact bits)
VECTOR_CASES = [
    ("v_add_f32 v2, v0, v1", {0: F, 1: G}, {}, {2: F + G}, None),
    ("v_sub_f32 v2, v0, v1", {0: F, 1: G}, {}, {2: F - G}, None),
    ("v_subrev_f32 v2, v0, v1", {0: F, 1: G}, {}, {2: G - F}, None),
    ("v_mul_f32 v2, v0, v1", {0: F, 1: G}, {}, {2: F * G}, None),
    ("v_fmac_f32 v2, v0, v1", {0: F, 1: F, 2: G}, {}, {2: (F64**2 + G).astype(np.float32)}, None),
    (
        "v_fma_f32 v3, v0, v1, v2",
        {0: F, 1: -F, 2: 1.5},
        {},
        {3: (1.5 - F64**2).astype(np.float32)},
        None,
    ),
    (
        "v_fmaak_f32 v2, v0, v1, 0x40000000",
        {0: F, 1: F},
        {},
        {2: (F64**2 + 2).astype(np.float32)},
        None,
    ),
    ("v_fmamk_f32 v2, v0, 0x40000000, v1", {0: F, 1: F}, {}, {2: F * 2 + F}, None),
    ("v_max_f32 v2, v0, v1", {0: G, 1: F}, {}, {2: np.fmax(G, F)}, None),
    ("v_min_f32 v2, v0, v1", {0: G, 1: F}, {}, {2: np.fmin(G, F)}, None),
    ("v_max3_f32 v3, v0, v1, v2", {0: F, 1: -F, 2: 0.5}, {}, {3: np.maximum(np.abs(F), 0.5)}, None),
    ("v_min3_f32 v3, v0, v1, v2", {0: F, 1: -F, 2: 0.5}, {}, {3: np.minimum(-np.abs(F), 0.5)}, None),
    ("v_med3_f32 v3, v0, v1, v2", {0: F, 1: -1.0, 2: 1.0}, {}, {3: np.clip(F, -1, 1)}, None),
    ("v_add_f32_e64 v2, -v0, |v1|", {0: F, 1: F}, {}, {2: np.abs(F) - F}, None),
    ("v_mul_f32_e64 v2, v0, v1 clamp", {0: F, 1: 0.25}, {}, {2: np.clip(F * 0.25, 0, 1)}, None),
    ("v_mul_f32_e64 v2, v0, v1 mul:2", {0: F, 1: F}, {}, {2: F * F * 2}, None),
    ("v_add_f32 v2, 0.5, v0", {0: F}, {}, {2: F + 0.5}, None),
    ("v_add_f32 v2, s0, v0", {0: F}, {0: 0x3FC00000}, {2: F + 1.5}, None),
    ("v_ldexp_f32 v2, v0, v1", {0: F, 1: LANE - 16}, {}, {2: np.ldexp(F, LANE - 16)}, None),
    ("v_frexp_mant_f32 v2, v0", {0: F}, {}, {2: np.frexp(F)[0]}, None),
    ("v_frexp_exp_i32_f32 v2, v0", {0: F}, {}, {2: np.frexp(F)[1]}, None),
    ("v_exp_f32 v2, v0", {0: F}, {}, {2: np.exp2(F)}, 1e-6),
    ("v_log_f32 v2, v0", {0: POSITIVE}, {}, {2: np.log2(POSITIVE)}, 1e-6),
    ("v_rcp_f32 v2, v0", {0: F}, {}, {2: 1 / F}, 1e-6),
    ("v_rsq_f32 v2, v0", {0: POSITIVE}, {}, {2: 1 / np.sqrt(POSITIVE)}, 1e-6),
    ("v_sqrt_f32 v2, v0", {0: POSITIVE}, {}, {2: np.sqrt(POSITIVE)}, None),
    ("v_sin_f32 v2, v0", {0: F / 8}, {}, {2: np.sin(F / 8 * 2 * np.pi)}, 1e-5),
    ("v_cos_f32 v2, v0", {0: F / 8}, {}, {2: np.cos(F / 8 * 2 * np.pi)}, 1e-5),
    ("v_floor_f32 v2, v0", {0: F}, {}, {2: np.floor(F)}, None),
    ("v_ceil_f32 v2, v0", {0: F}, {}, {2: np.ceil(F)}, None),
    ("v_trunc_f32 v2, v0", {0: F}, {}, {2: np.trunc(F)}, None),
    ("v_rndne_f32 v2, v0", {0: F * 2.5}, {}, {2: np.rint(F * 2.5)}, None),
    (
        "v_cvt_i32_f32 v2, v0",
        {0: G * 1e10},
        {},
        {2: np.int32([0, 2**31 - 1, -(2**31), 0, 0, 0, 2**31 - 1, -(2**31)] * 4)},
        None,
    ),
    ("v_cvt_u32_f32 v2, v0", {0: F * 1000}, {}, {2: np.trunc(np.maximum(F * 1000, 0)).astype(np.uint32)}, None),
    ("v_cvt_f32_i32 v2, v0", {0: S}, {}, {2: S.astype(np.float32)}, None),
    ("v_cvt_f32_u32 v2, v0", {0: U}, {}, {2: U.astype(np.float32)}, None),
    ("v_cvt_f32_ubyte0 v2, v0", {0: U}, {}, {2: (U & 0xFF).astype(np.float32)}, None),
    ("v_cvt_f16_f32 v2, v0", {0: F * 3.3}, {}, {2: f16(F * 3.3)}, None),
    ("v_cvt_f32_f16 v2, v0", {0: f16(F)}, {}, {2: F.astype(np.float16).astype(np.float32)}, None),
    (
        "v_fma_f16 v3, v0, v1, v2 op_sel:[1,0,0,1]",
        {0: f16(F) << 16, 1: f16(2), 2: f16(1), 3: 0xBEEF},
        {},
        {3: f16(F.astype(np.float16) * 2 + 1) << 16 | 0xBEEF},
        None,
    ),  # fmt: skip
    (
        "v_max3_u16 v3, v0, v1, v2 op_sel:[1,1,0,0]",
        {0: LANE << 16, 1: (31 - LANE) << 16, 2: 20},
        {},
        {3: np.maximum(np.maximum(LANE, 31 - LANE), 20)},
        None,
    ),  # fmt: skip
    ("v_add_f16 v2, v0, v1", {0: f16(F), 1: f16(G)}, {}, {2: f16(F.astype(np.float16) + G.astype(np.float16))}, None),
    ("v_mul_f16 v2, v0, v1", {0: f16(F), 1: f16(F)}, {}, {2: f16(F.astype(np.float16) ** 2)}, None),
    ("v_max_f16 v2, v0, v1", {0: f16(F), 1: f16(G)}, {}, {2: f16(np.fmax(F, G.astype(np.float16)))}, None),
    (
        "v_fma_f16 v3, v0, v1, v2",
        {0: f16(F), 1: f16(F), 2: f16(1)},
        {},
        {3: f16(F.astype(np.float16).astype(np.float64) ** 2 + 1)},
        None,
    ),
    (
        "v_fma_mix_f32 v3, v0, v1, v2 op_sel_hi:[1,1,0]",
        {0: f16(F), 1: f16(F), 2: F},
        {},
        {3: (F.astype(np.float16).astype(np.float64) ** 2 + F).astype(np.float32)},
        None,
    ),  # fmt: skip
    (
        "v_fma_mixlo_f16 v3, v0, v1, v2",
        {0: F, 1: F, 2: F, 3: 0xABCD0000},
        {},
        {3: 0xABCD0000 | f16((F64**2 + F).astype(np.float32))},
        None,
    ),  # fmt: skip
    (
        "v_pk_add_f16 v2, v0, v1",
        {0: f16(F) | f16(G) << 16, 1: f16(1.0) | f16(2.0) << 16},
        {},
        {2: f16(F.astype(np.float16) + np.float16(1)) | f16(G.astype(np.float16) + np.float16(2)) << 16},
        None,
    ),
    (
        "v_pk_fma_f16 v3, v0, v1, v2",
        {0: f16(F) | f16(F) << 16, 1: f16(2.0) | f16(3.0) << 16, 2: 0},
        {},
        {3: f16(F.astype(np.float16) * 2) | f16(F.astype(np.float16) * 3) << 16},
        None,
    ),
    ("v_fract_f32 v2, v0", {0: F * 1.7}, {}, {2: F * np.float32(1.7) - np.floor(F * np.float32(1.7))}, None),
    ("v_add_nc_u32 v2, v0, v1", {0: U, 1: U}, {}, {2: U + U}, None),
    (
        "v_mad_u32_u24 v3, v0, v1, v2",
        {0: U, 1: U >> 3, 2: 7},
        {},
        {3: (U & 0xFFFFFF) * ((U >> 3) & 0xFFFFFF) + 7},
        None,
    ),
    (
        "v_mul_hi_u32_u24 v2, v0, v1",
        {0: U, 1: U >> 5},
        {},
        {2: ((U & 0xFFFFFF).astype(np.uint64) * ((U >> 5) & 0xFFFFFF)) >> 32},
        None,
    ),
    (
        "v_mul_hi_i32_i24 v2, v0, v1",
        {0: S, 1: -S},
        {},
        {2: ((S.astype(np.int64) << 40 >> 40) * ((-S).astype(np.int64) << 40 >> 40)) >> 32},
        None,
    ),
    ("v_mad_i32_i24 v3, v0, v1, v2", {0: S, 1: -3, 2: 7}, {}, {3: ((S << 8) >> 8) * -3 + 7}, None),
    ("v_add_nc_u16 v2, v0, v1", {0: U, 1: 0xFFFF}, {}, {2: (U - 1) & 0xFFFF}, None),  # v2's upper half stays
    ("v_lshlrev_b16 v2, v0, v1", {0: LANE, 1: 3, 2: 0xABCD0000}, {}, {2: 0xABCD0000 | 3 << LANE % 16 & 0xFFFF}, None),
    ("v_sub_nc_u32 v2, v0, v1", {0: LANE, 1: 16}, {}, {2: (LANE - 16).astype(np.uint32)}, None),
    ("v_mul_lo_u32 v2, v0, v1", {0: U, 1: U}, {}, {2: U * U}, None),
    ("v_mul_hi_u32 v2, v0, v1", {0: U, 1: U}, {}, {2: ((U.astype(np.uint64) ** 2) >> 32).astype(np.uint32)}, None),
    ("v_mul_hi_i32 v2, v0, v1", {0: S, 1: 3 - LANE}, {}, {2: ((S.astype(np.int64) * (3 - LANE)) >> 32)}, None),
    ("v_max_i32 v2, v0, v1", {0: S, 1: 0}, {}, {2: np.maximum(S, 0)}, None),
    ("v_min_u32 v2, v0, v1", {0: U, 1: 0x80000000}, {}, {2: np.minimum(U, 0x80000000)}, None),
    ("v_max3_i32 v3, v0, v1, v2", {0: S, 1: -S, 2: 7}, {}, {3: np.maximum(np.maximum(S, -S), 7)}, None),
    ("v_med3_i32 v3, v0, v1, v2", {0: S, 1: -100, 2: 100}, {}, {3: np.clip(S, -100, 100)}, None),
    ("v_lshlrev_b32 v2, v0, v1", {0: LANE + 32, 1: U}, {}, {2: U << (LANE % 32).astype(np.uint32)}, None),
    ("v_lshrrev_b32 v2, 4, v0", {0: U}, {}, {2: U >> 4}, None),
    ("v_ashrrev_i32 v2, 31, v0", {0: S}, {}, {2: S >> 31}, None),
    (
        "v_lshlrev_b64 v[2:3], 3, v[0:1]",
        {0: U, 1: LANE},
        {},
        {2: U << 3, 3: (LANE << 3 | U >> 29).astype(np.uint32)},
        None,
    ),  # fmt: skip
    ("v_and_b32 v2, v0, v1", {0: U, 1: 0xF0F0F0F0}, {}, {2: U & 0xF0F0F0F0}, None),
    ("v_or_b32 v2, v0, v1", {0: U, 1: LANE}, {}, {2: U | LANE}, None),
    ("v_xor_b32 v2, v0, v1", {0: U, 1: -1}, {}, {2: ~U}, None),
    ("v_not_b32 v2, v0", {0: U}, {}, {2: ~U}, None),
    ("v_bfrev_b32 v2, v0", {0: 1 << LANE}, {}, {2: (1 << (31 - LANE)).astype(np.uint32)}, None),
    ("v_clz_i32_u32 v2, v0", {0: (1 << LANE) >> 1}, {}, {2: np.where(LANE == 0, -1, 32 - LANE)}, None),
    (
        "v_cls_i32 v2, v0",
        {0: np.where(LANE < 16, (1 << LANE) >> 1, ~((1 << (LANE - 16)) >> 1))},
        {},
        {2: np.where(LANE % 16 == 0, -1, 32 - LANE % 16)},
        None,
    ),  # 0 and -1 have no bit differing from the sign: -1
    ("v_bfe_u32 v2, v0, 4, 8", {0: U}, {}, {2: (U >> 4) & 0xFF}, None),
    ("v_bfe_i32 v2, v0, 4, 8", {0: U}, {}, {2: ((U >> 4) & 0xFF).astype(np.uint8).view(np.int8)}, None),
    ("v_bfi_b32 v3, v0, v1, v2", {0: 0xFFFF0000, 1: U, 2: ~U}, {}, {3: (U & 0xFFFF0000) | (~U & 0xFFFF)}, None),
    ("v_lshl_or_b32 v3, v0, 8, v1", {0: LANE, 1: 5}, {}, {3: LANE << 8 | 5}, None),
    ("v_lshl_add_u32 v3, v0, 2, v1", {0: U, 1: U}, {}, {3: (U << 2) + U}, None),
    ("v_add3_u32 v3, v0, v1, v2", {0: U, 1: U, 2: U}, {}, {3: U * 3}, None),
    ("v_xad_u32 v3, v0, v1, v2", {0: U, 1: LANE, 2: 1}, {}, {3: (U ^ LANE) + 1}, None),
    ("v_mov_b32 v2, 0x12345678", {}, {}, {2: 0x12345678}, None),
    ("v_mov_b32 v2, -7", {}, {}, {2: -7}, None),
    ("v_mov_b32 v2, s3", {}, {3: 42}, {2: 42}, None),
    (
        "v_add_f64 v[4:5], v[0:1], v[2:3]",
        {0: 0, 1: 0x3FF80000, 2: 0, 3: 0x40040000},
        {},
        {4: 0, 5: 0x40100000},
        None,
    ),  # 1.5 + 2.5 = 4.0  # fmt: skip
    ("v_cvt_f64_i32 v[2:3], v0", {0: -3}, {}, {2: 0, 3: 0xC0080000}, None),
    ("v_cvt_i32_f64 v2, v[0:1]", {0: 0, 1: 0xC0080000}, {}, {2: -3}, None),
    ("v_cvt_f32_f64 v2, v[0:1]", {0: 0, 1: 0x3FF80000}, {}, {2: np.float32(1.5)}, None),
]


@pytest.fixture(scope="module", autouse=True)
def _assembled() -> None:
    """Assemble every case in one llvm-mc run."""
    assemble(*(case[0] for case in VECTOR_CASES), "s_endpgm")


def _expected(values) -> np.ndarray:
    return bits(values)


@pytest.mark.parametrize(("asm", "vgpr", "sgpr", "want", "rtol"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_vector_instruction(asm, vgpr, sgpr, want, rtol):
    wave = run_code([asm], sgpr=sgpr, vgpr=vgpr)
    for register, values in want.items():
        if rtol is None:
            np.testing.assert_array_equal(wave.vgpr[register], _expected(values), err_msg=f"v{register}")
        else:
            got = wave.vgpr[register].view(np.float32)
            np.testing.assert_allclose(got, np.broadcast_to(np.float32(values), 32), rtol=rtol, atol=1e-7)


def test_vector_writes_only_the_lanes_exec_enables():
    wave = run_code(["v_mov_b32 v1, 7"], vgpr={1: 3}, exec_mask=0x0000FF0F)
    np.testing.assert_array_equal(wave.vgpr[1], np.where((0x0000FF0F >> LANE) & 1, 7, 3))


def test_true16_hi_half_operands_in_vop1():
    # gfx11 true16 encoding: bit 7 of a VOP1 VGPR field selects the upper half of a 16-bit operand (v1.h).
    code = bytes.fromhex("81170a7e")  # v_cvt_f32_f16_e32 v5, v1.h (LLVM 15 prints v129)
    from tests.sim.amd.isa.decoder import decode

    assert decode(code, 0, 0).name == "v_cvt_f32_f16"
    wave = run_code(["v_cvt_f32_f16 v5, v129"], vgpr={1: f16(F) << 16 | f16(1.0)})
    np.testing.assert_array_equal(wave.vgpr[5].view(np.float32), F.astype(np.float16).astype(np.float32))


COMPARE_CASES = [
    ("v_cmp_lt_f32 vcc_lo, v0, v1", F, G, F < G),
    ("v_cmp_neq_f32 vcc_lo, v0, v1", G, G, ~(G == G)),
    ("v_cmp_nlt_f32 vcc_lo, v0, v1", F, G, ~(F < G)),
    ("v_cmp_u_f32 vcc_lo, v0, v1", G, F, np.isnan(G)),
    ("v_cmp_gt_i32 vcc_lo, v0, v1", S, LANE, S > LANE),
    ("v_cmp_ge_u32 vcc_lo, v0, v1", U, U[::-1], U >= U[::-1]),
    ("v_cmp_eq_u32 vcc_lo, v0, v1", LANE % 3, 0, LANE % 3 == 0),
    ("v_cmp_class_f32 vcc_lo, v0, v1", G, 0b1001000100, np.isinf(G) | (G.view(np.uint32) == 0)),
]


@pytest.mark.parametrize(("asm", "a", "b", "want"), COMPARE_CASES, ids=[c[0] for c in COMPARE_CASES])
def test_compare_writes_a_lane_mask(asm, a, b, want):
    for form in (asm, asm.replace(" vcc_lo,", "_e64 s4,")):
        wave = run_code([form], vgpr={0: a, 1: b}, exec_mask=0x7FFFFFFF)
        mask = wave.sgpr[VCC if "vcc_lo" in form else 4]
        np.testing.assert_array_equal((mask >> LANE) & 1, np.broadcast_to(want, 32) & (LANE < 31), err_msg=form)


def test_v_cmpx_writes_exec():
    wave = run_code(["v_cmpx_gt_u32 v0, 10"], vgpr={0: LANE}, exec_mask=0xFFFF)
    assert wave.sgpr[126] == 0xF800  # lanes 11..15: the enabled lanes whose v0 > 10


def test_cndmask_picks_by_vcc_and_by_sgpr_mask():
    wave = run_code(["v_cndmask_b32 v2, v0, v1, vcc_lo", "v_cndmask_b32_e64 v3, v0, -v1, s4"],
                    vgpr={0: F, 1: G}, sgpr={VCC: 0x0000FFFF, 4: 0xFFFF0000})  # fmt: skip
    np.testing.assert_array_equal(wave.vgpr[2], bits(np.where(LANE < 16, G, F)))
    np.testing.assert_array_equal(wave.vgpr[3], bits(np.where(LANE >= 16, -G, F)))


def test_carry_chain_adds_64_bit_numbers():
    a, b = (np.uint64(0xFFFFFFFF) + LANE.astype(np.uint64)), np.uint64(0x1_0000_0001) * LANE.astype(np.uint64)
    lo = lambda x: (x & np.uint64(0xFFFFFFFF)).astype(np.uint32)  # noqa: E731
    wave = run_code(["v_add_co_u32 v4, vcc_lo, v0, v2", "v_add_co_ci_u32_e32 v5, vcc_lo, v1, v3, vcc_lo"],
                    vgpr={0: lo(a), 1: lo(a >> np.uint64(32)), 2: lo(b), 3: lo(b >> np.uint64(32))})  # fmt: skip
    total = wave.vgpr[4].astype(np.uint64) | wave.vgpr[5].astype(np.uint64) << np.uint64(32)
    np.testing.assert_array_equal(total, a + b)


def test_sub_with_borrow_sets_the_carry_mask():
    wave = run_code(["v_sub_co_u32 v2, s4, v0, v1"], vgpr={0: LANE, 1: 16})
    assert wave.sgpr[4] == 0x0000FFFF
    np.testing.assert_array_equal(wave.vgpr[2], (LANE - 16).astype(np.uint32))


def test_readlane_readfirstlane_and_writelane():
    wave = run_code(["v_readfirstlane_b32 s0, v0", "v_readlane_b32 s1, v0, 5", "v_writelane_b32 v1, s2, 3"],
                    vgpr={0: LANE * 10, 1: 0}, sgpr={2: 99}, exec_mask=0xF0)  # fmt: skip
    assert (wave.sgpr[0], wave.sgpr[1]) == (40, 50)
    np.testing.assert_array_equal(wave.vgpr[1], np.where(LANE == 3, 99, 0))


def test_vopd_issues_two_ops_reading_sources_before_writing():
    wave = run_code(["v_dual_mov_b32 v0, v1 :: v_dual_add_f32 v1, v0, v1",
                     "v_dual_mov_b32 v3, v2 :: v_dual_mov_b32 v2, v3"], vgpr={0: F, 1: 2.0, 2: 5, 3: 6})  # fmt: skip
    np.testing.assert_array_equal(wave.vgpr[0], bits(2.0))
    np.testing.assert_array_equal(wave.vgpr[1], bits(F + 2))
    np.testing.assert_array_equal(wave.vgpr[2:4], [bits(6), bits(5)])  # a swap


def test_division_sequence_gives_ieee_quotients():
    # what LLVM emits for an IEEE float32 division (div_scale / rcp / fma refinement / div_fmas / div_fixup)
    seq = ["v_div_scale_f32 v2, null, v1, v1, v0", "v_rcp_f32 v3, v2", "v_div_scale_f32 v4, vcc_lo, v0, v1, v0",
           "v_fma_f32 v5, -v2, v3, 1.0", "v_fmac_f32 v3, v5, v3", "v_mul_f32 v5, v4, v3",
           "v_fma_f32 v6, -v2, v5, v4", "v_fmac_f32 v5, v6, v3", "v_fma_f32 v2, -v2, v5, v4",
           "v_div_fmas_f32 v2, v2, v3, v5", "v_div_fixup_f32 v2, v2, v1, v0"]  # fmt: skip
    num, den = np.float32(F * 7), np.float32(np.r_[G[:8], F[8:]])
    wave = run_code(seq, vgpr={0: num, 1: den})
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(wave.vgpr[2].view(np.float32), num / den)


def test_dpp_operands_are_refused_by_name():
    with pytest.raises(UnknownInstruction, match="v_mov_b32 with DPP at 0x1000"):
        run_code(["v_mov_b32_dpp v1, v2 quad_perm:[1,0,3,2] row_mask:0xf bank_mask:0xf"])
