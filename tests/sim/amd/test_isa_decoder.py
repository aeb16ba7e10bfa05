"""The decoder against LLVM: every opcode-table entry is assembled by llvm-mc-15 and must decode to its own name,
with the operands LLVM printed; unknown encodings decode without a name and refuse to run, naming themselves."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.sim.amd.isa import UnknownInstruction, decode
from tests.sim.amd.isa.assembler import require_llvm_mc
from tests.sim.amd.isa.encodings import DS, FLAT, SMEM, SOP1, SOP2, SOPC, SOPK, SOPP, VOP1, VOP2, VOP3, VOP3P, VOPC
from tests.sim.amd.isa.program import build
from tests.sim.amd.isa.valu import TYPES, VALU

NOT_IN_LLVM_15 = {"v_mov_b16"}
"""gfx11 true16 instructions LLVM 15's assembler predates (LLVM 22, which compiles kernels, emits them)."""

_SOPP = {"s_nop": "0", "s_set_inst_prefetch_distance": "0x1", "s_clause": "0x1", "s_delay_alu": "instid0(VALU_DEP_1)",
         "s_waitcnt_depctr": "0xfff", "s_waitcnt": "0", "s_code_end": "", "s_endpgm": "", "s_barrier": "",
         "s_sendmsg": "sendmsg(MSG_DEALLOC_VGPRS)"}  # fmt: skip
_SPECIAL = {
    "v_nop": "", "v_readfirstlane_b32": "s1, v2", "v_readlane_b32": "s1, v2, s3", "v_writelane_b32": "v1, s2, s3",
    "v_cndmask_b32": "v1, v2, v3, vcc_lo", "v_cndmask_b16": "v1, v2, v3, s4", "v_fmamk_f32": "v1, v2, 0x1, v3",
    "v_fmaak_f32": "v1, v2, v3, 0x1", "v_div_scale_f32": "v1, vcc_lo, v2, v3, v4",
    "v_div_scale_f64": "v[2:3], vcc_lo, v[4:5], v[6:7], v[8:9]", "v_mad_u64_u32": "v[2:3], s4, v5, v6, v[8:9]",
    "v_mad_i64_i32": "v[2:3], s4, v5, v6, v[8:9]", "v_add_co_u32": "v1, s4, v2, v3", "v_sub_co_u32": "v1, s4, v2, v3",
    "v_subrev_co_u32": "v1, s4, v2, v3", "v_mullit_f32": "v1, v2, v3, v4", "v_pk_fma_f16": "v1, v2, v3, v4",
    "v_fma_mix_f32": "v1, v2, v3, v4", "v_fma_mixlo_f16": "v1, v2, v3, v4", "v_fma_mixhi_f16": "v1, v2, v3, v4",
}  # fmt: skip


def _register(kind: str, index: int, bits: int) -> str:
    return f"{kind}[{index}:{index + 1}]" if bits == 64 else f"{kind}{index}"


def _scalar_line(name: str, table: dict) -> str:
    wide = 64 if name.endswith("64") else 32
    if table is SOPP:
        return f"{name} {_SOPP.get(name, '1')}"
    if table is SOPK:
        return f"{name} null, 0x0" if "waitcnt" in name else f"{name} s1, 0x10"
    if table is SOPC:
        return f"{name} {_register('s', 2, wide)}, {_register('s', 4, wide)}"
    if table is SOP1:
        return (
            f"{name} s[2:3]"
            if name == "s_getpc_b64"
            else f"{name} {_register('s', 2, wide)}, {_register('s', 4, wide)}"
        )
    shift = name.startswith(("s_lshl_", "s_lshr_", "s_ashr_", "s_bfe_"))
    return f"{name} {_register('s', 2, wide)}, {_register('s', 4, wide)}, {_register('s', 6, 32 if shift else wide)}"


def _vector_line(name: str, table: dict) -> str:
    if name in _SPECIAL:
        return f"{name} {_SPECIAL[name]}".strip()
    if table is VOPC:
        bits = TYPES[name.rsplit("_", 1)[1]][0]
        second = "v3" if "class" in name else _register("v", 4, bits)
        dst = "" if name.startswith("v_cmpx") else "vcc_lo, "
        return f"{name} {dst}{_register('v', 2, bits)}, {second}"
    if "_co_ci_" in name:
        return f"{name} v1, vcc_lo, v2, v3, vcc_lo"
    op = VALU[name.replace("v_pk_", "v_")]
    sources = op.srcs[:2] if name.startswith(("v_fmac", "v_pk_")) and table is not VOP3 else op.srcs
    regs = [_register("v", 2 + 2 * i, TYPES[t][0]) for i, t in enumerate(sources)]
    return f"{name} {_register('v', 10, TYPES[op.dst][0])}, {', '.join(regs)}"


