"""Where a loaded kernel's external symbols come from: libc, libm, libgcc_s, and a tiny runtime.

The runtime supplies the helpers LLVM calls that an older libgcc lacks (bfloat16 conversions);
it is compiled for this machine and loaded once per process, the first time an object needs it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from typing import TYPE_CHECKING

from tinyhw.errors import CompileError
from tinyhw.hcq.elf import ElfFile
from tinyhw.kernel.llvm import compile_llvm_ir, host_target

if TYPE_CHECKING:
    from tinyhw.cpu.loader import LoadedObject

__all__ = ["lookup", "resolve_externals"]

_RUNTIME_IR = r"""
define bfloat @__truncsfbf2(float %x) {
  %bits = bitcast float %x to i32
  %high = lshr i32 %bits, 16
  %odd = and i32 %high, 1
  %bias = add i32 %odd, 32767
  %rounded = add i32 %bits, %bias
  %nearest = lshr i32 %rounded, 16
  %quiet = or i32 %high, 64
  %nan = fcmp uno float %x, 0.0
  %result = select i1 %nan, i32 %quiet, i32 %nearest
  %half = trunc i32 %result to i16
  %bf = bitcast i16 %half to bfloat
  ret bfloat %bf
}

; Round to float with round-to-odd, then to bfloat16 with round-to-nearest-even: exact overall.
define bfloat @__truncdfbf2(double %x) {
  %f = fptrunc double %x to float
  %back = fpext float %f to double
  %back.abs = call double @llvm.fabs.f64(double %back)
  %x.abs = call double @llvm.fabs.f64(double %x)
  %away = fcmp ogt double %back.abs, %x.abs
  %bits = bitcast float %f to i32
  %step = sext i1 %away to i32
  %toward.zero = add i32 %bits, %step
  %inexact = fcmp une double %back, %x
  %sticky = zext i1 %inexact to i32
  %odd = or i32 %toward.zero, %sticky
  %rounded = bitcast i32 %odd to float
  %bf = call bfloat @__truncsfbf2(float %rounded)
  ret bfloat %bf
}

declare double @llvm.fabs.f64(double)
"""
_RUNTIME_SYMBOLS = frozenset({"__truncsfbf2", "__truncdfbf2"})
_runtime: list[LoadedObject] = []
_runtime_lock = threading.Lock()


def resolve_externals(elf: ElfFile) -> dict[str, int]:
    """Addresses of the undefined symbols `elf` references; CompileError naming any not found."""
    names = sorted({r.symbol.name for r in elf.relocations if not r.symbol.defined and r.symbol.name})
    found = {name: lookup(name) for name in names}
    missing = [name for name, address in found.items() if address is None]
    if missing:
        raise CompileError(
            f"undefined symbols {', '.join(map(repr, missing))}: not in the object, libc, libm, libgcc_s "
            "or tinyhw's runtime helpers"
        )
    return found


def lookup(name: str) -> int | None:
    """The address of external symbol `name` in the loaded libraries or the runtime helpers."""
    for library in _libraries():
        address = _library_symbol(library, name)
        if address is not None:
            return address
    return _runtime_symbol(name) if name in _RUNTIME_SYMBOLS else None


@functools.cache
def _libraries() -> tuple[ctypes.CDLL, ...]:
    """The process's global namespace (libc), libm and libgcc_s where they exist."""
    found = [ctypes.util.find_library(name) for name in ("m", "gcc_s")]
    return (ctypes.CDLL(None), *(ctypes.CDLL(path) for path in found if path))


def _library_symbol(library: ctypes.CDLL, name: str) -> int | None:
    try:
        return ctypes.cast(library[name], ctypes.c_void_p).value
    except AttributeError:
        return None


def _runtime_symbol(name: str) -> int:
    """A helper from the runtime module, compiled and loaded on first use."""
    from tinyhw.cpu.loader import load_object  # the runtime is itself a loaded object

    with _runtime_lock:
        if not _runtime:
            _runtime.append(load_object(compile_llvm_ir(_RUNTIME_IR, *host_target())))
    return _runtime[0].address(name)
