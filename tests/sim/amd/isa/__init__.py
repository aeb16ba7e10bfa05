"""An RDNA3 (gfx11, wave32) ISA emulator that runs gfx1100 code objects on the simulated GPU's memory.

    from sim.amd.isa import run_dispatch
    run_dispatch(memory, pgm_address=..., rsrc1=..., rsrc2=..., rsrc3=..., user_data=[...],
                 workgroup_size=(64, 1, 1), grid=(4, 1, 1), lds_size=0, scratch_size=0, budget=1_000_000)

Modules: encodings (formats, opcode tables), decoder (machine code -> Instruction), wave
(registers, operand access), scalar / valu / vector / memory_ops (semantics), program (decode
cache, the wave loop), dispatch (workgroups, initial registers, barriers). For tests and
benchmarks: assembler (llvm-mc-15 snippets on one wave) and kernels (kernel IR compiled for
gfx1100 and dispatched); the package does not import them.
"""

from __future__ import annotations

from ..memory import PageFault
from .decoder import Instruction, decode
from .dispatch import execute_dispatch, run_dispatch
from .errors import EmulationError, InstructionBudgetExceeded, UnknownInstruction

__all__ = ["EmulationError", "Instruction", "InstructionBudgetExceeded", "PageFault", "UnknownInstruction", "decode",
           "execute_dispatch", "run_dispatch"]  # fmt: skip
