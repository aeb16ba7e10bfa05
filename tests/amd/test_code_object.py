"""AMD code objects: llvmlite's relocatable ELF for gfx1100 laid out, relocated and decoded as LLVM's own tools do.

Kernels come from the core's AMDGPU dialect ("llvm-amdgpu"): one with LDS and a barrier, one with
several arguments of mixed dtypes; the dialect has no private arrays, so the scratch kernel (and the
one whose globals need relocating) is written by hand in the same dialect. Decoded descriptors are
checked against `llvm-readelf-15 --notes` (the code object's metadata) and `llvm-objdump-15`
(disassembly, relocations and its own kernel-descriptor decoder).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tinyhw.errors import CompileError
from tinyhw.hcq.elf import parse_elf
from tinyhw.kernel.dtypes import float16, float32, int32, int64
from tinyhw.kernel.ir import KernelBuilder, load
from tinyhw.kernel.render import render
from tinyhw_amd.code_object import RELOCATIONS, CodeObject, compile_gfx, load_code_object

HAND_WRITTEN = """\
define amdgpu_kernel void @scratch(ptr addrspace(1) noundef %out, i32 %n) #0 {
entry:
  %arr = alloca [64 x i32], align 4, addrspace(5)
  %x = call i32 @llvm.amdgcn.workitem.id.x()
  br label %fill
fill:
  %i = phi i32 [ 0, %entry ], [ %i.next, %fill ]
  %slot = getelementptr inbounds [64 x i32], ptr addrspace(5) %arr, i32 0, i32 %i
  %v = mul i32 %i, %x
  store volatile i32 %v, ptr addrspace(5) %slot, align 4
  %i.next = add i32 %i, 1
  %done = icmp eq i32 %i.next, 64
  br i1 %done, label %read, label %fill
read:
  %j = urem i32 %n, 64
  %pick = getelementptr inbounds [64 x i32], ptr addrspace(5) %arr, i32 0, i32 %j
  %got = load volatile i32, ptr addrspace(5) %pick, align 4
  %dst = getelementptr inbounds i32, ptr addrspace(1) %out, i32 %x
  store i32 %got, ptr addrspace(1) %dst, align 4
  ret void
}

define amdgpu_kernel void @table(ptr addrspace(1) noundef %out) #0 {
entry:
  %x = call i32 @llvm.amdgcn.workitem.id.x()
  %k = and i32 %x, 7
  %src = getelementptr inbounds [8 x i32], ptr addrspace(1) @lut, i32 0, i32 %k
  %v = load i32, ptr addrspace(1) %src, align 4
  %p = load ptr addrspace(1), ptr addrspace(1) @where, align 8
  %dst = getelementptr inbounds i32, ptr addrspace(1) %p, i32 %x
  store i32 %v, ptr addrspace(1) %dst, align 4
  ret void
}

@lut = hidden addrspace(1) global [8 x i32] [i32 3, i32 1, i32 4, i32 1, i32 5, i32 9, i32 2, i32 6], align 4
@cell = hidden addrspace(1) global i32 271828, align 4
@where = hidden addrspace(1) global ptr addrspace(1) @cell, align 8

declare i32 @llvm.amdgcn.workitem.id.x()

attributes #0 = { nounwind "amdgpu-flat-work-group-size"="64,64" "uniform-work-group-size"="true" }

!llvm.module.flags = !{!0}
!0 = !{i32 1, !"amdhsa_code_object_version", i32 500}
"""


def _lds_kernel() -> str:
    k = KernelBuilder("reverse", local_size=(64, 1, 1))
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    tmp = k.local("tmp", float32, 64)
    lid, g = k.local_id(0), k.group_id(0)
    k.store(tmp, lid, load(a, g * 64 + lid))
    k.barrier()
    k.store(out, g * 64 + lid, load(tmp, 63 - lid))
    return render(k.build(), "llvm-amdgpu").source


def _mixed_kernel() -> str:
    k = KernelBuilder("mixed", local_size=(32, 1, 1))
    a, b, out = k.buffer("a", float32), k.buffer("b", int64), k.buffer("out", float32)
    scale, n, h = k.scalar("scale", float32), k.scalar("n", int32), k.scalar("h", float16)
    i = k.group_id(0) * 32 + k.local_id(0)
    k.store(out, i, load(a, i) * scale + load(b, i).cast(float32) + h.cast(float32), mask=i < n)
    return render(k.build(), "llvm-amdgpu").source


SOURCES = {"lds": _lds_kernel, "mixed": _mixed_kernel, "hand": lambda: HAND_WRITTEN}


@pytest.fixture(scope="module")
def binaries() -> dict[str, bytes]:
    return {name: compile_gfx(source()) for name, source in SOURCES.items()}


@pytest.fixture(scope="module")
def objects(binaries: dict[str, bytes]) -> dict[str, CodeObject]:
    return {name: load_code_object(binary) for name, binary in binaries.items()}


def llvm_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install llvm-15); it cross-checks the loader"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def tool_output(tool: str, *args: str, binary: bytes, tmp_path: Path) -> str:
    path = tmp_path / "kernel.o"
    path.write_bytes(binary)
    return subprocess.run([llvm_tool(tool), *args, str(path)], capture_output=True, text=True, check=True,
                          timeout=60).stdout  # fmt: skip


def metadata(notes: str) -> dict[str, dict[str, str]]:
    """The kernels' top-level metadata keys from `llvm-readelf --notes`, by kernel name."""
    kernels: list[dict[str, str]] = [{}]
    for key, value in re.findall(r"^    \.(\w+):\s+(\S+)$", notes, re.M):
        if key in kernels[-1]:
            kernels.append({})
        kernels[-1][key] = value
    return {k["name"]: k for k in kernels}


