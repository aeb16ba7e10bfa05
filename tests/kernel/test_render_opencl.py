"""The OpenCL C renderer: kernels built with KernelBuilder are rendered, checked as C by gcc, and run on PoCL.

Every kernel below is compiled by `gcc -fsyntax-only` against a small prelude that maps OpenCL C
onto GNU C vector extensions, so a machine without an OpenCL driver still checks the output's
syntax, scoping and vector types. Where pyopencl is importable the same kernels run on PoCL (or
whichever OpenCL device is first) and their results are compared with numpy. PoCL compiles each
program with clang (about a second), so each kernel batches many ops.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Callable

import numpy as np
import pytest
from opencl_gcc import gcc_check

from tinyhw.kernel.dtypes import DTYPES, DType, bfloat16, bool_, float16, float32, float64, int8, int16, int32, int64
from tinyhw.kernel.ir import (
    UNARY_OPS,
    Buf,
    IRError,
    Kernel,
    KernelBuilder,
    binary,
    const,
    load,
    unary,
    vectorize,
    where,
)
from tinyhw.kernel.render.opencl import render_opencl

try:
    import pyopencl as cl
except ImportError:
    cl = None

requires_opencl = pytest.mark.skipif(
    cl is None,
    reason="pyopencl is not importable: install Debian packages pocl-opencl-icd ocl-icd-libopencl1 and PyPI pyopencl",
)
N = 37  # odd, so masks and vector tails matter

# -- numpy references for the 16-bit float types --


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to nearest even bfloat16, as uint16 bits (NaN stays NaN)."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), (bits >> 16).astype(np.uint16) | 0x40, rounded)


def bf16_values(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def storage(values: np.ndarray, dtype: DType) -> np.ndarray:
    """`values` as the host-side array of a `dtype` buffer."""
    return bf16_bits(np.asarray(values, np.float32)) if dtype == bfloat16 else np.asarray(values).astype(dtype.numpy)


def values_of(array: np.ndarray, dtype: DType) -> np.ndarray:
    """The numbers a `dtype` buffer's host array holds."""
    return bf16_values(array) if dtype == bfloat16 else array


# -- running on OpenCL --


@pytest.fixture(scope="module")
def opencl():
    """(context, queue) on the first OpenCL device. With none, CI fails (.ci/run installs PoCL); elsewhere it skips."""
    try:
        device = cl.get_platforms()[0].get_devices()[0]
    except (cl.Error, IndexError) as e:
        missing = f"pyopencl finds no OpenCL device ({e}): install the Debian package pocl-opencl-icd"
        pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)
    context = cl.Context([device])
    return context, cl.CommandQueue(context)


def _argument(param: Buf | object, arg: object, context) -> object:
    """A buffer for an array argument; a scalar as the kernel receives it (bool as uchar, 16-bit floats as bits)."""
    if isinstance(param, Buf):
        flags = cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR
        return cl.Buffer(context, flags, hostbuf=np.ascontiguousarray(arg))
    if param.dtype == float16:
        return np.float16(arg).view(np.uint16)
    if param.dtype == bfloat16:
        return bf16_bits(np.array([arg], np.float32))[0]
    return np.uint8(arg) if param.dtype == bool_ else param.dtype.numpy.type(arg)


def run(opencl, kernel: Kernel, args: list, groups: tuple[int, ...] = (1,)) -> list[np.ndarray]:
    """Render `kernel`, build it, launch `groups` workgroups, and return every buffer argument afterwards."""
    context, queue = opencl
    program = cl.Program(context, render_opencl(kernel).source).build()
    cl_args = [_argument(p, a, context) for p, a in zip(kernel.params, args, strict=True)]
    local = kernel.local_size[: len(groups)]
    global_size = tuple(g * s for g, s in zip(groups, local))
    getattr(program, kernel.name)(queue, global_size, local, *cl_args)
    results = []
    for arg, cl_arg in zip(args, cl_args):
        if isinstance(cl_arg, cl.Buffer):
            results.append(np.empty_like(arg))
            cl.enqueue_copy(queue, results[-1], cl_arg)
    queue.finish()
    return results


# -- kernels: each builder returns (kernel, inputs); one kernel batches many checks --

