"""The CPU device's team of helper threads: every part of every launch runs once, idle helpers sleep."""

from __future__ import annotations

import ctypes
import threading
import time

import cffi
import numpy as np
import pytest

from tinyhw.cpu import team as team_module
from tinyhw.cpu.team import Team
from tinyhw.kernel.llvm import compile_llvm_ir

BUMP = """
define void @bump(ptr %out, i32 %gx, i32 %gy, i32 %gz) {
  %slot = getelementptr i32, ptr %out, i32 %gx
  %old = load i32, ptr %slot
  %new = add i32 %old, 1
  store i32 %new, ptr %slot
  ret void
}
"""
GROUPS = 64
_ffi = cffi.FFI()


@pytest.fixture
def bump(cpu):
    """(team with one helper, run(): one launch of BUMP over GROUPS split in two parts, the counts)."""
    program = cpu.compile(BUMP)
    counts = np.zeros(GROUPS, np.int32)
    kernargs = ctypes.c_uint64(counts.ctypes.data)
    function = _ffi.cast("void(*)(uint64_t, int32_t, int32_t, int32_t, int32_t)", program.entry)
    team = Team("test", 1)

    def run() -> None:
        team.run(function, program.entry, ctypes.addressof(kernargs), [0, GROUPS // 2, GROUPS], GROUPS, 1)

    yield team, run, counts
    team.stop()


def test_every_part_of_every_launch_runs_once(bump):
    team, run, counts = bump
    for i in range(3000):
        run()
        if i % 500 == 0:
            time.sleep(0.01)  # long enough for the helper to go to sleep: the next launch must wake it
        elif i % 500 == 250:
            time.sleep(0.01)
            team.wake()  # woken ahead of work, it polls; then it gets the work or sleeps again
    assert team.size == 2
    np.testing.assert_array_equal(counts, np.full(GROUPS, 3000))


def test_idle_helpers_do_not_burn_a_core(bump):
    _, run, counts = bump
    run()
    time.sleep(0.05)  # the helper polls for well under a millisecond, then sleeps
    before = time.process_time()
    time.sleep(0.2)
    assert time.process_time() - before < 0.05
    run()
    np.testing.assert_array_equal(counts, np.full(GROUPS, 2))


def test_stop_ends_the_helper_threads():
    before = set(threading.enumerate())
    team = Team("stopping", 2)
    assert len(set(threading.enumerate()) - before) == 2
    team.stop()
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


HOSTS = [("x86_64", "x86_64-unknown-linux-gnu"), ("arm64", "arm64-apple-macosx")]


@pytest.mark.parametrize(("machine", "triple"), HOSTS)
def test_the_polling_loops_compile_for_every_host_architecture(machine: str, triple: str, monkeypatch) -> None:
    monkeypatch.setattr(team_module.platform, "machine", lambda: machine)  # the spin-wait hint is per architecture
    declaration, pause = team_module._pause()
    assert pause  # x86's pause and AArch64's yield
    assert compile_llvm_ir(team_module._team_ir(declaration, pause), triple, "", "", opt_level=2)
