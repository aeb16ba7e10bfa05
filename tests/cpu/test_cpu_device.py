"""The CPU device as a user sees it: kernels use every core, faults are reported, it closes cleanly."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import tinyhw

THREAD_ID = """
declare i64 @pthread_self()

define void @thread_id(ptr %out, i32 %gx, i32 %gy, i32 %gz) {
  %self = call i64 @pthread_self()
  %slot = getelementptr i64, ptr %out, i32 %gx
  store i64 %self, ptr %slot
  ret void
}
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores")
def test_workgroups_are_spread_over_all_cores(cpu):
    groups = 64
    out = cpu.allocate(8 * groups)
    cpu.launch(cpu.compile(THREAD_ID), out, global_size=groups)
    ids = np.empty(groups, np.uint64)
    cpu.copy(ids, out)
    cpu.sync()
    assert len(set(ids.tolist())) == min(cpu.info.compute_units, groups)


def test_info_describes_the_host(cpu):
    info = cpu.info
    assert info.memory > 1 << 28 and info.compute_units == os.cpu_count()
    assert info.target.startswith(info.details["triple"]) and "llvm" in info.compiler


def test_close_stops_the_command_processor():
    dev = tinyhw.Device("cpu")
    dev.close()
    before = {t.name for t in threading.enumerate()}
    dev = tinyhw.Device("cpu")
    dev.launch(dev.compile("define void @k(i32 %x, i32 %y, i32 %z) {\n  ret void\n}\n"))
    dev.close()
    assert {t.name for t in threading.enumerate() if t.is_alive()} <= before
    assert tinyhw.Device("cpu") is not dev


def test_unsigned_scalars_take_their_full_range(cpu):
    program = cpu.compile(
        "define void @put(ptr %out, i32 zeroext %v, i32 %x, i32 %y, i32 %z) {\n"
        "  store i32 %v, ptr %out\n  ret void\n}\n"
    )
    assert [p.kind for p in program.params] == ["buffer", "uint32"]
    out = cpu.allocate(4)
    cpu.launch(program, out, 0xDEADBEEF)
    result = np.zeros(1, np.uint32)
    cpu.copy(result, out)
    cpu.sync()
    assert result[0] == 0xDEADBEEF
    with pytest.raises(TypeError, match="put"):
        cpu.launch(program, out, -1)
