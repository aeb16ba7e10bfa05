"""AMD kernels: compile LLVM IR to a code object that names its parameters, load it, describe its dispatch.

`compile_kernel` records the kernel's signature (name, parameter kinds and names) as a JSON
constant, `tinyhw.signature`, in the code object, so a binary is self-describing. `AMDProgram`
places the image in VRAM and holds what a dispatch programs: the code address, COMPUTE_PGM_RSRC1/2/3
and the user SGPRs. Kernel arguments follow the AMDGPU ABI: each at its natural alignment, buffers
as 64-bit pointers.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

from tinyhw.errors import CompileError
from tinyhw.hcq.elf import parse_elf
from tinyhw.hcq.program import HCQProgram
from tinyhw.kernel.llvm import parse_llvm_ir
from tinyhw.program import Param
from tinyhw_amd.autogen import gc_11_0_0 as gc
from tinyhw_amd.code_object import CodeObject, KernelDescriptor, compile_gfx

if TYPE_CHECKING:
    from tinyhw.buffer import Buffer

__all__ = ["AMDProgram", "SIGNATURE_SYMBOL", "compile_kernel", "kernarg_layout", "read_signature"]

SIGNATURE_SYMBOL = "tinyhw.signature"

LLVM_KINDS = {"ptr addrspace(1)": "buffer", "ptr": "buffer", "i8": "int8", "i16": "int16", "i32": "int32",
              "i64": "int64", "half": "float16", "bfloat": "bfloat16", "float": "float32",
              "double": "float64"}  # fmt: skip
"""Parameter kind of each LLVM parameter type of an AMDGPU kernel."""

SIZES = {"buffer": 8, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "float16": 2, "bfloat16": 2, "float32": 4,
         "float64": 8}  # fmt: skip
"""Bytes (and alignment) of each parameter kind in the kernarg segment."""

DISPATCH_PACKET = struct.Struct("<HHHHHHIIIIIQQQQ")
"""An HSA kernel dispatch packet (AQL, 64 bytes), which kernels reach through the dispatch_ptr SGPRs."""

LDS_GRANULE = 512
"""COMPUTE_PGM_RSRC2.LDS_SIZE counts LDS in 128-dword blocks."""
SCRATCH_GRANULE = 256
"""GFX 11's COMPUTE_TMPRING_SIZE.WAVESIZE counts a wave's scratch in 64-dword blocks."""

_USER_SGPR_WIDTH = {"private_segment_buffer": 4, "dispatch_ptr": 2, "queue_ptr": 2, "kernarg_segment_ptr": 2,
                    "dispatch_id": 2, "flat_scratch_init": 2, "private_segment_size": 1}  # fmt: skip


def compile_kernel(source: str, entry: str | None, target: str) -> bytes:
    """Compile AMDGPU-dialect LLVM IR for gfx `target`, with the kernel's signature embedded.

    `entry` names the kernel; by default the module's one `amdgpu_kernel` function. CompileError
    for invalid IR, a missing or ambiguous kernel, or a parameter type the ABI does not carry.
    """
    with parse_llvm_ir(source) as module:
        kernels = [f for f in module.functions if not f.is_declaration and "amdgpu_kernel" in str(f)]
        names = ", ".join(f.name for f in kernels) or "none"
        chosen = [f for f in kernels if entry is None or f.name == entry]
        if len(chosen) != 1:
            raise CompileError(f"cannot tell which function is the kernel{f' {entry!r}' if entry else ''} "
                               f"(amdgpu_kernel functions: {names})")  # fmt: skip
        name = chosen[0].name
        params = [_param(name, i, argument) for i, argument in enumerate(chosen[0].arguments)]
    text = json.dumps({"name": name, "params": params}).encode()
    escaped = "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:02X}" for b in text)
    constant = f'\n@"{SIGNATURE_SYMBOL}" = addrspace(4) constant [{len(text)} x i8] c"{escaped}", align 1\n'
    return compile_gfx(source + constant, target)


def _param(kernel: str, index: int, argument: Any) -> list[str]:
    """[kind, name] of one kernel parameter; `zeroext` integers are unsigned."""
    kind = LLVM_KINDS.get(str(argument.type))
    if kind is None:
        raise CompileError(f"kernel {kernel!r}: parameter {index} has type {argument.type}, which tinyhw cannot pass "
                           f"(supported: {', '.join(LLVM_KINDS)})")  # fmt: skip
    if kind.startswith("int") and b"zeroext" in argument.attributes:
        kind = "u" + kind
    return [kind, argument.name or f"arg{index}"]


def read_signature(binary: bytes) -> tuple[str, tuple[Param, ...]]:
    """The kernel name and parameters `compile_kernel` embedded in `binary`; CompileError if absent."""
    try:
        elf = parse_elf(bytes(binary))
        symbol = elf.symbol(SIGNATURE_SYMBOL)
        data = elf.section_data(elf.sections[symbol.section])[symbol.value : symbol.value + symbol.size]
        signature = json.loads(data)
        return signature["name"], tuple(Param(name, kind) for kind, name in signature["params"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CompileError(f"not a tinyhw AMD kernel binary (no readable {SIGNATURE_SYMBOL}): {exc!r}") from None


def kernarg_layout(params: tuple[Param, ...]) -> tuple[tuple[int, ...], int]:
    """Offsets of `params` in the kernarg segment (each at its natural alignment) and the segment's end."""
    offsets, end = [], 0
    for param in params:
        size = SIZES[param.kind.removeprefix("u")]
        end = (end + size - 1) // size * size
        offsets.append(end)
        end += size
    return tuple(offsets), end


