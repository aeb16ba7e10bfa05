"""A team of helper threads that run parts of a CPU launch, handed work through shared memory.

Waking a sleeping thread costs tens of microseconds, more than many kernels run. So each helper
waits for work in a small native loop (compiled here from LLVM IR, called with the GIL released)
that polls its slot for a new job, runs it and polls again; only after `SPIN_SECONDS` without work
does it return to Python and sleep on a condition variable. A launch then costs the poster a few
stores and loads per helper while the team is busy, and one wake-up when it was idle.

Each helper has a slot of two cache lines: the first the poster writes (the job number, then the
entry point, kernarg address and workgroup range), the second the helper writes (the last job
it finished, and whether it is polling). Posting stores the job number and then reads the
helper's state, and a helper going to sleep stores its state and then reads the job number, both
sequentially consistent: either the poster sees that the helper sleeps and wakes it, or the
helper sees the job and stays up.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import platform
import threading
import time
from functools import cache
from typing import Any

import cffi

from tinyhw.cache import CompileCache, cache_key, default_directory
from tinyhw.cpu.loader import LoadedObject, load_object
from tinyhw.errors import CompileError
from tinyhw.kernel.llvm import compile_llvm_ir, compiler_version, host_target

__all__ = ["Team"]

SLOT_BYTES = 128
JOB, ENTRY, KERNARGS, START, END, GROUPS_X, GROUPS_Y = 0, 8, 16, 24, 28, 32, 36
DONE, POLLING = 64, 72
SPIN_SECONDS = 200e-6
"""How long an idle helper (or a poster waiting for its helpers) polls before it sleeps: longer than
the gaps between the launches of a graph or of a busy host, short enough not to hold a core idle."""

_ffi = cffi.FFI()


class Team:
    """`helpers` threads that each run one part of a launch beside the thread that posts it."""

    def __init__(self, name: str, helpers: int) -> None:
        native = _native()
        self._serve = _ffi.cast("void(*)(uint64_t, uint64_t)", native.address("tinyhw.team.serve"))
        self._post = _ffi.cast("int32_t(*)(uint64_t, uint64_t, uint64_t, int32_t, int32_t, int32_t, int32_t)",
                               native.address("tinyhw.team.post"))  # fmt: skip
        self._wait = _ffi.cast("int32_t(*)(uint64_t, int32_t, uint64_t)", native.address("tinyhw.team.wait"))
        self._memory = (ctypes.c_uint64 * (SLOT_BYTES * helpers // 8 + 8))()
        self._base = -(-ctypes.addressof(self._memory) // 64) * 64
        self._words = _ffi.cast("uint64_t *", self._base)
        self._wakeup = threading.Condition()
        self._stopping = False
        self._polls = int(_polls_per_second() * SPIN_SECONDS)
        self._threads = [threading.Thread(target=self._helper, args=(i,), name=f"{name}-core{i + 1}", daemon=True)
                         for i in range(helpers)]  # fmt: skip
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        """Threads a launch is split over: the helpers and the poster."""
        return len(self._threads) + 1

    def run(self, function: Any, entry: int, kernargs: int, bounds: list[int], groups_x: int, groups_y: int) -> None:
        """Run workgroups [bounds[k], bounds[k + 1]) of a kernel entry: part 0 here (through `function`,
        the entry as a callable), part k on helper k - 1; return when all are done."""
        sleeping = False
        for k in range(1, len(bounds) - 1):
            slot = self._base + SLOT_BYTES * (k - 1)
            sleeping |= bool(self._post(slot, entry, kernargs, bounds[k], bounds[k + 1], groups_x, groups_y))
        if sleeping:
            with self._wakeup:
                self._wakeup.notify_all()
        function(kernargs, bounds[0], bounds[1], groups_x, groups_y)
        polls = self._polls
        while not self._wait(self._base, len(bounds) - 2, polls):
            if not all(thread.is_alive() for thread in self._threads):
                raise RuntimeError("a helper thread of the CPU device's team has died")
            polls = 1  # a long part: stop polling, give the core to it
            time.sleep(20e-6)

    def wake(self) -> None:
        """Get sleeping helpers polling ahead of launches (a long submission is starting), so that its
        first split launch does not wait for them to wake."""
        if any(self._words[(SLOT_BYTES * i + POLLING) // 8] == 0 for i in range(len(self._threads))):
            with self._wakeup:
                self._wakeup.notify_all()

    def stop(self) -> None:
        """Let the helpers finish their jobs and exit (waiting at most a second for them)."""
        self._stopping = True
        with self._wakeup:
            self._wakeup.notify_all()
        for thread in self._threads:
            thread.join(timeout=1.0)

    def _helper(self, index: int) -> None:
        slot = self._base + SLOT_BYTES * index
        job, done = (SLOT_BYTES * index + JOB) // 8, (SLOT_BYTES * index + DONE) // 8
        while not self._stopping:
            self._serve(slot, self._polls)
            with self._wakeup:
                if not self._stopping and self._words[job] == self._words[done]:
                    self._wakeup.wait()  # any notification sends it back to polling: work, or work ahead


@cache
def _native() -> LoadedObject:
    """The team's polling, posting and waiting loops, compiled for this host (once, then from the compile cache)."""
    triple, cpu, features = host_target()
    source, cache = _team_ir(*_pause()), CompileCache(default_directory())
    key = cache_key("cpu-team", f"{triple}/{cpu}/{features}", compiler_version(), None, source)
    if (cached := cache.get(key)) is not None:
        with contextlib.suppress(CompileError):  # a damaged entry: compile afresh
            return load_object(cached)
    binary = compile_llvm_ir(source, triple, cpu, features, opt_level=2)
    cache.put(key, binary)
    return load_object(binary)


