"""The in-house ELF loader: compiled host code runs, links against libm, and unmaps cleanly."""

import ctypes
import math

import numpy as np
import pytest

from tinyhw.cpu import loader
from tinyhw.cpu.loader import load_object
from tinyhw.errors import CompileError
from tinyhw.hcq.elf import parse_elf
from tinyhw.kernel.llvm import compile_llvm_ir, host_target

IR = """
@counter = global i32 5
@table = private unnamed_addr constant [4 x float] [float 1.0, float 2.0, float 3.0, float 4.0]
@message = constant [5 x i8] c"hello"
declare float @sinf(float)
declare float @llvm.exp.f32(float)

define float @exp_sin_table(float %x, i32 %i) {
  %e = call float @llvm.exp.f32(float %x)
  %s = call float @sinf(float %x)
  %p = getelementptr [4 x float], ptr @table, i32 0, i32 %i
  %t = load float, ptr %p
  %sum = fadd float %e, %s
  %r = fmul float %sum, %t
  ret float %r
}

define i32 @bump() {
  %c = load i32, ptr @counter
  %c1 = add i32 %c, 1
  store i32 %c1, ptr @counter
  ret i32 %c1
}

define i16 @to_bfloat(float %x) {
  %b = fptrunc float %x to bfloat
  %r = bitcast bfloat %b to i16
  ret i16 %r
}
"""


@pytest.fixture(scope="module")
def obj():
    return compile_llvm_ir(IR, *host_target())


@pytest.fixture
def loaded(obj):
    with load_object(obj) as loaded:
        yield loaded


def function(loaded, name, restype, *argtypes):
    return ctypes.CFUNCTYPE(restype, *argtypes)(loaded.address(name))


def mappings(start, end):
    """The /proc/self/maps lines overlapping [start, end)."""
    with open("/proc/self/maps") as maps:
        lines = [line.split() for line in maps]
    return [line for line in lines if int(line[0].split("-")[0], 16) < end and int(line[0].split("-")[1], 16) > start]


def test_calls_libm_and_reads_rodata(loaded):
    f = function(loaded, "exp_sin_table", ctypes.c_float, ctypes.c_float, ctypes.c_int32)
    for x, i in [(0.5, 0), (1.25, 3), (-2.0, 2)]:
        assert f(x, i) == pytest.approx((math.exp(x) + math.sin(x)) * (i + 1), rel=1e-6)


def test_globals_are_writable_through_the_got(loaded):
    bump = function(loaded, "bump", ctypes.c_int32)
    assert [bump(), bump()] == [6, 7]
    assert loaded.symbol_bytes("counter") == (7).to_bytes(4, "little")
    assert loaded.symbol_bytes("message") == b"hello"


def test_no_page_is_writable_and_executable(loaded):
    perms = [line[1] for line in mappings(loaded.base, loaded.base + loaded.size)]
    assert any("x" in p for p in perms) and any("w" in p for p in perms)
    assert not any("w" in p and "x" in p for p in perms)


def bfloat16_reference(values: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even bfloat16 bit patterns, by picking the nearest of the neighbouring patterns."""
    x = values.astype(np.float64)
    middle = (x.astype(np.float32).view(np.uint32) >> 16).astype(np.int64)[:, None]
    # even pattern first, so that argmin picks it on a tie
    candidates = np.where(middle & 1, middle + [-1, 1, 0], middle + [0, -1, 1])
    as_double = (candidates.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    nearest = np.argmin(np.abs(as_double - x[:, None]), axis=1)  # differences of neighbours are exact
    return candidates[np.arange(len(x)), nearest].astype(np.uint16)


def test_bfloat_conversion_helper_is_provided():
    # A generic x86-64 CPU has no bf16 instructions, so LLVM calls __truncsfbf2, which libgcc 12 lacks.
    triple = host_target()[0]
    obj = compile_llvm_ir(IR, triple, cpu="x86-64" if triple.startswith("x86_64") else "")
    values = np.random.default_rng(0).standard_normal(200).astype(np.float32) * 1000
    values[:3] = [1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8)]  # exact ties
    with load_object(obj) as loaded:
        to_bfloat = function(loaded, "to_bfloat", ctypes.c_uint16, ctypes.c_float)
        got = np.array([to_bfloat(float(v)) for v in values], dtype=np.uint16)
    np.testing.assert_array_equal(got, bfloat16_reference(values))


def test_close_unmaps_and_is_idempotent(obj):
    loaded = load_object(obj)
    start, end = loaded.base, loaded.base + loaded.size
    assert mappings(start, end)
    loaded.close()
    loaded.close()
    assert not mappings(start, end)
    with pytest.raises(ValueError, match="closed"):
        loaded.address("bump")


def test_unknown_symbol_lists_the_defined_ones(loaded):
    with pytest.raises(KeyError, match="bump"):
        loaded.address("nothere")


def test_unresolvable_external_is_named():
    source = "declare void @tinyhw_no_such_fn()\ndefine void @f() {\n call void @tinyhw_no_such_fn()\n ret void\n}"
    obj = compile_llvm_ir(source, *host_target())
    with pytest.raises(CompileError, match="tinyhw_no_such_fn"):
        load_object(obj)


def test_unknown_relocation_type_is_named(obj, monkeypatch):
    arch = loader._ARCHES[parse_elf(obj).machine]
    for rtype in list(arch.relocations):
        monkeypatch.delitem(arch.relocations, rtype)
    with pytest.raises(CompileError, match=r"relocation type \d+ against"):
        load_object(obj)


def test_not_an_object_is_a_compile_error():
    with pytest.raises(CompileError, match="not an ELF file"):
        load_object(b"definitely not ELF" + bytes(64))