RNG = np.random.default_rng(1234)
ALL = list(DTYPES.values())
uint16, uint32 = DTYPES["uint16"], DTYPES["uint32"]
KERNELS: dict[str, Callable[[], tuple[Kernel, list]]] = {}


def case(builder: Callable[[], tuple[Kernel, list]]) -> Callable[[], tuple[Kernel, list]]:
    """Register a kernel builder (returning the kernel and its launch arguments) for the gcc check."""

    def seeded() -> tuple[Kernel, list]:
        RNG.bit_generator.state = np.random.PCG64(1234).state  # the same inputs whichever tests run
        return builder()

    KERNELS[builder.__name__.removesuffix("_kernel")] = seeded
    return seeded


def buffers(k: KernelBuilder, **dtypes: DType) -> tuple[Buf, ...]:
    """Declare one buffer per keyword, in order."""
    return tuple(k.buffer(name, dtype) for name, dtype in dtypes.items())


def inputs_for(dtype: DType, low: float = -20, high: float = 20, size: int = N) -> np.ndarray:
    """Host storage of `size` values of `dtype` in [low, high) (non-negative for unsigned, 0/1 for bool)."""
    if dtype.kind == "b":
        return RNG.integers(0, 2, size).astype(bool)
    if dtype.kind in "iu":
        low = 0 if dtype.kind == "u" else low
        return RNG.integers(low, high, size).astype(dtype.numpy)
    return storage(RNG.uniform(low, high, size).astype(np.float32), dtype)


@case
def elementwise_kernel() -> tuple[Kernel, list]:
    """For every dtype: out = a * s + b where a < b else a - b (bool: b where a else s), with a scalar argument."""
    k, args = KernelBuilder("elementwise"), []
    for dtype in ALL:
        a, b, out = (k.buffer(f"{name}_{dtype.name}", dtype) for name in ("a", "b", "out"))
        s = k.scalar(f"s_{dtype.name}", dtype)
        with k.range(N) as i:
            k.store(
                out, i, where(a[i], b[i], s) if dtype.kind == "b" else where(a[i] < b[i], a[i] * s + b[i], a[i] - b[i])
            )
        scalar = True if dtype.kind == "b" else 3
        args += [inputs_for(dtype), inputs_for(dtype), np.zeros(N, dtype.numpy), scalar]
    return k.build(), args


FLOAT_OPS = {"neg": np.negative, "abs": np.abs, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x),
             "recip": lambda x: 1 / x, "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "sin": np.sin,
             "cos": np.cos, "tanh": np.tanh, "erf": np.vectorize(math.erf), "floor": np.floor, "ceil": np.ceil,
             "trunc": np.trunc, "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
             "mod": np.fmod, "max": np.maximum, "min": np.minimum, "pow": np.power}  # fmt: skip
INT_OPS = {"neg": np.negative, "not": np.invert, "abs": np.abs, "add": np.add, "sub": np.subtract,
           "mul": np.multiply, "div": lambda a, b: (a - np.fmod(a, b)) // b, "mod": np.fmod, "max": np.maximum,
           "min": np.minimum, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
           "shl": np.left_shift, "shr": np.right_shift}  # fmt: skip
COMPARE = {"lt": np.less, "le": np.less_equal, "eq": np.equal, "ne": np.not_equal}
BOOL_OPS = {"not": np.logical_not, "and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor,
            "max": np.logical_or, "min": np.logical_and}  # fmt: skip
OPS = {"f": FLOAT_OPS, "i": INT_OPS, "u": INT_OPS, "b": BOOL_OPS}
OPS_DTYPES = (float32, float64, float16, bfloat16, int8, uint16, int32, uint32, int64, bool_)
TOLERANCE = {float32: 2e-6, float64: 1e-13, float16: 1e-3, bfloat16: 8e-3}


def operands(op: str, a, b, absolute: Callable) -> tuple:
    """What `op` is tested on, for IR values and numpy arrays alike: roots and logs of |a| + 0.5, pow of |a|,
    shifts by b & 3, unary ops of a, the rest of (a, b)."""
    if op in ("sqrt", "rsqrt", "log", "log2"):
        return (absolute(a) + 0.5,)
    if op in UNARY_OPS:
        return (a,)
    return (absolute(a), b) if op == "pow" else (a, b & 3) if op in ("shl", "shr") else (a, b)