@cache
def _polls_per_second() -> int:
    """How many polls of a slot this host makes per second (the pause hint takes from a few to a
    hundred and more cycles, by CPU): timed on a slot whose job never finishes."""
    wait = _ffi.cast("int32_t(*)(uint64_t, int32_t, uint64_t)", _native().address("tinyhw.team.wait"))
    slot = (ctypes.c_uint64 * (SLOT_BYTES // 8))()
    slot[JOB // 8] = 1
    polls, best = 1 << 12, math.inf
    for _ in range(3):
        start = time.perf_counter()
        wait(ctypes.addressof(slot), 1, polls)
        best = min(best, time.perf_counter() - start)
    return max(int(polls / best), 1 << 20)


def _pause() -> tuple[str, str]:
    """(declaration, call) in IR of the host's spin-wait hint: it saves power and yields to a sibling hyperthread."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686", "x86"):
        return "declare void @llvm.x86.sse2.pause()", "call void @llvm.x86.sse2.pause()"
    if machine in ("aarch64", "arm64"):
        return "declare void @llvm.aarch64.hint(i32)", "call void @llvm.aarch64.hint(i32 1)"
    return "", ""


JOB_FIELDS = (("fn", ENTRY, "ptr", 8), ("args", KERNARGS, "ptr", 8), ("start", START, "i32", 4), ("end", END, "i32", 4),
              ("gx", GROUPS_X, "i32", 4), ("gy", GROUPS_Y, "i32", 4))  # fmt: skip
"""A job's fields in a slot, (IR name, offset, type, alignment): a kernel entry point and its arguments."""


def _job_params(fields: tuple) -> str:
    return ", ".join(f"{kind} %{name}" for name, _, kind, _ in fields)


def _job_fields(access: str) -> str:
    """IR that loads every job field from %slot into %NAME, or stores %NAME into it."""
    lines = []
    for name, offset, kind, align in JOB_FIELDS:
        lines.append(f"  %{name}.p = getelementptr i8, ptr %slot, i64 {offset}")
        if access == "load":
            lines.append(f"  %{name} = load {kind}, ptr %{name}.p, align {align}")
        else:
            lines.append(f"  store {kind} %{name}, ptr %{name}.p, align {align}")
    return "\n".join(lines)


def _team_ir(declare: str, pause: str) -> str:
    return f"""
{declare}

define void @tinyhw.team.serve(ptr %slot, i64 %polls) {{
entry:
  %job.p = getelementptr i8, ptr %slot, i64 {JOB}
  %done.p = getelementptr i8, ptr %slot, i64 {DONE}
  %polling.p = getelementptr i8, ptr %slot, i64 {POLLING}
  store atomic i64 1, ptr %polling.p seq_cst, align 8
  %first = load atomic i64, ptr %done.p monotonic, align 8
  br label %poll
poll:
  %seen = phi i64 [ %first, %entry ], [ %job, %run ], [ %seen, %idle ], [ %seen, %awake ]
  %idle.n = phi i64 [ 0, %entry ], [ 0, %run ], [ %idle.next, %idle ], [ 0, %awake ]
  %job = load atomic i64, ptr %job.p acquire, align 8
  %new = icmp ne i64 %job, %seen
  br i1 %new, label %run, label %wait
run:
{_job_fields("load")}
  call void %fn({_job_params(JOB_FIELDS[1:])})
  store atomic i64 %job, ptr %done.p release, align 8
  br label %poll
wait:
  %idle.next = add i64 %idle.n, 1
  %more = icmp ult i64 %idle.next, %polls
  br i1 %more, label %idle, label %sleep
idle:
  {pause}
  br label %poll
sleep:
  store atomic i64 0, ptr %polling.p seq_cst, align 8
  %late = load atomic i64, ptr %job.p seq_cst, align 8
  %missed = icmp ne i64 %late, %seen
  br i1 %missed, label %awake, label %exit
awake:
  store atomic i64 1, ptr %polling.p seq_cst, align 8
  br label %poll
exit:
  ret void
}}

define i32 @tinyhw.team.post(ptr %slot, {_job_params(JOB_FIELDS)}) {{
entry:
{_job_fields("store")}
  %job.p = getelementptr i8, ptr %slot, i64 {JOB}
  %job = load atomic i64, ptr %job.p monotonic, align 8
  %next = add i64 %job, 1
  store atomic i64 %next, ptr %job.p seq_cst, align 8
  %polling.p = getelementptr i8, ptr %slot, i64 {POLLING}
  %polling = load atomic i64, ptr %polling.p seq_cst, align 8
  %asleep = icmp eq i64 %polling, 0
  %result = zext i1 %asleep to i32
  ret i32 %result
}}

define i32 @tinyhw.team.wait(ptr %slots, i32 %count, i64 %polls) {{
entry:
  br label %slot
slot:
  %i = phi i32 [ 0, %entry ], [ %i.next, %finished ]
  %spent = phi i64 [ 0, %entry ], [ %spent.now, %finished ]
  %all = icmp uge i32 %i, %count
  br i1 %all, label %yes, label %check
check:
  %spent.c = phi i64 [ %spent, %slot ], [ %spent.next, %pause ]
  %offset = mul i32 %i, {SLOT_BYTES}
  %base = getelementptr i8, ptr %slots, i32 %offset
  %done.p = getelementptr i8, ptr %base, i64 {DONE}
  %done = load atomic i64, ptr %done.p acquire, align 8
  %job.p = getelementptr i8, ptr %base, i64 {JOB}
  %job = load atomic i64, ptr %job.p monotonic, align 8
  %ready = icmp eq i64 %done, %job
  br i1 %ready, label %finished, label %again
again:
  %spent.next = add i64 %spent.c, 1
  %give.up = icmp uge i64 %spent.next, %polls
  br i1 %give.up, label %no, label %pause
pause:
  {pause}
  br label %check
finished:
  %spent.now = phi i64 [ %spent.c, %check ]
  %i.next = add i32 %i, 1
  br label %slot
yes:
  ret i32 1
no:
  ret i32 0
}}
"""
