"""Compile LLVM IR text to relocatable ELF objects with llvmlite.

One function serves every LLVM target tinyhw drives (host CPU, AMDGPU, NVPTX): parse and verify
the module, run LLVM's standard new-pass-manager pipeline at the requested level (the same
pipeline `clang -O2` runs, vectorisers included from O2), and emit a relocatable object file.
Host code is emitted position independent with the small code model, so every reference inside
the object is PC-relative and the in-house loader (tinyhw.cpu.loader) can place the whole object
in one mapping. Each call parses into a fresh LLVM context, so compiles may run in several
threads at once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator

import llvmlite
import llvmlite.binding as llvm

from tinyhw.errors import CompileError

__all__ = ["compile_llvm_ir", "compiler_version", "host_target", "parse_llvm_ir"]

_init_lock = threading.Lock()
_initialized = False


def _initialize_targets() -> None:
    """Register every target llvmlite ships, once per process (llvm.initialize() is gone in 0.50)."""
    global _initialized
    with _init_lock:
        if not _initialized:
            llvm.initialize_all_targets()
            llvm.initialize_all_asmprinters()
            _initialized = True


def compile_llvm_ir(source: str, triple: str, cpu: str = "", features: str = "", opt_level: int = 2) -> bytes:
    """Compile LLVM IR `source` for `triple` and return a relocatable object file.

    `cpu` and `features` name the target CPU and its feature string (e.g. "+avx2,-avx512f"); the
    module's own triple and data layout are replaced by the target's. `opt_level` is 0-3 as for
    clang. Raises CompileError with LLVM's message (line and column where it gives them) when the
    IR does not parse or verify, or when the triple names no known target.
    """
    if opt_level not in range(4):
        raise ValueError(f"opt_level must be 0, 1, 2 or 3, not {opt_level!r}")
    machine = _target_machine(triple, cpu, features, opt_level)
    with parse_llvm_ir(source) as module:
        module.triple = triple
        module.data_layout = str(machine.target_data)
        _optimize(module, machine, opt_level)
        try:
            return machine.emit_object(module)
        except RuntimeError as e:
            raise CompileError(f"LLVM code generation failed for {triple}:\n{e}") from e


def _target_machine(triple: str, cpu: str, features: str, opt_level: int) -> llvm.TargetMachine:
    """A target machine for `triple`: PIC, small code model (one mapping reaches everything)."""
    _initialize_targets()
    try:
        target = llvm.Target.from_triple(triple)
    except RuntimeError as e:
        raise CompileError(f"unknown target triple {triple!r}: {e}") from e
    return target.create_target_machine(cpu=cpu, features=features, opt=opt_level, reloc="pic", codemodel="default")


@contextlib.contextmanager
def parse_llvm_ir(source: str) -> Iterator[llvm.ModuleRef]:
    """Parse and verify LLVM IR text in a fresh context, for use inside the `with` block.

    The module is closed when the block ends: llvmlite frees a module and its context in any order
    when a reference cycle (a traceback, say) holds both, and a module freed after its context
    crashes the process. Raises CompileError carrying LLVM's diagnostics.
    """
    try:
        module = llvm.parse_assembly(source, llvm.create_context())
    except RuntimeError as e:
        message = str(e).removeprefix("LLVM IR parsing error\n")
        raise CompileError(f"LLVM IR does not parse:\n{message}") from e
    try:
        module.verify()
    except RuntimeError as e:
        module.close()
        raise CompileError(f"LLVM IR does not verify:\n{e}") from e
    try:
        yield module
    finally:
        module.close()


def _optimize(module: llvm.ModuleRef, machine: llvm.TargetMachine, opt_level: int) -> None:
    """Run the default per-module pipeline; like clang, unroll and vectorise from O2 on."""
    options = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    vectorize = opt_level >= 2
    options.loop_unrolling = options.loop_interleaving = vectorize
    options.loop_vectorization = options.slp_vectorization = vectorize
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)


@functools.cache
def host_target() -> tuple[str, str, str]:
    """The (triple, cpu name, features) that native code for this process is compiled with."""
    triple = llvm.get_process_triple()
    if "darwin" in triple or "macos" in triple:
        # The in-house loader reads ELF only; LLVM emits ELF for Darwin when the environment says so.
        triple += "-elf"
    return triple, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def compiler_version() -> str:
    """The llvmlite and LLVM versions, e.g. "llvmlite-0.50.0/llvm-22.1.0"; compile caches key on it."""
    return f"llvmlite-{llvmlite.__version__}/llvm-{'.'.join(map(str, llvm.llvm_version_info))}"
