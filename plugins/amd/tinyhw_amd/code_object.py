"""AMD GPU code objects: compile AMDGPU LLVM IR, lay the relocatable ELF out, read kernel descriptors.

llvmlite emits a relocatable ELF for amdgcn-amd-amdhsa: machine code in .text, one 64-byte kernel
descriptor per kernel in .rodata (symbol "<kernel>.kd"), and RELA relocations tying each
descriptor's kernel_code_entry_byte_offset to its code. No linker runs: `load_code_object` lays
the allocatable sections out in one image, keeps the relocations, and decodes each descriptor
(AMDHSA kernel descriptor layout, AMDGPUUsage "Kernel Descriptor"); `CodeObject.image(base)`
applies them for the GPU address the image is loaded at. Code objects are immutable and may be
shared between threads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from tinyhw.errors import CompileError
from tinyhw.hcq.elf import (
    EM_AMDGPU,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHN_ABS,
    SHN_UNDEF,
    SHT_NOBITS,
    ElfFile,
    Relocation,
    parse_elf,
)
from tinyhw.kernel.llvm import compile_llvm_ir
from tinyhw_amd.arch import ARCHS, EF_AMDGPU_MACH

__all__ = ["CodeObject", "KernelDescriptor", "compile_gfx", "load_code_object", "TRIPLE", "USER_SGPRS"]

TRIPLE = "amdgcn-amd-amdhsa"
SHT_NOTE = 7
DESCRIPTOR_SIZE = 64
CODE_ALIGNMENT = 256
"""The command processor fetches kernels from COMPUTE_PGM_LO/HI, which hold the address >> 8."""

_DESCRIPTOR = struct.Struct("<IIIIq20sIIIHH4s")
"""group_segment_fixed_size, private_segment_fixed_size, kernarg_size, reserved, kernel_code_entry_byte_offset,
reserved, compute_pgm_rsrc3, compute_pgm_rsrc1, compute_pgm_rsrc2, kernel_code_properties, kernarg_preload, reserved."""

USER_SGPRS = (
    ("private_segment_buffer", 4),
    ("dispatch_ptr", 2),
    ("queue_ptr", 2),
    ("kernarg_segment_ptr", 2),
    ("dispatch_id", 2),
    ("flat_scratch_init", 2),
    ("private_segment_size", 1),
)
"""kernel_code_properties bits 0-6: the user SGPRs the CP loads, in hardware order, with their widths."""

KERNEL_CODE_PROPERTY_WAVE32 = 1 << 10
RSRC2_USER_SGPR_SHIFT, RSRC2_USER_SGPR_MASK = 1, 0x1F

_M32, _M64 = (1 << 32) - 1, (1 << 64) - 1
RELOCATIONS: dict[int, tuple[str, str, Callable[[int, int, int, int], int]]] = {
    1: ("R_AMDGPU_ABS32_LO", "<I", lambda s, a, p, b: (s + a) & _M32),
    2: ("R_AMDGPU_ABS32_HI", "<I", lambda s, a, p, b: (s + a) >> 32 & _M32),
    3: ("R_AMDGPU_ABS64", "<Q", lambda s, a, p, b: (s + a) & _M64),
    4: ("R_AMDGPU_REL32", "<I", lambda s, a, p, b: (s + a - p) & _M32),
    5: ("R_AMDGPU_REL64", "<Q", lambda s, a, p, b: (s + a - p) & _M64),
    6: ("R_AMDGPU_ABS32", "<I", lambda s, a, p, b: (s + a) & _M32),
    10: ("R_AMDGPU_REL32_LO", "<I", lambda s, a, p, b: (s + a - p) & _M32),
    11: ("R_AMDGPU_REL32_HI", "<I", lambda s, a, p, b: (s + a - p) >> 32 & _M32),
    13: ("R_AMDGPU_RELATIVE64", "<Q", lambda s, a, p, b: (b + a) & _M64),
    14: ("R_AMDGPU_REL16", "<H", lambda s, a, p, b: (s + a - p - 4) >> 2 & 0xFFFF),  # a branch offset in dwords
}
"""R_AMDGPU_* relocation types: name, field format, value from S (symbol), A (addend), P (place), B (base)."""
R_NONE = 0
_GOT_RELOCATIONS = {7: "R_AMDGPU_GOTPCREL", 8: "R_AMDGPU_GOTPCREL32_LO", 9: "R_AMDGPU_GOTPCREL32_HI"}


@dataclass(frozen=True)
class KernelDescriptor:
    """One kernel of a code object, decoded from its 64-byte AMDHSA kernel descriptor.

    offset: of the descriptor in the image; entry: of the kernel's first instruction in the image.
    group_segment_size: LDS bytes per workgroup; private_segment_size: scratch bytes per work-item;
    kernarg_size: bytes of the kernel-argument block. rsrc1/2/3: COMPUTE_PGM_RSRC1/2/3 as the
    dispatch writes them. kernel_code_properties: the raw bits; wave32: whether it runs in
    wavefronts of 32. user_sgprs: the enabled user SGPR groups in hardware order;
    user_sgpr_count: the user SGPRs the CP loads (RSRC2.USER_SGPR).
    """

    name: str
    offset: int
    entry: int
    group_segment_size: int
    private_segment_size: int
    kernarg_size: int
    rsrc1: int
    rsrc2: int
    rsrc3: int
    kernel_code_properties: int
    wave32: bool
    user_sgprs: tuple[str, ...]
    user_sgpr_count: int


@dataclass(frozen=True)
class _Patch:
    """One relocation, resolved to image offsets: write `type` at `at` for a symbol at `target`."""

    at: int
    type: int
    target: int
    addend: int
    absolute: bool  # target is an absolute value (SHN_ABS), not an offset in the image


@dataclass(frozen=True)
class CodeObject:
    """A loadable GPU code object: an image of `size` bytes, to be placed at an `alignment`-aligned address.

    target: the gfx target it was compiled for. kernels: its kernels by name.
    """

    size: int
    alignment: int
    kernels: dict[str, KernelDescriptor]
    target: str
    _contents: bytes = field(repr=False)  # the sections laid out, relocated for base 0
    _patches: tuple[_Patch, ...] = field(repr=False)

    def image(self, base: int) -> bytes:
        """The image with every relocation applied for loading at GPU address `base`."""
        if base % self.alignment:
            raise ValueError(f"code object load address {base:#x} is not {self.alignment}-byte aligned")
        image = bytearray(self._contents)
        for patch in self._patches:
            _apply(image, patch, base)
        return bytes(image)


def compile_gfx(source: str, target: str = "gfx1100") -> bytes:
    """Compile AMDGPU-dialect LLVM IR for gfx `target` into a relocatable code object (ELF bytes)."""
    if target not in ARCHS:
        raise CompileError(f"unknown AMD GPU target {target!r}; known: {', '.join(ARCHS)}")
    return compile_llvm_ir(source, TRIPLE, cpu=target)


def load_code_object(binary: bytes) -> CodeObject:
    """Parse a relocatable AMDGPU ELF; CompileError saying what is wrong when it is not a usable one."""
    try:
        elf = parse_elf(binary)
    except ValueError as exc:
        raise CompileError(f"not an AMDGPU code object: {exc}") from None
    if elf.machine != EM_AMDGPU:
        raise CompileError(f"not an AMDGPU code object: ELF machine is {elf.machine}, expected {EM_AMDGPU}")
    target = _target(elf)
    offsets, size, alignment = _layout(elf)
    image = _contents(elf, offsets, size)
    patches = tuple(_patch(elf, offsets, r) for r in elf.relocations if r.section in offsets and r.type != R_NONE)
    for patch in patches:
        _apply(image, patch, 0)  # every descriptor field read below is position independent
    kernels = _kernels(elf, offsets, bytes(image))
    if not kernels:
        raise CompileError("AMDGPU code object has no kernels (no '<name>.kd' kernel descriptor symbols)")
    return CodeObject(size, alignment, kernels, target, bytes(image), patches)


def _target(elf: ElfFile) -> str:
    mach = elf.flags & EF_AMDGPU_MACH
    for target, arch in ARCHS.items():
        if arch.elf_mach == mach:
            return target
    known = ", ".join(ARCHS)
    raise CompileError(f"AMDGPU code object for an unknown target (EF_AMDGPU_MACH {mach:#x}); known: {known}")


def _layout(elf: ElfFile) -> tuple[dict[int, int], int, int]:
    """Image offsets of the allocatable sections (notes left out), the image size and its alignment."""
    offsets: dict[int, int] = {}
    end, alignment = 0, CODE_ALIGNMENT
    for section in elf.sections:
        if section.flags & SHF_ALLOC and section.type != SHT_NOTE:
            align = max(section.addralign, 1)
            offsets[section.index] = start = -(-end // align) * align
            end, alignment = start + section.size, max(alignment, align)
    return offsets, end, alignment


def _contents(elf: ElfFile, offsets: dict[int, int], size: int) -> bytearray:
    """The laid-out sections' bytes (zeros for .bss-like sections)."""
    image = bytearray(size)
    for section in elf.sections:
        if section.index in offsets:
            data = elf.section_data(section)
            image[offsets[section.index] : offsets[section.index] + len(data)] = data
    return image