class AMDProgram(HCQProgram):
    """A kernel of a code object loaded in VRAM, with the state its dispatches program.

    code_address: of the kernel's first instruction (256-byte aligned); rsrc1/2/3: the
    COMPUTE_PGM_RSRC registers (RSRC2 with the LDS size filled in); wave32: wavefront size 32.
    When the kernel reads the dispatch packet, it is written after the arguments in the kernarg block.
    """

    __slots__ = ("code", "descriptor", "image", "code_address", "rsrc1", "rsrc2", "rsrc3", "wave32",
                 "scratch_per_wave", "_device", "_dispatch_offset")  # fmt: skip

    def __init__(self, device: Any, code: CodeObject, name: str, params: tuple[Param, ...], image: Buffer) -> None:
        descriptor = code.kernels.get(name)
        if descriptor is None:
            raise CompileError(f"code object has no kernel {name!r}; it has {', '.join(code.kernels)}")
        _check_supported(descriptor)
        offsets, end = kernarg_layout(params)
        if end > descriptor.kernarg_size:
            raise CompileError(f"kernel {name!r}: its arguments take {end} bytes, but its descriptor declares a "
                               f"{descriptor.kernarg_size}-byte kernarg segment")  # fmt: skip
        kernarg_size = (max(end, descriptor.kernarg_size, 1) + 63) // 64 * 64
        self._dispatch_offset = kernarg_size if "dispatch_ptr" in descriptor.user_sgprs else -1
        packet = DISPATCH_PACKET.size if self._dispatch_offset >= 0 else 0
        super().__init__(device, name, params, offsets, kernarg_size + packet)
        self.code, self.descriptor, self.image = code, descriptor, image
        base = image.handle.va + image.offset
        self.code_address = base + descriptor.entry
        lds_blocks = (descriptor.group_segment_size + LDS_GRANULE - 1) // LDS_GRANULE
        self.rsrc1, self.rsrc3 = descriptor.rsrc1, descriptor.rsrc3
        self.rsrc2 = descriptor.rsrc2 & ~gc.COMPUTE_PGM_RSRC2__LDS_SIZE_MASK
        self.rsrc2 |= (lds_blocks << gc.COMPUTE_PGM_RSRC2__LDS_SIZE__SHIFT) & gc.COMPUTE_PGM_RSRC2__LDS_SIZE_MASK
        self.wave32 = descriptor.wave32
        lanes = 32 if self.wave32 else 64
        self.scratch_per_wave = -(-descriptor.private_segment_size * lanes // SCRATCH_GRANULE) * SCRATCH_GRANULE
        self._device = device

    def scratch(self) -> tuple[int, int]:
        """(COMPUTE_TMPRING_SIZE, scratch base address) for a dispatch; (0, 0) for kernels without scratch.

        The device's scratch backing holds `waves` slots of `scratch_per_wave` bytes; the hardware
        gives each wave in flight its slot (GFX 11 sets up flat scratch from the dispatch's base).
        """
        if not self.scratch_per_wave:
            return 0, 0
        base, waves = self._device.scratch(self.scratch_per_wave)
        size = (waves << gc.COMPUTE_TMPRING_SIZE__WAVES__SHIFT) & gc.COMPUTE_TMPRING_SIZE__WAVES_MASK
        units = self.scratch_per_wave // SCRATCH_GRANULE
        size |= (units << gc.COMPUTE_TMPRING_SIZE__WAVESIZE__SHIFT) & gc.COMPUTE_TMPRING_SIZE__WAVESIZE_MASK
        return size, base

    def user_data(self, kernargs: int, global_size: tuple, local_size: tuple) -> list[int]:
        """COMPUTE_USER_DATA values for one dispatch: the enabled user SGPRs, in hardware order."""
        values: list[int] = []
        for name in self.descriptor.user_sgprs:
            if name == "kernarg_segment_ptr":
                values += (kernargs & 0xFFFFFFFF, kernargs >> 32)
            elif name == "dispatch_ptr":
                packet = kernargs + self._dispatch_offset
                self._write_dispatch_packet(packet, kernargs, global_size, local_size)
                values += (packet & 0xFFFFFFFF, packet >> 32)
            else:  # GFX 11 sets up scratch from the dispatch's registers, and there are no dispatch ids: zeros
                values += [0] * _USER_SGPR_WIDTH[name]
        return values

    def _write_dispatch_packet(self, address: int, kernargs: int, global_size: tuple, local_size: tuple) -> None:
        lx, ly, lz = (int(n) for n in local_size)
        gx, gy, gz = (int(g) * int(n) for g, n in zip(global_size, local_size))
        dims = 3 if gz > 1 else 2 if gy > 1 else 1
        view = self._device.host_address(address, DISPATCH_PACKET.size)
        DISPATCH_PACKET.pack_into(view, 0, 0, dims, lx, ly, lz, 0, gx, gy, gz, 0, self.descriptor.group_segment_size,
                                  0, kernargs, 0, 0)  # fmt: skip


def _check_supported(descriptor: KernelDescriptor) -> None:
    """CompileError for what PM4 dispatches cannot provide: the HSA queue pointer."""
    if "queue_ptr" in descriptor.user_sgprs:
        raise CompileError(f"kernel {descriptor.name!r} reads the HSA queue pointer, which PM4 dispatches do not have")