@case
def ops_kernel() -> tuple[Kernel, list]:
    """Every unary/binary op and comparison on the float dtypes and several integer dtypes."""
    k, args = KernelBuilder("ops"), []
    for dtype in OPS_DTYPES:
        table = OPS[dtype.kind]
        x, y, out, cmp = (k.buffer(f"{name}_{dtype.name}", t) for name, t in zip("xyoc", (dtype, dtype, dtype, bool_)))
        with k.range(N) as i:
            for n, op in enumerate(table):
                xs = operands(op, x[i], y[i], lambda v: v.unary("abs"))
                k.store(out, n * N + i, unary(op, *xs) if len(xs) == 1 else binary(op, *xs))
            for n, op in enumerate(COMPARE):
                k.store(cmp, n * N + i, binary(op, x[i], y[i]))
        a, b = (inputs_for(dtype, -6, 6) for _ in "ab")
        if dtype.kind != "b":  # |x| >= 1/4: no division by 0, and 1 / x fits a float16
            a, b = (np.where(abs(values_of(x, dtype)) < 0.25, storage(np.array(1), dtype), x) for x in (a, b))
        args += [a, b, np.zeros(len(table) * N, dtype.numpy), np.zeros(len(COMPARE) * N, bool)]
    return k.build(), args


FLOAT_LIMITS = {"float16": (65504.0, 2**-24), "bfloat16": (3.3895313892515355e38, 2**-133),
                "float32": (3.4028234663852886e38, 2**-149), "float64": (1.7976931348623157e308, 5e-324)}  # fmt: skip


def extremes(dtype: DType) -> list:
    """Constants that are hard to spell in C: each type's limits, infinities, NaN, -0.0, subnormals."""
    if dtype.kind == "b":
        return [True, False]
    if dtype.kind in "iu":
        info = np.iinfo(dtype.numpy)
        return [int(info.min), int(info.max), 0, 1, 7]
    big, tiny = FLOAT_LIMITS[dtype.name]
    return [math.inf, -math.inf, math.nan, -0.0, big, -big, tiny, 0.1, -2.5]


def assert_same(got: np.ndarray, expected: np.ndarray, dtype: DType) -> None:
    """Equal bit for bit (so -0.0 differs from 0.0), except that any NaN matches any NaN."""
    nan = np.isnan(values_of(expected, dtype)) if dtype.is_float else np.zeros(len(expected), bool)
    bits = f"u{expected.itemsize}"
    np.testing.assert_array_equal(got.view(bits)[~nan], expected.view(bits)[~nan], err_msg=dtype.name)
    assert np.isnan(values_of(got, dtype)[nan]).all(), f"{dtype.name}: NaN expected"


NEGATIVE = np.array([-0.5, -1.0, -2.75, -100.9], np.float32)


@case
def casts_kernel() -> tuple[Kernel, list]:
    """Every dtype to every dtype (non-negative values), negative floats to ints, 16-bit float bitcasts, constants."""
    k, args = KernelBuilder("casts"), []
    values = np.array([0, 0.5, 1, 1.5, 2.75, 3, 100.25, 119.9, 7, 42.5, 0.25], np.float32)
    sources = [k.buffer(f"src_{t.name}", t) for t in ALL]
    outs = [k.buffer(f"dst_{t.name}", t) for t in ALL]
    bits = [(float32, int32), (float16, uint16), (uint16, float16), (bfloat16, int16), (float64, int64)]
    bit_outs = [k.buffer(f"bits_{src.name}_{dst.name}", dst) for src, dst in bits]
    constants = [k.buffer(f"const_{t.name}", t) for t in ALL]
    negative, truncated = k.buffer("negative", float32), [k.buffer(f"truncated_{t.name}", t) for t in (int8, int64)]
    for n, out in ((n, out) for n in range(len(NEGATIVE)) for out in truncated):
        k.store(out, n, negative[n].cast(out.dtype))  # toward zero
    for buf in constants:
        for n, value in enumerate(extremes(buf.dtype)):
            k.store(buf, n, const(value, buf.dtype))
    with k.range(len(values)) as i:
        for n, src in enumerate(sources):
            for dst, out in zip(ALL, outs):
                k.store(out, n * len(values) + i, src[i].cast(dst))
        for (src, dst), out in zip(bits, bit_outs):
            k.store(out, i, sources[ALL.index(src)][i].bitcast(dst))
    args = [storage(values if t.is_float else values.astype(np.int64), t) for t in ALL]
    args += [np.zeros(len(ALL) * len(values), t.numpy) for t in ALL]
    args += [np.zeros(len(values), dst.numpy) for _, dst in bits]
    args += [np.zeros(len(extremes(t)), t.numpy) for t in ALL]
    args += [NEGATIVE, np.zeros(len(NEGATIVE), np.int8), np.zeros(len(NEGATIVE), np.int64)]
    return k.build(), args