def _patch(elf: ElfFile, offsets: dict[int, int], relocation: Relocation) -> _Patch:
    """Resolve one relocation's place and symbol to image offsets."""
    symbol = relocation.symbol
    if symbol.section == SHN_UNDEF:
        raise CompileError(f"undefined symbol {symbol.name!r} in AMDGPU code object: kernels must be self-contained "
                           "(no calls to device libraries)")  # fmt: skip
    if relocation.type in _GOT_RELOCATIONS:
        raise CompileError(f"relocation {_GOT_RELOCATIONS[relocation.type]} against {symbol.name!r} needs a global "
                           "offset table: give module globals hidden visibility or internal linkage")  # fmt: skip
    if relocation.type not in RELOCATIONS:
        raise CompileError(f"unsupported AMDGPU relocation type {relocation.type} against {symbol.name!r}")
    at = offsets[relocation.section] + relocation.offset
    if symbol.section == SHN_ABS:
        return _Patch(at, relocation.type, symbol.value, relocation.addend, True)
    if symbol.section not in offsets:
        section = elf.sections[symbol.section].name if symbol.section < len(elf.sections) else str(symbol.section)
        raise CompileError(f"relocation against {symbol.name!r} in section {section!r}, which is not loaded")
    return _Patch(at, relocation.type, offsets[symbol.section] + symbol.value, relocation.addend, False)


