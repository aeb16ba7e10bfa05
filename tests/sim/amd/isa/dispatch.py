"""Running a compute dispatch: what the hardware does with a PM4 DISPATCH_DIRECT's registers.

Each workgroup gets its LDS, and waves of 32 work-items whose initial registers follow the
COMPUTE_PGM_RSRC2 fields: user SGPRs from COMPUTE_USER_DATA_*, then the enabled workgroup ids
(TGID_X/Y/Z_EN), then the private segment wave offset when scratch is on; v0 packs the
work-item ids (x in bits 0-9, y in 10-19, z in 20-29); EXEC enables the wave's existing
work-items. Waves of a workgroup run in turn up to each s_barrier, then all continue.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .program import Program, program_at
from .wave import EXEC, LANES, Wave

__all__ = ["execute_dispatch", "run_dispatch"]

_MAX_WORKGROUP = 1024


def _check(workgroup_size: tuple[int, int, int], grid: tuple[int, int, int], rsrc2: int) -> None:
    if len(workgroup_size) != 3 or len(grid) != 3 or min(*workgroup_size, *grid) < 1:
        raise ValueError(f"workgroup size {workgroup_size} and grid {grid} need three positive dimensions")
    if math.prod(workgroup_size) > _MAX_WORKGROUP or max(workgroup_size) > 1023:
        raise ValueError(f"workgroup size {workgroup_size} exceeds {_MAX_WORKGROUP} work-items or 1023 in a dimension")
    if rsrc2 >> 10 & 1:
        raise ValueError("COMPUTE_PGM_RSRC2.TG_SIZE_EN (workgroup info SGPR) is not emulated")


def _waves(memory, program: Program, rsrc1: int, rsrc2: int, user_data: list[int], group: tuple[int, int, int],
           workgroup_size: tuple[int, int, int], lds: np.ndarray, scratch_size: int) -> list[Wave]:  # fmt: skip
    """The initialised waves of the workgroup with id `group`."""
    lx, ly, lz = workgroup_size
    threads = lx * ly * lz
    nvgpr = ((rsrc1 & 0x3F) + 1) * 8  # VGPRS granule: 8 registers per step in wave32
    count = rsrc2 >> 1 & 0x1F
    sgprs = list(user_data[:count]) + [0] * (count - len(user_data))  # unwritten COMPUTE_USER_DATA_* read as 0
    sgprs += [g for axis, g in enumerate(group) if rsrc2 >> (7 + axis) & 1]
    if rsrc2 & 1:
        sgprs.append(0)  # private segment wave byte offset: each wave's scratch starts at 0 here
    waves = []
    for first in range(0, threads, LANES):
        wave = Wave(memory, nvgpr, lds, np.zeros((LANES, scratch_size), np.uint8), program.base)
        wave.sgpr[: len(sgprs)] = [v & 0xFFFFFFFF for v in sgprs]
        t = np.arange(first, first + LANES)
        wave.vgpr[0] = (t % lx) | (t // lx % ly) << 10 | (t // (lx * ly) % lz) << 20
        wave.sgpr[EXEC] = (1 << min(LANES, threads - first)) - 1
        waves.append(wave)
    return waves


def run_dispatch(memory, *, pgm_address: int, rsrc1: int, rsrc2: int, rsrc3: int, user_data: list[int],
                 workgroup_size: tuple[int, int, int], grid: tuple[int, int, int], lds_size: int, scratch_size: int,
                 budget: int) -> None:  # fmt: skip
    """Run a compute dispatch of `grid` workgroups of `workgroup_size` work-items (wave32) to completion.

    pgm_address: the first instruction (COMPUTE_PGM_LO/HI); rsrc1/2/3: COMPUTE_PGM_RSRC1/2/3;
    user_data: COMPUTE_USER_DATA_0.. (RSRC2.USER_SGPR of them are loaded, missing ones read 0);
    lds_size: LDS bytes per workgroup; scratch_size: private bytes per work-item; budget: most
    instructions one wave may run. Raises UnknownInstruction, PageFault or
    InstructionBudgetExceeded at the faulting instruction (memory written before it stays
    written, as on hardware); ValueError for impossible settings.
    """
    execute_dispatch(memory, pgm_address=pgm_address, rsrc1=rsrc1, rsrc2=rsrc2, rsrc3=rsrc3, user_data=user_data,
                     workgroup_size=workgroup_size, grid=grid, lds_size=lds_size, scratch_size=scratch_size,
                     budget=budget)  # fmt: skip


def execute_dispatch(memory, *, pgm_address: int, rsrc1: int, rsrc2: int, rsrc3: int, user_data: list[int],
                     workgroup_size: tuple[int, int, int], grid: tuple[int, int, int], lds_size: int,
                     scratch_size: int, budget: int) -> int:  # fmt: skip
    """run_dispatch, returning how many wave instructions ran (for benchmarks)."""
    _check(tuple(workgroup_size), tuple(grid), rsrc2)
    program = program_at(memory, pgm_address)
    executed = 0
    for gz, gy, gx in itertools.product(range(grid[2]), range(grid[1]), range(grid[0])):
        lds = np.zeros(lds_size, np.uint8)
        waves = _waves(memory, program, rsrc1, rsrc2, user_data, (gx, gy, gz), workgroup_size, lds, scratch_size)
        executed += _run_workgroup(program, waves, budget)
    return executed


def _run_workgroup(program: Program, waves: list[Wave], budget: int) -> int:
    """Run each wave to its next barrier (or end) in turn, release the barrier, repeat until all have ended.

    Returns the wave instructions executed.
    """
    executed = [0] * len(waves)
    while not all(w.done for w in waves):
        for i, wave in enumerate(waves):
            executed[i] = program.run(wave, budget, executed[i])
        for wave in waves:
            wave.at_barrier = False
    return sum(executed)
