"""Assemble gfx1100 instructions with LLVM's llvm-mc-15 and run them on one emulated wave (test helper).

Tests that use it skip when llvm-mc-15 is missing, except under CI=true (.ci/run installs llvm-15),
where a missing assembler fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.sim.amd.isa.program import Program
from tests.sim.amd.isa.wave import EXEC, Wave
from tests.sim.amd.memory import GPUMemory

LLVM_MC = "llvm-mc-15"
CODE_VA = 0x1000


def require_llvm_mc() -> str:
    """The assembler's path; skips the test when it is missing (fails under CI=true)."""
    path = shutil.which(LLVM_MC)
    if path is None:
        message = f"{LLVM_MC} is not installed (Debian package llvm-15) and is needed to assemble gfx1100 code"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


_ENCODINGS: dict[str, bytes] = {}


def assemble(*lines: str) -> list[bytes]:
    """The machine code of each line (one instruction per line); lines not seen before go to llvm-mc in one batch."""
    missing = list(dict.fromkeys(line for line in lines if line not in _ENCODINGS))
    if missing:
        command = [require_llvm_mc(), "-arch=amdgcn", "-mcpu=gfx1100", "-show-encoding"]
        source = "\n".join(missing) + "\n"
        result = subprocess.run(command, input=source, capture_output=True, text=True, timeout=60)
        if result.returncode or "error" in result.stderr:
            raise AssertionError(f"{LLVM_MC} rejected the test's assembly:\n{result.stderr}")
        encodings = re.findall(r"encoding: \[([^\]]*)\]", result.stdout)
        assert len(encodings) == len(missing), result.stdout
        for line, encoding in zip(missing, encodings):
            _ENCODINGS[line] = bytes(int(b, 16) for b in encoding.split(","))
    return [_ENCODINGS[line] for line in lines]


def bits(values) -> np.ndarray:
    """Lane values as uint32 register bits: floats as float32, integers wrapped to 32 bits; broadcast to 32 lanes."""
    array = np.asarray(values)
    array = array.astype(np.float32).view(np.uint32) if array.dtype.kind == "f" else array.astype(np.int64)
    return np.broadcast_to(array.astype(np.uint32), 32)


def run_code(lines: list[str], sgpr: dict[int, int] | None = None, vgpr: dict[int, np.ndarray] | None = None,
             exec_mask: int = 0xFFFFFFFF, memory: GPUMemory | None = None, scc: int = 0, lds_bytes: int = 256,
             scratch_bytes: int = 64) -> Wave:  # fmt: skip
    """Run `lines` (then s_endpgm) on one wave with the given registers; returns the wave afterwards."""
    code = b"".join(assemble(*lines, "s_endpgm"))
    memory = memory or GPUMemory()
    memory.map(CODE_VA, bytearray(code.ljust(4096, b"\0")))
    wave = Wave(memory, 64, np.zeros(lds_bytes, np.uint8), np.zeros((32, scratch_bytes), np.uint8), CODE_VA)
    for index, value in (sgpr or {}).items():
        wave.sgpr[index] = value
    for index, values in (vgpr or {}).items():
        wave.vgpr[index] = bits(values)
    wave.sgpr[EXEC], wave.scc = exec_mask, scc
    Program(CODE_VA, bytes(memory.read(CODE_VA, 4096))).run(wave, 1000, 0)
    return wave
