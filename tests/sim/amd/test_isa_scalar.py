"""Scalar ALU and program-control instructions, each assembled by llvm-mc-15 and run on one emulated wave."""

from __future__ import annotations

import pytest

from tests.sim.amd.isa.assembler import assemble, run_code
from tests.sim.amd.isa.errors import InstructionBudgetExceeded, UnknownInstruction

M = 0xFFFFFFFF

# (assembly, initial SGPRs {index: value}, initial SCC, expected SGPRs, expected SCC or None if unchanged)
SCALAR_CASES = [
    ("s_add_u32 s2, s0, s1", {0: M, 1: 2}, 0, {2: 1}, 1),
    ("s_addc_u32 s2, s0, s1", {0: 5, 1: 6}, 1, {2: 12}, 0),
    ("s_sub_u32 s2, s0, s1", {0: 1, 1: 2}, 0, {2: M}, 1),
    ("s_subb_u32 s2, s0, s1", {0: 5, 1: 5}, 1, {2: M}, 1),
    ("s_add_i32 s2, s0, s1", {0: 0x7FFFFFFF, 1: 1}, 0, {2: 0x80000000}, 1),
    ("s_sub_i32 s2, s0, s1", {0: 3, 1: 5}, 1, {2: (-2) & M}, 0),
    ("s_mul_i32 s2, s0, s1", {0: 0x10001, 1: 0x10001}, 0, {2: 0x20001}, None),
    ("s_mul_hi_u32 s2, s0, s1", {0: M, 1: M}, 0, {2: 0xFFFFFFFE}, None),
    ("s_mul_hi_i32 s2, s0, s1", {0: (-2) & M, 1: 3}, 0, {2: M}, None),
    ("s_lshl_b32 s2, s0, 4", {0: 0xF000000F}, 0, {2: 0xF0}, 1),
    ("s_lshr_b32 s2, s0, s1", {0: 0x80, 1: 36}, 1, {2: 0x8}, 1),
    ("s_ashr_i32 s2, s0, 4", {0: 0x80000000}, 0, {2: 0xF8000000}, 1),
    ("s_lshl_b64 s[2:3], s[0:1], 33", {0: 3, 1: 0}, 0, {2: 0, 3: 6}, 1),
    ("s_lshr_b64 s[2:3], s[0:1], 1", {0: 0, 1: 1}, 0, {2: 0x80000000, 3: 0}, 1),
    ("s_ashr_i64 s[2:3], s[0:1], 63", {0: 0, 1: 0x80000000}, 0, {2: M, 3: M}, 1),
    ("s_lshl2_add_u32 s2, s0, s1", {0: 3, 1: 5}, 0, {2: 17}, 0),
    ("s_min_i32 s2, s0, s1", {0: M, 1: 1}, 0, {2: M}, 1),
    ("s_max_u32 s2, s0, s1", {0: M, 1: 1}, 0, {2: M}, 1),
    ("s_and_b32 s2, s0, s1", {0: 0b1100, 1: 0b1010}, 0, {2: 0b1000}, 1),
    ("s_or_b32 s2, s0, s1", {0: 0, 1: 0}, 1, {2: 0}, 0),
    ("s_xor_b64 s[2:3], s[0:1], -1", {0: 1, 1: 2}, 0, {2: 0xFFFFFFFE, 3: 0xFFFFFFFD}, 1),
    ("s_and_not1_b32 s2, s0, s1", {0: 0xFF, 1: 0x0F}, 0, {2: 0xF0}, 1),
    ("s_bfe_u32 s2, s0, 0x80004", {0: 0xABCD}, 0, {2: 0xBC}, 1),
    ("s_bfe_i32 s2, s0, 0x40004", {0: 0xF0}, 0, {2: M}, 1),
    ("s_bfe_i64 s[2:3], s[0:1], 0x100000", {0: 0x8000, 1: 0}, 0, {2: 0xFFFF8000, 3: M}, 1),
    ("s_cselect_b32 s2, s0, s1", {0: 7, 1: 9}, 1, {2: 7}, 1),
    ("s_cselect_b32 s2, s0, s1", {0: 7, 1: 9}, 0, {2: 9}, 0),
    ("s_mov_b32 s2, 0x12345678", {}, 0, {2: 0x12345678}, None),
    ("s_mov_b32 s2, -16", {}, 0, {2: (-16) & M}, None),
    ("s_mov_b64 s[2:3], -1", {}, 0, {2: M, 3: M}, None),
    ("s_movk_i32 s2, 0x8000", {}, 0, {2: 0xFFFF8000}, None),
    ("s_addk_i32 s2, 0xfffe", {2: 5}, 0, {2: 3}, 0),
    ("s_mulk_i32 s2, 3", {2: 5}, 0, {2: 15}, None),
    ("s_cmpk_lg_i32 s2, 5", {2: 5}, 1, {}, 0),
    ("s_cmpk_eq_i32 s2, 0xffff", {2: M}, 0, {}, 1),
    ("s_brev_b32 s2, s0", {0: 1}, 0, {2: 0x80000000}, None),
    ("s_cls_i32 s2, s0", {0: 0x0000FFFF}, 0, {2: 16}, None),
    ("s_cls_i32 s2, s0", {0: M}, 0, {2: M}, None),
    ("s_sext_i32_i8 s2, s0", {0: 0x80}, 0, {2: 0xFFFFFF80}, None),
    ("s_sext_i32_i16 s2, s0", {0: 0x7FFF}, 0, {2: 0x7FFF}, None),
    ("s_abs_i32 s2, s0", {0: (-7) & M}, 0, {2: 7}, 1),
    ("s_not_b32 s2, s0", {0: 0}, 0, {2: M}, 1),
    ("s_bitset1_b32 s2, 4", {2: 1}, 0, {2: 0x11}, None),
    ("s_bitset0_b32 s2, 0", {2: 3}, 0, {2: 2}, None),
    ("s_cmp_lt_i32 s0, s1", {0: M, 1: 0}, 0, {}, 1),
    ("s_cmp_lt_u32 s0, s1", {0: M, 1: 0}, 1, {}, 0),
    ("s_cmp_ge_i32 s0, 3", {0: 3}, 0, {}, 1),
    ("s_cmp_lg_u64 s[0:1], 0", {0: 0, 1: 1}, 0, {}, 1),
    ("s_cmp_eq_u64 s[0:1], s[2:3]", {0: 1, 1: 2, 2: 1, 3: 3}, 1, {}, 0),
    ("s_bitcmp1_b32 s0, 3", {0: 8}, 0, {}, 1),
    ("s_and_saveexec_b32 s2, s0", {0: 0xF0, 126: 0x3C}, 0, {2: 0x3C, 126: 0x30}, 1),
    ("s_and_not1_saveexec_b32 s2, s0", {0: 0xF0, 126: 0xF0}, 1, {2: 0xF0, 126: 0}, 0),
    ("s_or_saveexec_b32 s2, s0", {0: 1, 126: 2}, 0, {2: 2, 126: 3}, 1),
]