def _apply(image: bytearray, patch: _Patch, base: int) -> None:
    """Write one relocation's value for an image loaded at `base`."""
    _, layout, value = RELOCATIONS[patch.type]
    symbol = patch.target + (0 if patch.absolute else base)
    struct.pack_into(layout, image, patch.at, value(symbol, patch.addend, base + patch.at, base))


def _kernels(elf: ElfFile, offsets: dict[int, int], image: bytes) -> dict[str, KernelDescriptor]:
    """Every kernel descriptor symbol ("<name>.kd") decoded; its entry must be code the image holds."""
    code = [(offsets[s.index], offsets[s.index] + s.size) for s in elf.sections
            if s.index in offsets and s.flags & SHF_EXECINSTR and s.type != SHT_NOBITS]  # fmt: skip
    kernels = {}
    for symbol in elf.symbols:
        if symbol.name.endswith(".kd") and symbol.section in offsets:
            name = symbol.name.removesuffix(".kd")
            kernels[name] = _descriptor(name, offsets[symbol.section] + symbol.value, symbol.size, image, code)
    return kernels


def _descriptor(name: str, offset: int, size: int, image: bytes, code: list[tuple[int, int]]) -> KernelDescriptor:
    if size != DESCRIPTOR_SIZE or offset % DESCRIPTOR_SIZE or offset + DESCRIPTOR_SIZE > len(image):
        raise CompileError(f"{name}: kernel descriptor of {size} bytes at image offset {offset:#x} is malformed "
                           f"(expected {DESCRIPTOR_SIZE} bytes, {DESCRIPTOR_SIZE}-byte aligned)")  # fmt: skip
    group, private, kernarg, _, entry_offset, _, rsrc3, rsrc1, rsrc2, properties, _, _ = _DESCRIPTOR.unpack_from(
        image, offset
    )
    entry = offset + entry_offset
    if entry % CODE_ALIGNMENT or not any(start <= entry < end for start, end in code):
        raise CompileError(f"{name}: kernel entry at image offset {entry:#x} is not {CODE_ALIGNMENT}-byte aligned "
                           "code in the code object")  # fmt: skip
    return KernelDescriptor(
        name=name,
        offset=offset,
        entry=entry,
        group_segment_size=group,
        private_segment_size=private,
        kernarg_size=kernarg,
        rsrc1=rsrc1,
        rsrc2=rsrc2,
        rsrc3=rsrc3,
        kernel_code_properties=properties,
        wave32=bool(properties & KERNEL_CODE_PROPERTY_WAVE32),
        user_sgprs=tuple(sgpr for bit, (sgpr, _) in enumerate(USER_SGPRS) if properties >> bit & 1),
        user_sgpr_count=rsrc2 >> RSRC2_USER_SGPR_SHIFT & RSRC2_USER_SGPR_MASK,
    )