@case
def masked_kernel() -> tuple[Kernel, list]:
    """Workgroups of 8 over N elements: masked loads (with `other`) and stores, a scalar and a float4 tail."""
    k = KernelBuilder("masked")
    a, out, odd, vec = buffers(k, a=float32, out=float32, odd=int32, vec=float32)
    n = k.scalar("n", int32)
    with k.range(8) as i:
        idx = k.group_id(0) * 8 + i
        k.store(out, idx, load(a, idx, mask=idx < n, other=-1.0) * 2.0)
        k.store(odd, idx, idx * 10, mask=(idx < n) & (idx % 2).eq(1))
    with k.range(2) as j:
        base = k.group_id(0) * 8 + j * 4
        k.store(vec, base, load(a, base, mask=base + 3 < n, other=-1.0, dtype=float32.vec(4)) + 1.0, mask=base < n)
    a_host = RNG.uniform(-5, 5, N).astype(np.float32)
    return k.build(), [a_host, np.zeros(40, np.float32), np.full(N, 7, np.int32), np.zeros(40, np.float32), N]


@case
def loops_kernel() -> tuple[Kernel, list]:
    """Nested ranges (a 5x7 transpose), accumulators (row sums and maxima), an If, and a load read after a store."""
    rows, cols = 5, 7
    k = KernelBuilder("loops")
    a, t, sums, maxima, reread = buffers(k, a=float32, t=float32, sums=float32, maxima=int32, reread=int32)
    with k.range(rows, name="r") as r, k.range(cols, name="c") as c:
        k.store(t, c * rows + r, a[r * cols + c])
    with k.range(rows, name="r") as r:
        total, top = k.accumulator("total", a[r * cols] * 0.0), k.accumulator("top", a[r * cols].cast(int32))
        with k.range(cols, name="c") as c:
            k.update(total, total + a[r * cols + c])
            with k.if_(a[r * cols + c].cast(int32) > top):
                k.update(top, a[r * cols + c].cast(int32))
        k.store(sums, r, total)
        k.store(maxima, r, top)
    first = reread[0]
    k.store(reread, 1, first)
    k.store(reread, 0, first + 5)
    k.store(reread, 2, reread[0])  # reads the 5 added above
    a_host, zeros = RNG.uniform(-50, 50, rows * cols).astype(np.float32), np.zeros(rows, np.float32)
    return k.build(), [a_host, np.zeros_like(a_host), zeros, zeros.astype(np.int32), np.array([10, 0, 0], np.int32)]


@case
def local_kernel() -> tuple[Kernel, list]:
    """local_size 64: a tree sum through local memory with barriers, and a reversal through a float16 local array."""
    k = KernelBuilder("local_sum", local_size=(64, 1, 1))
    a, sums, h, reversed_h = buffers(k, a=float32, sums=float32, h=float16, reversed_h=float16)
    part, halves = k.local("part", float32, 64), k.local("halves", float16, 64)
    lid, gid = k.local_id(0), k.group_id(0)
    k.store(part, lid, a[gid * 64 + lid])
    k.store(halves, lid, h[gid * 64 + lid])
    k.barrier()
    k.store(reversed_h, gid * 64 + lid, halves[63 - lid])
    for stride in (32, 16, 8, 4, 2, 1):
        with k.if_(lid < stride):
            k.store(part, lid, part[lid] + part[lid + stride])
        k.barrier()
    with k.if_(lid.eq(0)):
        k.store(sums, gid, part[0])
    a_host, h_host = RNG.uniform(-1, 1, 192).astype(np.float32), RNG.uniform(-9, 9, 192).astype(np.float16)
    return k.build(), [a_host, np.zeros(3, np.float32), h_host, np.zeros(192, np.float16)]


