"""Run kernel IR on the RDNA3 emulator: render for AMDGPU, compile for gfx1100, load, dispatch (test helper).

The dispatch is set up as the AMD plugin's does it: the code object's image relocated at CODE_VA,
kernel arguments at KERNARG_VA (buffers as 64-bit pointers, scalars at their natural alignment),
the descriptor's RSRC registers, and user SGPRs in descriptor order with the kernarg pointer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.sim.amd.isa import execute_dispatch
from tests.sim.amd.memory import PAGE_SIZE, GPUMemory
from tinyhw.kernel.ir import Buf, Kernel
from tinyhw.kernel.render import render
from tinyhw_amd.code_object import USER_SGPRS, KernelDescriptor, compile_gfx, load_code_object

__all__ = ["CODE_VA", "KERNARG_VA", "Launch", "load_kernel", "prepare", "run_kernel"]

CODE_VA, KERNARG_VA, BUFFER_VA, BUFFER_STRIDE = 0x10_0000, 0x20_0000, 0x100_0000, 0x100_0000
BUDGET = 200_000


def _pages(nbytes: int) -> np.ndarray:
    return np.zeros(max(PAGE_SIZE, -(-nbytes // PAGE_SIZE) * PAGE_SIZE), np.uint8)


def load_kernel(memory: GPUMemory, kernel: Kernel) -> KernelDescriptor:
    """Compile `kernel` and map its code object at CODE_VA; returns its descriptor."""
    rendered = render(kernel, "llvm-amdgpu")
    code = load_code_object(compile_gfx(rendered.source))
    image = _pages(code.size)
    image[: code.size] = np.frombuffer(code.image(CODE_VA), np.uint8)
    memory.map(CODE_VA, image)
    return code.kernels[rendered.entry]


@dataclass
class Launch:
    """A kernel ready to dispatch on `memory`; `buffers` pairs each buffer's backing with its input array."""

    memory: GPUMemory
    registers: dict
    buffers: list[tuple[np.ndarray, np.ndarray]]

    def run(self, budget: int = BUDGET) -> int:
        """Dispatch the kernel; returns the wave instructions executed."""
        return execute_dispatch(self.memory, **self.registers, budget=budget)

    def results(self) -> list[np.ndarray]:
        """Every buffer argument's contents now, shaped and typed like the array passed in."""
        return [backing[: arg.nbytes].view(arg.dtype).reshape(arg.shape).copy() for backing, arg in self.buffers]


def prepare(kernel: Kernel, *args: np.ndarray | int, grid: tuple[int, int, int] = (1, 1, 1)) -> Launch:
    """Load `kernel` and its arguments (numpy arrays as buffers, numbers as scalars) into a fresh GPU memory."""
    memory = GPUMemory()
    desc = load_kernel(memory, kernel)
    kernarg, buffers, offset = bytearray(max(desc.kernarg_size, PAGE_SIZE)), [], 0
    for i, (param, arg) in enumerate(zip(kernel.params, args, strict=True)):
        if isinstance(param, Buf):
            backing, va = _pages(arg.nbytes), BUFFER_VA + i * BUFFER_STRIDE
            backing[: arg.nbytes] = np.ascontiguousarray(arg).view(np.uint8).ravel()
            memory.map(va, backing)
            buffers.append((backing, arg))
            value = np.uint64(va)
        else:
            value = np.asarray(arg, param.dtype.numpy)
        offset = -(-offset // value.nbytes) * value.nbytes
        kernarg[offset : offset + value.nbytes] = value.tobytes()
        offset += value.nbytes
    memory.map(KERNARG_VA, kernarg)
    sizes, user_data = dict(USER_SGPRS), []
    for name in desc.user_sgprs:
        user_data += [KERNARG_VA & 0xFFFFFFFF, KERNARG_VA >> 32] if name == "kernarg_segment_ptr" else [0] * sizes[name]
    registers = dict(pgm_address=CODE_VA + desc.entry, rsrc1=desc.rsrc1, rsrc2=desc.rsrc2, rsrc3=desc.rsrc3,
                     user_data=user_data, workgroup_size=kernel.local_size, grid=grid,
                     lds_size=desc.group_segment_size, scratch_size=desc.private_segment_size)  # fmt: skip
    return Launch(memory, registers, buffers)


def run_kernel(kernel: Kernel, *args: np.ndarray | int, grid: tuple[int, int, int] = (1, 1, 1),
               budget: int = BUDGET) -> list[np.ndarray]:  # fmt: skip
    """Launch `kernel` with numpy arrays as buffers and numbers as scalars; returns the buffers afterwards."""
    launch = prepare(kernel, *args, grid=grid)
    launch.run(budget)
    return launch.results()