# -- what a loader needs: entries, sizes, user SGPRs --


def test_the_lds_kernel_declares_its_group_segment(objects: dict[str, CodeObject]) -> None:
    kernel = objects["lds"].kernels["reverse"]
    assert kernel.group_segment_size == 64 * 4 and kernel.private_segment_size == 0
    assert kernel.wave32 and kernel.entry == 0 and kernel.offset % 64 == 0
    assert "kernarg_segment_ptr" in kernel.user_sgprs and kernel.rsrc2 >> 7 & 1  # workgroup id x enabled
    assert objects["lds"].target == "gfx1100" and objects["lds"].alignment == 256


def test_mixed_arguments_make_the_kernarg_block(objects: dict[str, CodeObject]) -> None:
    kernel = objects["mixed"].kernels["mixed"]
    assert kernel.kernarg_size >= 3 * 8 + 4 + 4 + 2  # three pointers, f32, i32, f16
    assert kernel.user_sgpr_count >= 2 and kernel.user_sgprs[-1] == "kernarg_segment_ptr"


def test_the_private_array_needs_scratch(objects: dict[str, CodeObject]) -> None:
    kernel = objects["hand"].kernels["scratch"]
    assert kernel.private_segment_size >= 64 * 4
    assert kernel.rsrc2 & 1  # ENABLE_PRIVATE_SEGMENT: the dispatch must give it scratch


def test_two_kernels_have_their_own_code_and_descriptors(objects: dict[str, CodeObject]) -> None:
    scratch, table = objects["hand"].kernels["scratch"], objects["hand"].kernels["table"]
    assert scratch.entry == 0 and table.entry > scratch.entry and table.entry % 256 == 0
    assert table.offset == scratch.offset + 64 and table.private_segment_size == 0


# -- cross-checks against LLVM's tools --


@pytest.mark.parametrize("name", SOURCES)
def test_descriptors_match_the_metadata_notes(name: str, binaries, objects, tmp_path: Path) -> None:
    notes = metadata(tool_output("llvm-readelf-15", "--notes", binary=binaries[name], tmp_path=tmp_path))
    assert set(notes) == set(objects[name].kernels)
    for kernel in objects[name].kernels.values():
        meta = notes[kernel.name]
        assert meta["symbol"] == f"{kernel.name}.kd"
        assert int(meta["group_segment_fixed_size"]) == kernel.group_segment_size
        assert int(meta["private_segment_fixed_size"]) == kernel.private_segment_size
        assert int(meta["kernarg_segment_size"]) == kernel.kernarg_size
        assert int(meta["wavefront_size"]) == (32 if kernel.wave32 else 64)


def _objdump_descriptors(text: str) -> dict[str, dict[str, int]]:
    blocks = re.findall(r"^\.amdhsa_kernel (\S+)\n(.*?)^\.end_amdhsa_kernel", text, re.M | re.S)
    return {name: {k: int(v) for k, v in re.findall(r"\.amdhsa_(\w+) (\d+)", body)} for name, body in blocks}


def _field(value: int, low: int, width: int = 1) -> int:
    return value >> low & ((1 << width) - 1)


