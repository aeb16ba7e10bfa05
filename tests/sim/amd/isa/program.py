"""Programs: machine code decoded once into per-instruction executors, and the loop that runs a wave.

A Program decodes lazily, the first time the wave reaches an address, so data after the code
(or an unknown instruction never executed) costs nothing. Programs are cached by their load
address and code bytes, so dispatching the same kernel again decodes nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .decoder import Instruction, decode
from .errors import InstructionBudgetExceeded, UnknownInstruction
from .memory_ops import build_memory
from .scalar import build_scalar
from .vector import build_vector
from .wave import Wave

__all__ = ["Program", "program_at"]

_BUILDERS: dict[str, Callable[[Instruction], Callable[[Wave], None]]] = {
    **dict.fromkeys(("SOP1", "SOP2", "SOPC", "SOPK", "SOPP"), build_scalar),
    **dict.fromkeys(("VOP1", "VOP2", "VOPC", "VOP3", "VOP3P", "VOPD"), build_vector),
    **dict.fromkeys(("SMEM", "FLAT", "DS", "MUBUF"), build_memory),
}
_MAX_CODE = 1 << 18
_CACHE: OrderedDict[tuple[int, bytes], Program] = OrderedDict()
_CACHE_SIZE = 64
_CACHE_LOCK = threading.Lock()  # simulated GPUs may dispatch from several threads


def build(ins: Instruction) -> Callable[[Wave], None]:
    """The executor of one decoded instruction; UnknownInstruction naming it if the emulator lacks it."""
    builder = _BUILDERS.get(ins.format)
    if ins.name is None or builder is None:
        raise UnknownInstruction(ins.describe(), ins.address)
    try:
        return builder(ins)
    except KeyError as e:  # the name decodes but has no semantics table entry
        raise UnknownInstruction(f"{ins.name} (no semantics for {e})", ins.address) from e


class Program:
    """Machine code loaded at GPU address `base`; `step(address)` gives (executor, next address)."""

    __slots__ = ("base", "code", "_steps")

    def __init__(self, base: int, code: bytes) -> None:
        self.base, self.code = base, code
        self._steps: dict[int, tuple[Callable[[Wave], None], int]] = {}

    def step(self, address: int) -> tuple[Callable[[Wave], None], int]:
        """The executor of the instruction at `address` and the address after it (decoded on first use)."""
        step = self._steps.get(address)
        if step is None:
            offset = address - self.base
            if not 0 <= offset <= len(self.code) - 4:
                raise UnknownInstruction("a jump outside the program's code", address)
            ins = decode(self.code, offset, address)
            step = self._steps[address] = (build(ins), address + ins.size)
        return step

    def run(self, wave: Wave, budget: int, executed: int) -> int:
        """Run `wave` until it ends or reaches a barrier; returns its instruction count so far."""
        steps = self._steps
        with np.errstate(all="ignore"):  # IEEE results (inf, NaN, wrap-around) are the point, not warnings
            while not (wave.done or wave.at_barrier):
                pc = wave.pc
                step = steps.get(pc) or self.step(pc)
                wave.pc = step[1]
                step[0](wave)
                executed += 1
                if executed > budget:
                    raise InstructionBudgetExceeded(budget, pc)
        return executed


def program_at(memory, address: int) -> Program:
    """The Program for the code at `address` in `memory` (cached while the code bytes are unchanged)."""
    code = memory.read(address, min(_MAX_CODE, memory.mapped_bytes(address)))
    key = (address, code)
    with _CACHE_LOCK:
        program = _CACHE.get(key)
        if program is None:
            program = _CACHE[key] = Program(address, code)
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
    return program
