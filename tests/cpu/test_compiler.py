"""CPU kernels: compiled from LLVM IR under the CPU ABI, loaded, and launched over workgroup ranges."""

import ctypes
import struct

import numpy as np
import pytest

from tinyhw.cpu.compiler import KernelSignature, compile_cpu_kernel, read_signature
from tinyhw.cpu.loader import load_object
from tinyhw.errors import CompileError
from tinyhw.kernel.llvm import compile_llvm_ir, host_target

GROUP = 64
ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32)


def elementwise(params: str, body: str, result: str, decls: str = "", name: str = "k") -> str:
    """A kernel whose workgroup g stores %r (type `result`, computed by `body` from index %i) to out[64g:64g+64]."""
    return f"""{decls}
define void @{name}(ptr %out, {params}, i32 %gx, i32 %gy, i32 %gz) {{
entry:
  %group = zext i32 %gx to i64
  %first = mul i64 %group, {GROUP}
  %last = add i64 %first, {GROUP}
  br label %loop
loop:
  %i = phi i64 [ %first, %entry ], [ %next, %loop ]
{body}
  %p = getelementptr inbounds {result}, ptr %out, i64 %i
  store {result} %r, ptr %p
  %next = add i64 %i, 1
  %more = icmp ult i64 %next, %last
  br i1 %more, label %loop, label %done
done:
  ret void
}}
"""


def load(array: str, type_: str = "float") -> str:
    """IR loading element %i of ptr %`array` into %`array`.v."""
    pointer = f"  %{array}.p = getelementptr inbounds {type_}, ptr %{array}, i64 %i\n"
    return pointer + f"  %{array}.v = load {type_}, ptr %{array}.p\n"


def launch(obj: bytes, args: list, groups: tuple[int, int, int], start: int = 0, end: int | None = None) -> None:
    """Run workgroups [start, end) of a compiled kernel; numpy arrays pass by address, numpy scalars by value."""
    kernargs = b"".join(
        struct.pack("<Q", a.ctypes.data) if isinstance(a, np.ndarray) else a.tobytes().ljust(8, b"\0") for a in args
    )
    block = ctypes.create_string_buffer(kernargs, len(kernargs) + 8)
    end = groups[0] * groups[1] * groups[2] if end is None else end
    with load_object(obj) as loaded:
        ENTRY(loaded.address("tinyhw.entry"))(ctypes.addressof(block), start, end, groups[0], groups[1])


RNG = np.random.default_rng(7)
ADD = elementwise("ptr %a, ptr %b, i32 %n", load("a") + load("b") + "  %r = fadd float %a.v, %b.v", "float")


def test_add_runs_only_the_requested_workgroups():
    a, b = RNG.standard_normal((2, 8 * GROUP), dtype=np.float32)
    out = np.zeros_like(a)
    launch(compile_cpu_kernel(ADD), [out, a, b, np.int32(len(a))], (8, 1, 1), start=2, end=6)
    group = np.arange(len(a)) // GROUP
    np.testing.assert_array_equal(out, np.where((group >= 2) & (group < 6), a + b, 0))


def test_workgroup_ids_follow_the_flat_index():
    source = """
define void @ids(ptr %out, i32 %nx, i32 %ny, i32 %gx, i32 %gy, i32 %gz) {
  %row = mul i32 %gz, %ny
  %plane = add i32 %row, %gy
  %flat.y = mul i32 %plane, %nx
  %flat = add i32 %flat.y, %gx
  %base = mul i32 %flat, 3
  %px = getelementptr inbounds i32, ptr %out, i32 %base
  store i32 %gx, ptr %px
  %py = getelementptr inbounds i32, ptr %px, i32 1
  store i32 %gy, ptr %py
  %pz = getelementptr inbounds i32, ptr %px, i32 2
  store i32 %gz, ptr %pz
  ret void
}
"""
    out = np.full((5, 4, 3, 3), -1, dtype=np.int32)
    launch(compile_cpu_kernel(source), [out, np.int32(3), np.int32(4)], (3, 4, 5))
    z, y, x = np.indices((5, 4, 3))
    np.testing.assert_array_equal(out, np.stack([x, y, z], axis=-1))