@case
def vector_kernel() -> tuple[Kernel, list]:
    """Vectors of 3, 4, 8 and 16 lanes: loads/stores, lane-wise math, gep, vectorize, compare/select/cast, bools."""
    k = KernelBuilder("vectors")
    a, b, out, lanes, s, flags, wide, h, bf, c = buffers(
        k, a=float32, b=float32, out=float32, lanes=float32, s=int16, flags=bool_, wide=float32, h=float16, bf=bfloat16,
        c=int8
    )  # fmt: skip
    with k.range(4) as i:
        x, y = load(a, i * 4, dtype=float32.vec(4)), load(b, i * 4, dtype=float32.vec(4))
        z = (x * y + 1.0).max(x)
        k.store(out, i * 4, where(x < y, z, y - x))
        k.store(lanes, i * 4, vectorize(z.gep(3), z.gep(2), z.gep(1), x.gep(0) + y.gep(0)))
        sv = load(s, i * 4, dtype=int16.vec(4))
        k.store(s, 16 + i * 4, where(x < y, sv, -sv) + x.cast(int16.vec(4)))
        k.store(flags, i * 4, (x < y) & load(flags, 16 + i * 4, dtype=bool_.vec(4)))
    k.store(wide, 0, load(wide, 8, dtype=float32.vec(8)).unary("sqrt"))
    for buf, count in ((h, 3), (bf, 8)):  # 16-bit float vectors: rounded after each op, lane by lane
        x = load(buf, 0, dtype=buf.dtype.vec(count))
        k.store(buf, count, x * x + 1.0)
    x = load(c, 0, dtype=int8.vec(16))
    k.store(c, 16, where(x < 0, -x, x) // 3 + x % 5)
    m = load(flags, 16, dtype=bool_.vec(3))
    k.store(flags, 29, vectorize(m.gep(2), m.gep(0), m.gep(1)).unary("not"))
    args = [RNG.uniform(-4, 4, 16).astype(np.float32), RNG.uniform(-4, 4, 16).astype(np.float32),
            np.zeros(16, np.float32), np.zeros(16, np.float32), RNG.integers(-9, 9, 32).astype(np.int16),
            RNG.integers(0, 2, 32).astype(bool), RNG.uniform(0, 9, 16).astype(np.float32),
            inputs_for(float16, -3, 3, 6), inputs_for(bfloat16, -3, 3, 16), inputs_for(int8, -20, 20, 32)]  # fmt: skip
    return k.build(), args


HALF_TIES = np.array([1.0 + 2**-11, 1.0 + 3 * 2**-11, 2049.0, 65504.0, 65520.0, -0.0, 1e-8, 6e-8, np.inf, np.nan])
BF16_TIES = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-8 + 2**-20, 3.0e38, 3.4e38, -0.0, 1e-40, np.inf, np.nan])


@case
def io16_kernel() -> tuple[Kernel, list]:
    """float32 -> float16/bfloat16 rounding on store (ties to even, overflow, subnormals, NaN), and back."""
    k = KernelBuilder("io16")
    f, h, hb, g, bb = buffers(k, f=float32, h=float16, h_back=float32, g=float32, b=bfloat16)
    with k.range(len(HALF_TIES)) as i:
        k.store(h, i, f[i].cast(float16))
        k.store(hb, i, h[i].cast(float32))
    with k.range(len(BF16_TIES)) as i:
        k.store(bb, i, g[i].cast(bfloat16))
    return k.build(), [HALF_TIES.astype(np.float32), np.zeros(len(HALF_TIES), np.float16),
                       np.zeros(len(HALF_TIES), np.float32), BF16_TIES.astype(np.float32),
                       np.zeros(len(BF16_TIES), np.uint16)]  # fmt: skip


