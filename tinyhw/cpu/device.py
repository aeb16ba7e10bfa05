"""The built-in CPU device: an HCQ device whose command processor is a worker thread.

It compiles LLVM IR for this machine with llvmlite (native features, O2), loads the object with
tinyhw's own ELF loader and splits each launch's workgroups across all cores. It needs no
hardware and no system compiler, and it is driven exactly like a GPU: command words in a queue,
a doorbell, a timeline signal in memory.
"""

from __future__ import annotations

import hashlib
import os
import platform

from tinyhw.backend import DeviceInfo
from tinyhw.cpu.compiler import BINARY_FORMAT, compile_cpu_kernel, read_signature
from tinyhw.cpu.loader import LoadedObject, load_object
from tinyhw.cpu.memory import CPUAllocator, total_memory
from tinyhw.cpu.queue import CommandProcessor, CPUQueue
from tinyhw.errors import CompileError
from tinyhw.hcq.device import HCQDevice
from tinyhw.hcq.program import HCQProgram
from tinyhw.hcq.signal import Signal
from tinyhw.hookspec import hookimpl
from tinyhw.kernel.llvm import compiler_version, host_target
from tinyhw.program import Param

__all__ = ["CPUDevice", "CPUProgram", "CPUSignal", "LLVM_KINDS"]

LLVM_KINDS = {"ptr": "buffer", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "half": "float16",
              "bfloat": "bfloat16", "float": "float32", "double": "float64"}  # fmt: skip
"""Parameter kind of each LLVM parameter type of the CPU kernel ABI."""

KERNARG_SLOT = 8


class CPUSignal(Signal):
    """A signal whose waiters sleep on the command processor's condition variable."""

    __slots__ = ("_processor", "_device")

    def _block(self, value: int, seconds: float) -> None:
        if self._device.error is not None:
            raise self._device.error
        with self._processor.wakeup:
            if self._slots[0] < value and self._device.error is None:
                self._processor.wakeup.wait(seconds)


class CPUProgram(HCQProgram):
    """A kernel loaded in executable memory; `entry` is the address of its generated entry point."""

    __slots__ = ("entry", "loaded")

    def __init__(self, device: CPUDevice, loaded: LoadedObject) -> None:
        signature = read_signature(loaded)
        try:
            kinds = [("u" if u else "") + LLVM_KINDS[t] for t, u in zip(signature.params, signature.unsigned)]
            params = tuple(Param(name, kind) for name, kind in zip(signature.names, kinds))
        except KeyError as unknown:
            raise CompileError(f"{signature.name}: unsupported parameter type {unknown}") from None
        offsets = tuple(KERNARG_SLOT * i for i in range(len(params)))
        super().__init__(device, signature.name, params, offsets, max(KERNARG_SLOT * len(params), KERNARG_SLOT))
        self.entry, self.loaded = loaded.address("tinyhw.entry"), loaded


class CPUDevice(HCQDevice):
    """The host CPU as an HCQ device (see the module docstring)."""

    compute_queue_type = CPUQueue
    copy_queue_type = CPUQueue

    def __init__(self, name: str = "cpu:0", threads: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.processor = CommandProcessor(name, self.threads, self.record_fault)
        self._programs: list[CPUProgram] = []
        super().__init__(name, _describe_host(self.threads), CPUAllocator(self))

    def make_signal(self, name: str, memory: memoryview, va: int) -> Signal:
        signal = CPUSignal(self.name, name, memory, va)
        signal._processor, signal._device = self.processor, self
        return signal

    def compile_binary(self, source: str | bytes, entry: str | None) -> bytes:
        return compile_cpu_kernel(source.decode() if isinstance(source, bytes) else source, entry)

    def load_program(self, binary: bytes) -> CPUProgram:
        loaded = load_object(binary)
        try:
            program = CPUProgram(self, loaded)
        except Exception:
            loaded.close()
            raise
        self._programs.append(program)
        return program

    @hookimpl  # an override is not a hook implementation unless marked again
    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.processor.stop():
                for program in self._programs:
                    program.loaded.close()
            self._programs.clear()


def _describe_host(threads: int) -> DeviceInfo:
    triple, cpu, features = host_target()
    feature_hash = hashlib.sha256(features.encode()).hexdigest()[:12]
    return DeviceInfo(
        name=_cpu_model() or f"{platform.machine()} CPU",
        memory=total_memory(),
        compute_units=threads,
        target=f"{triple}/{cpu}/{feature_hash}",
        compiler=f"tinyhw-cpu-{BINARY_FORMAT}/{compiler_version()}",
        details={"triple": triple, "cpu": cpu, "threads": threads},
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