def test_libm_calls_match_numpy():
    decls = "declare float @sinf(float)\ndeclare float @llvm.exp.f32(float)"
    body = load("a") + "  %e = call float @llvm.exp.f32(float %a.v)\n  %s = call float @sinf(float %a.v)\n"
    source = elementwise("ptr %a", body + "  %r = fadd float %e, %s", "float", decls)
    a = RNG.uniform(-4, 4, 4 * GROUP).astype(np.float32)
    out = np.zeros_like(a)
    launch(compile_cpu_kernel(source), [out, a], (4, 1, 1))
    np.testing.assert_allclose(out, np.exp(a) + np.sin(a), rtol=1e-5, atol=1e-6)


def test_constant_table_in_rodata():
    table = [1.5, -2.0, 3.25, 0.5, 7.0, -1.0, 0.125, 9.0]
    decls = f"@table = private unnamed_addr constant [8 x float] [{', '.join(f'float {t}' for t in table)}]"
    body = load("a") + (
        "  %k = and i64 %i, 7\n  %t.p = getelementptr inbounds [8 x float], ptr @table, i64 0, i64 %k\n"
        "  %t = load float, ptr %t.p\n  %r = fmul float %a.v, %t"
    )
    a = RNG.standard_normal(2 * GROUP).astype(np.float32)
    out = np.zeros_like(a)
    launch(compile_cpu_kernel(elementwise("ptr %a", body, "float", decls)), [out, a], (2, 1, 1))
    np.testing.assert_array_equal(out, a * np.tile(np.float32(table), len(a) // 8))


@pytest.mark.parametrize("source_type", [np.float32, np.float64])
def test_half_conversion_matches_numpy(source_type):
    ir_type = {np.float32: "float", np.float64: "double"}[source_type]
    source = elementwise("ptr %a", load("a", ir_type) + f"  %r = fptrunc {ir_type} %a.v to half", "half")
    a = (RNG.standard_normal(GROUP) * 100).astype(source_type)
    out = np.zeros(GROUP, dtype=np.float16)
    launch(compile_cpu_kernel(source), [out, a], (1, 1, 1))
    np.testing.assert_array_equal(out, a.astype(np.float16))


def test_double_to_bfloat_rounds_correctly():
    # 1 + 2**-8 + 2**-40 is just above a bfloat16 tie: rounding through float first would give 1.0.
    cases = {1.0: 0x3F80, 1 + 2**-8: 0x3F80, 1 + 3 * 2**-8: 0x3F82, 1 + 2**-8 + 2**-40: 0x3F81,
             -(1 + 2**-8 + 2**-40): 0xBF81, np.inf: 0x7F80, np.nan: 0x7FC0}  # fmt: skip
    source = elementwise("ptr %a", load("a", "double") + "  %r = fptrunc double %a.v to bfloat", "bfloat")
    a = np.resize(np.array(list(cases), dtype=np.float64), GROUP)
    out = np.zeros(GROUP, dtype=np.uint16)
    launch(compile_cpu_kernel(source), [out, a], (1, 1, 1))
    np.testing.assert_array_equal(out[: len(cases)], list(cases.values()))


def test_every_scalar_type_arrives_by_value():
    params = "i8 %a, i16 %b, i32 %c, i64 %d, half %e, bfloat %f, float %g, double %h"
    converts = [f"sitofp {t} %{v} to double" for t, v in (("i8", "a"), ("i16", "b"), ("i32", "c"), ("i64", "d"))]
    converts += [f"fpext {t} %{v} to double" for t, v in (("half", "e"), ("bfloat", "f"), ("float", "g"))]
    body = "".join(f"  %x{n} = {c}\n" for n, c in enumerate(converts))
    body += "  %s0 = fadd double %x0, %h\n" + "".join(f"  %s{n} = fadd double %s{n - 1}, %x{n}\n" for n in range(1, 7))
    out = np.zeros(GROUP, dtype=np.float64)
    scalars = [
        np.int8(-3),
        np.int16(-300),
        np.int32(-70000),
        np.int64(2**40 + 3),
        np.float16(0.5),
        np.uint16(0x4040),
        np.float32(0.25),
        np.float64(-1.5),
    ]  # fmt: skip  (0x4040 is bfloat16 3.0)
    launch(
        compile_cpu_kernel(elementwise(params, body + "  %r = fadd double %s6, 0.0", "double")),
        [out, *scalars],
        (1, 1, 1),
    )
    np.testing.assert_array_equal(out, -3 - 300 - 70000 + 2**40 + 3 + 0.5 + 3.0 + 0.25 - 1.5)


def test_signature_is_embedded():
    obj = compile_cpu_kernel(ADD)
    expected = KernelSignature("k", ("ptr", "ptr", "ptr", "i32"), ("out", "a", "b", "n"), (False,) * 4)
    assert read_signature(obj) == expected
    with load_object(obj) as loaded:
        assert read_signature(loaded) == expected


def test_kernel_name_needing_quotes():
    obj = compile_cpu_kernel(
        elementwise("ptr %a", load("a") + "  %r = fneg float %a.v", "float", name='"my \\22kernel\\22"')
    )
    assert read_signature(obj).name == 'my "kernel"'


def test_object_without_signature_is_refused():
    with pytest.raises(CompileError, match="not a compiled tinyhw CPU kernel"):
        read_signature(b"\x7fELF\x02\x01\x01" + bytes(57))
    with load_object(compile_llvm_ir("define void @f() {\n  ret void\n}", *host_target())) as loaded:
        with pytest.raises(CompileError, match="not a compiled tinyhw CPU kernel"):
            read_signature(loaded)


def test_invalid_ir_reports_llvm_message_with_position():
    with pytest.raises(CompileError, match=r"<string>:2:\d+: error: use of undefined value '%x'"):
        compile_cpu_kernel("define void @k(i32 %gx, i32 %gy, i32 %gz) {\n  %y = add i32 %x, 1\n  ret void\n}")


def test_unknown_target_triple_is_a_compile_error():
    with pytest.raises(CompileError, match="unknown target triple 'nosuch-arch-none'"):
        compile_llvm_ir("define void @f() {\n  ret void\n}", "nosuch-arch-none")


def test_ir_that_does_not_verify_is_reported():
    source = "define void @k(i32 %gx, i32 %gy, i32 %gz) {\n  %y = add i32 %z, 1\n  %z = add i32 %y, 1\n  ret void\n}"
    with pytest.raises(CompileError, match="does not dominate"):
        compile_cpu_kernel(source)


@pytest.mark.parametrize(
    ("signature", "problem"),
    [
        ("ptr %out, i32 %gx, i32 %gy", "last three parameters"),
        ("ptr %out, <4 x float> %v, i32 %gx, i32 %gy, i32 %gz", "<4 x float>"),
    ],
)
def test_wrong_abi_explains_the_abi(signature, problem):
    with pytest.raises(CompileError, match="CPU kernel ABI") as error:
        compile_cpu_kernel(f"define void @k({signature}) {{\n  ret void\n}}")
    assert problem in str(error.value) and "i32 %group_x, i32 %group_y, i32 %group_z" in str(error.value)


def test_non_void_kernel_is_refused():
    with pytest.raises(CompileError, match="must return void"):
        compile_cpu_kernel("define i32 @k(i32 %gx, i32 %gy, i32 %gz) {\n  ret i32 0\n}")


TWO = ADD + elementwise("ptr %a", load("a") + "  %r = fneg float %a.v", "float", name="neg")


def test_ambiguous_kernel_lists_candidates():
    with pytest.raises(CompileError, match="candidates: k, neg"):
        compile_cpu_kernel(TWO)


def test_entry_picks_the_kernel():
    expected = KernelSignature("neg", ("ptr", "ptr"), ("out", "a"), (False, False))
    assert read_signature(compile_cpu_kernel(TWO, entry="neg")) == expected
    with pytest.raises(CompileError, match="'other'.*candidates: k, neg"):
        compile_cpu_kernel(TWO, entry="other")


def test_zeroext_parameters_are_unsigned():
    source = "define void @k(i32 zeroext %u, i32 %s, i8 zeroext %flag, i32 %x, i32 %y, i32 %z) {\n  ret void\n}\n"
    assert read_signature(compile_cpu_kernel(source)).unsigned == (True, False, True)