def _memory_line(name: str, table: dict) -> list[str]:
    if table is SMEM:
        count = int(name.rsplit("_b", 1)[1]) // 32
        return [f"{name} {'s4' if count == 1 else f's[4:{3 + count}]'}, s[2:3], 0x10"]
    if table is DS:
        width = name.rsplit("_", 1)[1]
        data = {"b64": "v[2:3]", "b96": "v[2:4]", "b128": "v[2:5]"}.get(width, "v2")
        if "2addr" in name:
            if "load" in name:
                return [f"{name} {'v[2:3]' if width == 'b32' else 'v[2:5]'}, v1 offset1:1"]
            return [f"{name} v1, {data}, {'v3' if width == 'b32' else 'v[4:5]'} offset1:1"]
        return [f"{name} {data}, v1"] if "load" in name else [f"{name} v1, {data}"]
    size = name.rsplit("_", 1)[1]
    data = {"b64": "v[2:3]", "b96": "v[2:4]", "b128": "v[2:5]"}.get(size, "v2")
    if name.startswith("store"):
        return [f"global_{name} v1, {data}, s[4:5] offset:16", f"scratch_{name} off, {data}, off offset:8"]
    return [f"global_{name} {data}, v1, s[4:5] offset:-16", f"scratch_{name} {data}, off, off offset:8"]


def _lines() -> list[tuple[str, str]]:
    """(expected name, assembly) for every opcode-table entry."""
    lines = []
    for table in (SOP1, SOP2, SOPC, SOPK, SOPP):
        lines += [(n, _scalar_line(n, table)) for n in table.values()]
    for table, suffix in ((VOP1, "_e32"), (VOP2, "_e32"), (VOPC, "_e32"), (VOP3, ""), (VOP3P, "")):
        for name in table.values():
            if name not in NOT_IN_LLVM_15:
                line = _vector_line(name, table)
                lines.append((name, line.replace(name, name + suffix, 1) if suffix and name not in _SPECIAL else line))
    for table in (SMEM, DS, FLAT):
        for name in table.values():
            for line in _memory_line(name, table):
                lines.append((line.split()[0], line))
    return lines