@case
def grid_kernel() -> tuple[Kernel, list]:
    """A 5x3 grid of 4x2 workgroups writes each work-item's coordinates into a 20x6 image."""
    k = KernelBuilder("grid2d", local_size=(4, 2, 1))
    out = k.buffer("out", int32)
    x, y = k.group_id(0) * 4 + k.local_id(0), k.group_id(1) * 2 + k.local_id(1)
    k.store(out, y * 20 + x, x * 100 + y)
    return k.build(), [np.full(120, -1, np.int32)]


# -- tests without an OpenCL device --


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("name", KERNELS)
def test_rendered_kernel_type_checks_with_gcc(name: str, tmp_path) -> None:
    gcc_check(render_opencl(KERNELS[name]()[0]).source, tmp_path)


def test_rendering_is_deterministic_and_names_the_entry() -> None:
    kernel = elementwise_kernel()[0]
    first, second = render_opencl(kernel), render_opencl(kernel)
    assert first == second and first.entry == "elementwise" and first.renderer == "opencl"
    assert "__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void elementwise(" in first.source


def test_extension_pragmas_only_for_float64() -> None:
    assert "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" in render_opencl(elementwise_kernel()[0]).source
    source = render_opencl(io16_kernel()[0]).source
    assert "cl_khr_fp64" not in source and "cl_khr_fp16" not in source and "vstore_half_rte" in source


def test_storage_types_of_bool_and_16_bit_floats() -> None:
    source = render_opencl(elementwise_kernel()[0]).source
    for text in ("__global uchar* a_bool", "uchar s_bool", "__global half* a_float16", "ushort s_float16",
                 "__global ushort* a_bfloat16", "ushort s_bfloat16", "__global double* a_float64"):  # fmt: skip
        assert text in source


def test_masked_load_never_dereferences_when_masked_off() -> None:
    source = render_opencl(masked_kernel()[0]).source
    assert re.search(r"= v\d+ \? a\[v\d+\] : \(-1\.0f\);", source)
    assert re.search(r"if \(v\d+\) odd\[v\d+\] = ", source)


def test_names_that_clash_with_opencl_are_renamed(tmp_path) -> None:
    k = KernelBuilder("kernel")
    buf, v0, sqrt = k.buffer("float", float32), k.buffer("v0", float32), k.scalar("sqrt", float32)
    k.store(v0, 0, (buf[0] + sqrt).unary("sqrt"))
    rendered = render_opencl(k.build())
    assert rendered.entry == "kernel_"
    assert "__global float* float_, __global float* v0_, float sqrt_)" in rendered.source
    gcc_check(rendered.source, tmp_path)


@pytest.mark.parametrize(
    "build",
    [
        lambda k: k.store(k.buffer("a", float32), 0, load(k.buffer("b", float32), 0, dtype=float32.vec(5))),
        lambda k: k.store(k.buffer("a", float32), 0, k.buffer("b", int32)[0].unary("sqrt").cast(float32)),
        lambda k: k.store(k.buffer("a", float32), 0, binary("pow", k.scalar("x", int32), 2).cast(float32)),
        lambda k: k.store(k.buffer("a", int8), 0, k.scalar("x", bool_).bitcast(int8)),
    ],
    ids=["five-lanes", "sqrt-of-int", "pow-of-int", "bitcast-bool"],
)
def test_ir_opencl_cannot_express_raises_ir_error(build: Callable[[KernelBuilder], None]) -> None:
    k = KernelBuilder("bad")
    build(k)
    with pytest.raises(IRError, match="opencl"):
        render_opencl(k.build())


def test_cast_keeps_lanes() -> None:
    with pytest.raises(IRError, match="lanes"):
        load(Buf("a", float32), 0, dtype=float32.vec(4)).cast(int32)


# -- tests on OpenCL --