@pytest.mark.parametrize("name", SOURCES)
def test_descriptors_match_objdumps_decoder(name: str, binaries, objects, tmp_path: Path) -> None:
    text = tool_output("llvm-objdump-15", "-D", "--mcpu=gfx1100", "-j", ".rodata", binary=binaries[name],
                       tmp_path=tmp_path)  # fmt: skip
    decoded = _objdump_descriptors(text)
    assert set(decoded) == set(objects[name].kernels)
    for kernel in objects[name].kernels.values():
        d = decoded[kernel.name]
        assert (d["group_segment_fixed_size"], d["private_segment_fixed_size"], d["kernarg_size"]) == (
            kernel.group_segment_size, kernel.private_segment_size, kernel.kernarg_size)  # fmt: skip
        assert d["wavefront_size32"] == kernel.wave32
        for sgpr in ("dispatch_ptr", "queue_ptr", "kernarg_segment_ptr", "dispatch_id", "private_segment_size"):
            assert d[f"user_sgpr_{sgpr}"] == (sgpr in kernel.user_sgprs), sgpr
        assert d["next_free_vgpr"] == (_field(kernel.rsrc1, 0, 6) + 1) * 8  # wave32 VGPR granules of 8
        assert d["float_denorm_mode_32"] == _field(kernel.rsrc1, 16, 2)
        assert d["dx10_clamp"] == _field(kernel.rsrc1, 21) and d["ieee_mode"] == _field(kernel.rsrc1, 23)
        assert d["workgroup_processor_mode"] == _field(kernel.rsrc1, 29)
        assert d["memory_ordered"] == _field(kernel.rsrc1, 30) and d["forward_progress"] == _field(kernel.rsrc1, 31)
        assert d["enable_private_segment"] == _field(kernel.rsrc2, 0)
        assert d["system_sgpr_workgroup_id_x"] == _field(kernel.rsrc2, 7)
        assert d["system_vgpr_workitem_id"] == _field(kernel.rsrc2, 11, 2)


@pytest.mark.parametrize("name", SOURCES)
def test_entries_are_the_kernel_symbols_of_the_disassembly(name: str, binaries, objects, tmp_path: Path) -> None:
    text = tool_output("llvm-objdump-15", "-d", "--mcpu=gfx1100", binary=binaries[name], tmp_path=tmp_path)
    symbols = {sym: int(address, 16) for address, sym in re.findall(r"^([0-9a-f]{16}) <(\S+)>:$", text, re.M)}
    assert {k.name: k.entry for k in objects[name].kernels.values()} == symbols  # .text is laid out first


# -- relocation --


BASES = (0x7FFF_0000_0000, 0x1_2345_6700)


def _pc_relative_targets(text: str, image: bytes, base: int) -> dict[str, int]:
    """Where each s_getpc_b64 / s_add_u32 / s_addc_u32 sequence points, by the symbol it was relocated for."""
    places = re.findall(r"^\s+([0-9a-f]+):\s+R_AMDGPU_REL32_(LO|HI)\s+(\w+)", text, re.M)
    lo = {sym: int(at, 16) for at, kind, sym in places if kind == "LO"}
    hi = {sym: int(at, 16) for at, kind, sym in places if kind == "HI"}
    targets = {}
    for sym, at in lo.items():
        offset = struct.unpack_from("<I", image, at)[0] | struct.unpack_from("<I", image, hi[sym])[0] << 32
        pc_after_getpc = base + at - 4  # s_getpc_b64 (4 bytes) then s_add_u32 (4 bytes + this literal)
        targets[sym] = (pc_after_getpc + offset) & (1 << 64) - 1
    return targets


@pytest.mark.parametrize("base", BASES)
def test_relocations_point_code_and_data_at_the_load_address(base: int, binaries, objects, tmp_path: Path) -> None:
    code_object = objects["hand"]
    image = code_object.image(base)
    assert len(image) == code_object.size
    text = tool_output("llvm-objdump-15", "-d", "-r", "--mcpu=gfx1100", binary=binaries["hand"], tmp_path=tmp_path)
    targets = _pc_relative_targets(text, image, base)
    lut = targets["lut"] - base
    assert struct.unpack_from("<8i", image, lut) == (3, 1, 4, 1, 5, 9, 2, 6)
    cell = struct.unpack_from("<Q", image, targets["where"] - base)[0] - base  # R_AMDGPU_ABS64 in .data
    assert 0 <= cell < len(image) and struct.unpack_from("<i", image, cell)[0] == 271828


@pytest.mark.parametrize("base", BASES)
def test_descriptor_entry_offsets_survive_any_load_address(base: int, objects) -> None:
    image = objects["hand"].image(base)
    for kernel in objects["hand"].kernels.values():
        assert kernel.offset + struct.unpack_from("<q", image, kernel.offset + 16)[0] == kernel.entry


# -- errors --


def test_a_misaligned_load_address_is_refused(objects) -> None:
    with pytest.raises(ValueError, match="load address 0x1080 is not 256-byte aligned"):
        objects["lds"].image(0x1080)