@pytest.fixture(scope="module", autouse=True)
def _assembled() -> None:
    """Assemble every case in one llvm-mc run."""
    assemble(*(case[0] for case in SCALAR_CASES), "s_endpgm")


@pytest.mark.parametrize(("asm", "sgpr", "scc", "want", "want_scc"), SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_scalar_instruction(asm: str, sgpr: dict[int, int], scc: int, want: dict[int, int], want_scc: int | None):
    sgpr = {126: 0xFFFFFFFF, **sgpr}
    wave = run_code([asm], sgpr=sgpr, exec_mask=sgpr[126], scc=scc)
    assert {i: wave.sgpr[i] for i in want} == want
    assert wave.scc == (scc if want_scc is None else want_scc)


def test_s_getpc_gives_the_address_of_the_next_instruction():
    wave = run_code(["s_nop 0", "s_getpc_b64 s[4:5]"])
    assert (wave.sgpr[4], wave.sgpr[5]) == (0x1000 + 8, 0)


@pytest.mark.parametrize(("branch", "scc", "vcc", "exec_mask", "taken"), [
    ("s_branch", 0, 0, 1, True), ("s_cbranch_scc0", 0, 0, 1, True), ("s_cbranch_scc0", 1, 0, 1, False),
    ("s_cbranch_scc1", 1, 0, 1, True), ("s_cbranch_vccz", 0, 0, 1, True), ("s_cbranch_vccnz", 0, 4, 1, True),
    ("s_cbranch_vccnz", 0, 0, 1, False), ("s_cbranch_execz", 0, 0, 0, True), ("s_cbranch_execnz", 0, 0, 1, True),
])  # fmt: skip
def test_branches_skip_the_next_instruction_when_taken(branch, scc, vcc, exec_mask, taken):
    wave = run_code([f"{branch} 1", "s_mov_b32 s0, 1", "s_mov_b32 s1, 2"], sgpr={106: vcc}, scc=scc,
                    exec_mask=exec_mask)  # fmt: skip
    assert (wave.sgpr[0], wave.sgpr[1]) == (0 if taken else 1, 2)


def test_a_counted_loop_runs_its_body_n_times():
    loop = ["s_add_u32 s1, s1, 3", "s_sub_u32 s0, s0, 1", "s_cmp_lg_u32 s0, 0", "s_cbranch_scc1 -4"]
    wave = run_code(loop, sgpr={0: 10, 1: 0})
    assert (wave.sgpr[0], wave.sgpr[1]) == (0, 30)


def test_an_endless_loop_exceeds_the_instruction_budget():
    with pytest.raises(InstructionBudgetExceeded, match="budget of 1000 instructions"):
        run_code(["s_branch -1"])


def test_running_past_the_program_end_names_s_code_end():
    with pytest.raises(UnknownInstruction, match=r"s_code_end \(ran past the end of the program\) at 0x1004"):
        run_code(["s_nop 0", "s_code_end"])


def test_writes_to_null_are_dropped_and_reads_give_zero():
    wave = run_code(["s_mov_b32 null, 5", "s_add_u32 s0, null, 7"])
    assert wave.sgpr[0] == 7 and wave.sgpr[124] == 0