def _expected_elementwise(dtype: DType, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if dtype.kind == "b":
        return np.where(a, b, True)
    if dtype == bfloat16:  # rounded after every op, as the kernel does
        (av, bv), rounded = (bf16_values(a), bf16_values(b)), lambda x: bf16_values(bf16_bits(x))
        return bf16_bits(np.where(av < bv, rounded(rounded(av * 3) + bv), rounded(av - bv)))
    with np.errstate(over="ignore"):
        return np.where(a < b, a * dtype.numpy.type(3) + b, a - b).astype(dtype.numpy)


@requires_opencl
def test_elementwise_over_every_dtype(opencl) -> None:
    kernel, args = elementwise_kernel()
    outs = run(opencl, kernel, args)
    for n, dtype in enumerate(ALL):
        a, b = args[4 * n], args[4 * n + 1]
        np.testing.assert_array_equal(outs[3 * n + 2], _expected_elementwise(dtype, a, b), err_msg=dtype.name)


@requires_opencl
def test_unary_binary_and_comparison_ops(opencl) -> None:
    kernel, args = ops_kernel()
    outs = run(opencl, kernel, args)
    for n, dtype in enumerate(OPS_DTYPES):
        wide = {"f": np.float64, "b": bool}.get(dtype.kind, np.int64)
        a, b = (values_of(x, dtype).astype(wide) for x in args[4 * n : 4 * n + 2])
        compared = np.concatenate([fn(a, b) for fn in COMPARE.values()])
        np.testing.assert_array_equal(outs[4 * n + 3], compared, err_msg=f"comparisons of {dtype.name}")
        table = OPS[dtype.kind]
        expected = np.concatenate([fn(*operands(op, a, b, np.abs)) for op, fn in table.items()])
        if dtype.is_float:
            got, tolerance = values_of(outs[4 * n + 2], dtype), TOLERANCE[dtype]
            np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance, err_msg=dtype.name)
        else:
            np.testing.assert_array_equal(outs[4 * n + 2], expected.astype(dtype.numpy), err_msg=dtype.name)


def _cast_reference(values: np.ndarray, src: DType, dst: DType) -> np.ndarray:
    v = values_of(values, src)
    if dst == bfloat16:
        return bf16_bits(v.astype(np.float32))
    return v.astype(dst.numpy)


@requires_opencl
def test_casts_and_bitcasts(opencl) -> None:
    kernel, args = casts_kernel()
    outs = run(opencl, kernel, args)
    sources, count = args[: len(ALL)], len(args[0])
    for d, dst in enumerate(ALL):
        for s, src in enumerate(ALL):
            got = outs[len(ALL) + d][s * count : (s + 1) * count]
            np.testing.assert_array_equal(got, _cast_reference(sources[s], src, dst), err_msg=f"{src} -> {dst}")
    bits, constants, truncated = outs[2 * len(ALL) : 2 * len(ALL) + 5], outs[2 * len(ALL) + 5 : -3], outs[-2:]
    np.testing.assert_array_equal(truncated, [np.trunc(NEGATIVE)] * 2)
    np.testing.assert_array_equal(bits[0], sources[ALL.index(float32)].view(np.int32))
    np.testing.assert_array_equal(bits[1], sources[ALL.index(float16)].view(np.uint16))
    np.testing.assert_array_equal(bits[2], sources[ALL.index(uint16)].view(np.float16))
    np.testing.assert_array_equal(bits[3], sources[ALL.index(bfloat16)].view(np.int16))
    np.testing.assert_array_equal(bits[4], sources[ALL.index(float64)].view(np.int64))
    for dtype, got in zip(ALL, constants, strict=True):
        values = extremes(dtype)
        assert_same(got, bf16_bits(np.float32(values)) if dtype == bfloat16 else np.array(values, dtype.numpy), dtype)


@requires_opencl
def test_masked_loads_and_stores_with_an_odd_size(opencl) -> None:
    kernel, args = masked_kernel()
    out, odd, vec = run(opencl, kernel, args, groups=(5,))[1:]
    a = args[0]
    np.testing.assert_array_equal(out, np.concatenate([a * 2, [-2.0, -2.0, -2.0]]))
    np.testing.assert_array_equal(odd, np.where(np.arange(N) % 2 == 1, np.arange(N) * 10, 7))
    # the float4 at 36..39 reaches past N: its load gives `other` (-1), and 36 < N stores it plus 1
    np.testing.assert_array_equal(vec, np.concatenate([a[:36] + 1, np.zeros(4, np.float32)]))