@pytest.fixture(scope="module")
def assembled() -> dict[str, tuple[str, bytes]]:
    """Each line LLVM accepts: its canonical text (as llvm-mc prints it) and its encoding."""
    lines = _lines()
    result = subprocess.run([require_llvm_mc(), "-arch=amdgcn", "-mcpu=gfx1100", "-show-encoding"],
                            input="\n".join(line for _, line in lines) + "\n", capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    rejected = {int(n) for n in re.findall(r"<stdin>:(\d+):\d+: error", result.stderr)}
    out = re.findall(r"^\s*(\S.*?)\s*; encoding: \[([^\]]*)\]", result.stdout, re.M)
    accepted = [line for i, line in enumerate(lines, 1) if i not in rejected]
    assert len(out) == len(accepted)
    assert not rejected, "llvm-mc-15 rejected: " + "; ".join(lines[i - 1][1] for i in sorted(rejected))
    return {line: (text, bytes(int(b, 16) for b in enc.split(","))) for (_, line), (text, enc) in zip(accepted, out)}


def test_every_table_entry_decodes_to_its_name_and_size(assembled):
    mismatches = []
    for name, line in _lines():
        text, code = assembled[line]
        ins = decode(code, 0, 0x4000)
        if ins.name != name or ins.size != len(code):
            mismatches.append(f"{line!r}: decoded {ins.describe()} ({ins.size} bytes), LLVM {len(code)} bytes")
    assert not mismatches, "\n".join(mismatches)


OPERAND_CASES = [  # (assembly, fields the decoder must find; source codes: 0-105 SGPRs, 256+ VGPRs, 193.. -1..)
    ("v_add_f32_e32 v5, s3, v7", {"vdst": 5, "src0": 3, "vsrc1": 263}),
    ("v_add_f32_e64 v5, -s3, |v7|", {"vdst": 5, "src0": 3, "src1": 263, "neg": 1, "abs": 2}),
    ("v_fma_f32 v1, v2, 0x40490fdb, v4", {"vdst": 1, "src0": 258, "src1": 255, "src2": 260}),
    ("v_cmp_gt_i32_e64 s6, v1, -4", {"vdst": 6, "src0": 257, "src1": 196}),
    ("v_add_co_u32 v2, vcc_lo, s4, v0", {"vdst": 2, "sdst": 106, "src0": 4, "src1": 256}),
    ("v_fma_f16 v3, v0, v1, v2 op_sel:[1,0,0,1]", {"vdst": 3, "opsel": 0b1001}),
    ("v_fma_mixlo_f16 v1, v2, -v3, |v4| op_sel:[0,1,0] op_sel_hi:[1,1,0]",
     {"vdst": 1, "src0": 258, "src1": 259, "src2": 260, "neg": 2, "neg_hi": 4, "opsel": 2, "opsel_hi": 3}),
    ("s_add_u32 s5, s6, 0x1234", {"sdst": 5, "ssrc0": 6, "ssrc1": 255}),
    ("s_cmpk_lg_u32 s1, 0x3", {"sdst": 1, "simm16": 3}),
    ("s_load_b128 s[8:11], s[2:3], 0x24", {"sdata": 8, "sbase": 2, "offset": 0x24, "soffset": 124}),
    ("global_load_b32 v3, v1, s[4:5] offset:-32", {"vdst": 3, "addr": 1, "saddr": 4, "offset": -32, "seg": 2}),
    ("global_store_b64 v[0:1], v[2:3], off offset:8", {"addr": 0, "data": 2, "saddr": 124, "offset": 8}),
    ("scratch_store_b32 v1, v2, s3 offset:12", {"addr": 1, "data": 2, "saddr": 3, "sve": 1, "seg": 1}),
    ("ds_load_2addr_b32 v[4:5], v1 offset0:2 offset1:9", {"vdst": 4, "addr": 1, "offset0": 2, "offset1": 9}),
    ("v_dual_mul_f32 v2, v3, v4 :: v_dual_add_f32 v7, s1, v5",
     {"vdstx": 2, "src0x": 259, "vsrc1x": 260, "vdsty": 7, "src0y": 1, "vsrc1y": 261}),
]  # fmt: skip


@pytest.fixture(scope="module")
def operand_encodings() -> dict[str, bytes]:
    """The encoding of each OPERAND_CASES line, assembled in one llvm-mc run."""
    lines = [line for line, _ in OPERAND_CASES]
    result = subprocess.run([require_llvm_mc(), "-arch=amdgcn", "-mcpu=gfx1100", "-show-encoding"],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)  # fmt: skip
    encodings = re.findall(r"; encoding: \[([^\]]*)\]", result.stdout)
    assert len(encodings) == len(lines), result.stderr
    return {line: bytes(int(b, 16) for b in e.split(",")) for line, e in zip(lines, encodings)}


@pytest.mark.parametrize(("line", "fields"), OPERAND_CASES, ids=[line for line, _ in OPERAND_CASES])
def test_decoded_operands_match_llvm(operand_encodings, line, fields):
    code = operand_encodings[line]
    ins = decode(code, 0, 0)
    assert ins.name == line.split()[0].removesuffix("_e32").removesuffix("_e64").replace("::", "") or "::" in ins.name
    assert {k: ins.fields[k] for k in fields} == fields
    assert ins.size == len(code)
    if "0x" in line and ins.format != "SMEM" and "simm16" not in fields:
        assert ins.literal == int(re.search(r"0x([0-9a-f]+)", line).group(1), 16)


def test_unknown_encodings_decode_without_a_name_and_refuse_to_run():
    unknown = decode((0x7E000000 | 0x7F << 9).to_bytes(4, "little"), 0, 0x1234)  # VOP1 opcode 0x7f
    assert unknown.format == "VOP1" and unknown.name is None and unknown.describe() == "VOP1 opcode 0x7f"
    with pytest.raises(UnknownInstruction, match="cannot emulate VOP1 opcode 0x7f at 0x1234"):
        build(unknown)
    mimg = decode((0xF0000000).to_bytes(8, "little"), 0, 0x10)
    with pytest.raises(UnknownInstruction, match=r"cannot emulate an unknown format \(dword 0xf0000000\) at 0x10"):
        build(mimg)
