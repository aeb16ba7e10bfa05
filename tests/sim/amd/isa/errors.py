"""Errors the RDNA3 emulator raises besides PageFault (tests/sim/amd/memory.py)."""

from __future__ import annotations

__all__ = ["EmulationError", "InstructionBudgetExceeded", "UnknownInstruction"]


class EmulationError(Exception):
    """Base class of the emulator's own errors."""


class UnknownInstruction(EmulationError):
    """An instruction the emulator cannot execute; the message names it (or its encoding) and its address."""

    def __init__(self, what: str, address: int) -> None:
        super().__init__(f"cannot emulate {what} at {address:#x}")
        self.address = address


class InstructionBudgetExceeded(EmulationError):
    """A wave ran more instructions than the dispatch's budget (a hung kernel on real hardware)."""

    def __init__(self, budget: int, pc: int) -> None:
        super().__init__(f"wave exceeded its budget of {budget} instructions (pc {pc:#x}); the kernel hangs")
        self.budget = budget
        self.pc = pc