@requires_opencl
def test_nested_ranges_accumulators_and_reads_after_stores(opencl) -> None:
    kernel, args = loops_kernel()
    transposed, sums, maxima, reread = run(opencl, kernel, args)[1:]
    matrix = args[0].reshape(5, 7)
    np.testing.assert_array_equal(transposed, matrix.T.ravel())
    np.testing.assert_allclose(sums, matrix.sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(maxima, matrix.astype(np.int32).max(axis=1))
    np.testing.assert_array_equal(reread, [15, 10, 15])


@requires_opencl
def test_local_memory_and_barriers_with_64_work_items(opencl) -> None:
    kernel, args = local_kernel()
    sums, reversed_h = run(opencl, kernel, args, groups=(3,))[1::2]
    np.testing.assert_allclose(sums, args[0].reshape(3, 64).sum(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(reversed_h, args[2].reshape(3, 64)[:, ::-1].ravel())


@requires_opencl
def test_vectors(opencl) -> None:
    kernel, args = vector_kernel()
    a, b, out, lanes, s, flags, wide, h, bf, c = run(opencl, kernel, args)
    x, y = args[0].reshape(4, 4), args[1].reshape(4, 4)
    z = np.maximum(x * y + 1, x)
    np.testing.assert_allclose(out, np.where(x < y, z, y - x).ravel(), rtol=1e-6)
    np.testing.assert_allclose(lanes, np.stack([z[:, 3], z[:, 2], z[:, 1], x[:, 0] + y[:, 0]], 1).ravel(), rtol=1e-6)
    sv = args[4][:16].reshape(4, 4)
    np.testing.assert_array_equal(s[16:], (np.where(x < y, sv, -sv) + x.astype(np.int16)).ravel())
    np.testing.assert_array_equal(flags[:16], (x < y).ravel() & args[5][16:])
    np.testing.assert_allclose(wide[:8], np.sqrt(args[6][8:16]), rtol=1e-6)
    np.testing.assert_array_equal(h[3:], args[7][:3] * args[7][:3] + np.float16(1))
    x, rounded = bf16_values(args[8][:8]), lambda v: bf16_values(bf16_bits(v))
    np.testing.assert_array_equal(bf[8:], bf16_bits(rounded(x * x) + 1))
    x = args[9][:16].astype(np.int32)
    np.testing.assert_array_equal(c[16:], np.abs(x) // 3 + np.fmod(x, 5))
    np.testing.assert_array_equal(flags[29:], ~args[5][[18, 16, 17]])


@requires_opencl
def test_16_bit_floats_round_to_nearest_even_on_store(opencl) -> None:
    kernel, args = io16_kernel()
    h, h_back, _, b = run(opencl, kernel, args)[1:]
    with np.errstate(over="ignore"):
        expected = HALF_TIES.astype(np.float16)
    assert_same(h, expected, float16)  # the NaN payload is the device's choice
    assert_same(h_back, expected.astype(np.float32), float32)
    assert_same(b, bf16_bits(BF16_TIES.astype(np.float32)), bfloat16)


@requires_opencl
def test_two_dimensional_grid(opencl) -> None:
    kernel, args = grid_kernel()
    (out,) = run(opencl, kernel, args, groups=(5, 3))
    y, x = np.mgrid[0:6, 0:20]
    np.testing.assert_array_equal(out.reshape(6, 20), x * 100 + y)


@requires_opencl
def test_float_max_min_propagate_nan(opencl) -> None:
    k = KernelBuilder("nan_max_min")
    a, b, high, low = buffers(k, a=float32, b=float32, high=float32, low=float32)
    with k.range(4) as i:
        k.store(high, i, a[i].max(b[i]))
        k.store(low, i, a[i].min(b[i]))
    x, y = np.array([np.nan, 1, 2, np.nan], np.float32), np.array([1, np.nan, 3, np.nan], np.float32)
    _, _, got_high, got_low = run(opencl, k.build(), [x, y, np.zeros(4, np.float32), np.zeros(4, np.float32)])
    np.testing.assert_array_equal(got_high, np.maximum(x, y))
    np.testing.assert_array_equal(got_low, np.minimum(x, y))