@pytest.mark.parametrize(
    ("binary", "message"),
    [(b"MZ\x90\x00" + bytes(60), "not an AMDGPU code object: not an ELF file"),
     (b"\x7fELF\x02\x01\x01" + bytes(9) + bytes(48), "not an AMDGPU code object: ELF machine is 0, expected 224")],
)  # fmt: skip
def test_bad_binaries_raise_compile_errors(binary: bytes, message: str) -> None:
    with pytest.raises(CompileError, match=message):
        load_code_object(binary)


def _tampered(binary: bytes, section: str, entry: int, field: int, value: int) -> bytes:
    """`binary` with 8-byte `field` of 24-byte entry `entry` of `section` (a symbol or RELA table) set to `value`."""
    (header,) = [s for s in parse_elf(binary).sections if s.name == section]
    data = bytearray(binary)
    struct.pack_into("<q", data, header.offset + 24 * entry + field, value)
    return bytes(data)


def test_a_descriptor_whose_entry_is_not_code_is_refused(binaries) -> None:
    binary = _tampered(binaries["mixed"], ".rela.rodata", 0, 16, 0x10 + 4)  # the REL64's addend: entry 4 bytes on
    with pytest.raises(CompileError, match="mixed: kernel entry at image offset 0x4 is not 256-byte aligned code"):
        load_code_object(binary)


def test_a_descriptor_of_the_wrong_size_is_refused(binaries) -> None:
    symbols = parse_elf(binaries["mixed"]).symbols
    index = next(i for i, symbol in enumerate(symbols) if symbol.name == "mixed.kd")
    binary = _tampered(binaries["mixed"], ".symtab", index, 16, 32)  # st_size
    with pytest.raises(CompileError, match="mixed: kernel descriptor of 32 bytes at image offset .* is malformed"):
        load_code_object(binary)


def test_host_objects_are_not_code_objects() -> None:
    from tinyhw.kernel.llvm import compile_llvm_ir, host_target

    triple, cpu, _ = host_target()
    host = compile_llvm_ir("define void @f() {\n  ret void\n}\n", triple, cpu)
    with pytest.raises(CompileError, match="ELF machine is (62|183), expected 224"):
        load_code_object(host)


def test_a_module_without_kernels_is_refused() -> None:
    binary = compile_gfx("define void @helper() {\n  ret void\n}\n")
    with pytest.raises(CompileError, match="no kernels"):
        load_code_object(binary)


def test_calls_to_missing_device_functions_are_refused() -> None:
    source = """\
declare float @__ocml_exp_f32(float)
define amdgpu_kernel void @k(ptr addrspace(1) %out) {
  %v = call float @__ocml_exp_f32(float 1.0)
  store float %v, ptr addrspace(1) %out
  ret void
}
"""
    with pytest.raises(CompileError, match="undefined symbol '__ocml_exp_f32' .*no calls to device libraries"):
        load_code_object(compile_gfx(source))


def test_globals_reached_through_a_got_are_refused() -> None:
    source = HAND_WRITTEN.replace("@where = hidden", "@where =")  # default visibility: addressed through a GOT
    with pytest.raises(CompileError, match="R_AMDGPU_GOTPCREL32_LO against 'where' needs a global offset table"):
        load_code_object(compile_gfx(source))


def test_unknown_targets_are_refused_before_compiling() -> None:
    with pytest.raises(CompileError, match="unknown AMD GPU target 'gfx9999'; known: gfx1100, gfx1101"):
        compile_gfx(HAND_WRITTEN, "gfx9999")


@pytest.mark.parametrize("target", ["gfx1101", "gfx1102", "gfx1201"])
def test_the_target_is_read_back_from_the_elf_flags(target: str) -> None:
    assert load_code_object(compile_gfx(_mixed_kernel(), target)).target == target


@pytest.mark.parametrize(
    ("name", "value"),
    [("R_AMDGPU_ABS32_LO", 0x2345_6790), ("R_AMDGPU_ABS32_HI", 0x1), ("R_AMDGPU_ABS64", 0x1_2345_6790),
     ("R_AMDGPU_ABS32", 0x2345_6790), ("R_AMDGPU_REL32", 0x2345_5790), ("R_AMDGPU_REL64", 0x1_2345_5790),
     ("R_AMDGPU_REL32_LO", 0x2345_5790), ("R_AMDGPU_REL32_HI", 0x1), ("R_AMDGPU_RELATIVE64", 0x1_0000_0010),
     ("R_AMDGPU_REL16", (0x1_2345_5790 - 4) >> 2 & 0xFFFF)],
)  # fmt: skip
def test_relocation_values_follow_the_elf_abi(name: str, value: int) -> None:
    """S = 0x1_2345_6780, A = 0x10, P = 0x1000, B = 0x1_0000_0000."""
    (formula,) = [f for n, _, f in RELOCATIONS.values() if n == name]
    assert formula(0x1_2345_6780, 0x10, 0x1000, 0x1_0000_0000) == value
