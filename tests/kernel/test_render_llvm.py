"""The LLVM renderer: kernels built with KernelBuilder run on the CPU device and match numpy; the
AMDGPU and NVPTX dialects' output parses and verifies (AMDGPU also compiles for gfx1100).

Each kernel batches many ops (a compile costs tens of milliseconds), and element counts are odd
so masks at the edges matter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from local_memory_kernel import reverse_and_tree_sum

import tinyhw
from tinyhw.kernel.dtypes import DTYPES, DType, bfloat16, bool_, float16, float32, float64, int32, int64, uint32
from tinyhw.kernel.ir import IRError, Kernel, KernelBuilder, Value, binary, const, load, vectorize
from tinyhw.kernel.llvm import compile_llvm_ir, parse_llvm_ir
from tinyhw.kernel.render import RENDERERS, compile_kernel, render

N = 37
GROUP = 8
RNG = np.random.default_rng(1)
FLOATS = (float16, bfloat16, float32, float64)
INTS = tuple(d for d in DTYPES.values() if d.kind in "iu")


@pytest.fixture(scope="module")
def dev() -> tinyhw.Device:
    return tinyhw.Device("cpu")


# -- helpers --


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 values -> bfloat16 bits, rounded to nearest even."""
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_values(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def stored(values: np.ndarray, dtype: DType) -> np.ndarray:
    """`values` as the array a buffer of `dtype` holds."""
    return bf16_bits(values) if dtype == bfloat16 else np.asarray(values).astype(dtype.numpy)


def loaded(array: np.ndarray, dtype: DType) -> np.ndarray:
    """A buffer's array as numbers (bfloat16 bits widened to float32)."""
    return bf16_values(array) if dtype == bfloat16 else array


def sample(dtype: DType, size: int = N, low: float = -20, high: float = 20) -> np.ndarray:
    """Random stored values of `dtype`: the full range for integers, [low, high) for floats."""
    if dtype.kind == "b":
        return RNG.random(size) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype.numpy)
        return RNG.integers(info.min, info.max, size, dtype=dtype.numpy, endpoint=True)
    return stored(RNG.uniform(low, high, size), dtype)


def run(dev: tinyhw.Device, kernel: Kernel, *args: object, grid: tuple[int, ...] = (1,)) -> list[np.ndarray]:
    """Launch `kernel` with numpy arrays as buffers (copied in and back) and numbers as scalars."""
    buffers = [(dev.allocate(max(a.nbytes, 1)), a) for a in args if isinstance(a, np.ndarray)]
    for buf, array in buffers:
        dev.copy(buf, np.ascontiguousarray(array))
    it = iter(buf for buf, _ in buffers)
    dev.launch(compile_kernel(dev, kernel), *(next(it) if isinstance(a, np.ndarray) else a for a in args),
               global_size=grid)  # fmt: skip
    results = [np.empty_like(array) for _, array in buffers]
    for (buf, _), out in zip(buffers, results):
        dev.copy(out, buf)
    dev.sync()
    for buf, _ in buffers:
        dev.free(buf)
    return results


def elementwise(name: str, inputs: list[DType], outputs: list[DType], body: Callable[..., list[Value]]) -> Kernel:
    """out_k[i] = body(in_0[i], ...)[k] for i < n; GROUP elements per workgroup, masked at the end."""
    k = KernelBuilder(name)
    ins = [k.buffer(f"in{j}", d) for j, d in enumerate(inputs)]
    outs = [k.buffer(f"out{j}", d) for j, d in enumerate(outputs)]
    n = k.scalar("n", int32)
    with k.range(GROUP) as i:
        idx = k.group_id(0) * GROUP + i
        values = body(*(load(b, idx, mask=idx < n) for b in ins))
        for out, v in zip(outs, values, strict=True):
            k.store(out, idx, v, mask=idx < n)
    return k.build()


def run_elementwise(dev: tinyhw.Device, kernel: Kernel, inputs: list[np.ndarray], outputs: list[DType]):
    size = len(inputs[0])
    outs = [np.zeros(size, d.numpy) for d in outputs]
    return run(dev, kernel, *inputs, *outs, size, grid=(-(-size // GROUP),))[len(inputs) :]


def close(got: np.ndarray, want: np.ndarray, dtype: DType, rtol: float | None = None) -> None:
    got, want = loaded(got, dtype).astype(np.float64), np.asarray(want, np.float64)
    rtol = rtol or {"float16": 2e-3, "bfloat16": 1e-2, "float32": 2e-6, "float64": 1e-13}[dtype.name]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


# -- elementwise arithmetic over every dtype --


def _arith(a: Value, b: Value) -> list[Value]:
    if a.dtype.kind == "b":
        return [a + b, a * b, a.max(b), a.min(b), a < b, a.eq(b), (a < b).where(a, b), a ^ b, a & b, a | b]
    return [a + b, a - b, a * b, a.max(b), a.min(b), a < b, a.eq(b), (a < b).where(a, b), a.ne(b), a <= b]


def _arith_numpy(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    if a.dtype == bool:
        return [a | b, a & b, a | b, a & b, a < b, a == b, np.where(a < b, a, b), a ^ b, a & b, a | b]
    with np.errstate(over="ignore"):
        return [a + b, a - b, a * b, np.maximum(a, b), np.minimum(a, b), a < b, a == b, np.where(a < b, a, b),
                a != b, a <= b]  # fmt: skip


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=str)
def test_elementwise_arithmetic_and_comparisons(dev: tinyhw.Device, dtype: DType) -> None:
    outputs = [dtype] * 5 + [bool_] * 2 + [dtype] + ([dtype] * 2 if dtype.kind == "b" else [bool_] * 2)
    a, b = sample(dtype), sample(dtype)
    b[:3] = a[:3]  # some equal pairs
    got = run_elementwise(dev, elementwise("arith", [dtype, dtype], outputs, _arith), [a, b], outputs)
    wide = float32.numpy if dtype == bfloat16 else None
    want = _arith_numpy(loaded(a, dtype).astype(wide) if wide else a, loaded(b, dtype).astype(wide) if wide else b)
    for g, w, d in zip(got, want, outputs, strict=True):
        if dtype.kind == "f" and d == dtype:
            close(g, w, d)
        else:
            np.testing.assert_array_equal(g, w)


# -- every unary op, and float binary ops --

_UNARY = {"neg": np.negative, "abs": np.abs, "sqrt": np.sqrt, "rsqrt": lambda v: 1 / np.sqrt(v),
          "recip": lambda v: 1 / v, "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2,
          "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "erf": np.vectorize(math.erf), "floor": np.floor,
          "ceil": np.ceil, "trunc": np.trunc}  # fmt: skip
_POSITIVE = {"sqrt", "rsqrt", "recip", "log", "log2"}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_float_unary_ops(dev: tinyhw.Device, dtype: DType) -> None:
    x, y = sample(dtype, low=0.25, high=4), sample(dtype, low=-3, high=3)
    kernel = elementwise("unary", [dtype, dtype], [dtype] * len(_UNARY),
                         lambda x, y: [(x if op in _POSITIVE else y).unary(op) for op in _UNARY])  # fmt: skip
    got = run_elementwise(dev, kernel, [x, y], [dtype] * len(_UNARY))
    xs, ys = (loaded(v, dtype).astype(np.float64) for v in (x, y))
    for (op, f), g in zip(_UNARY.items(), got, strict=True):
        want = f(xs if op in _POSITIVE else ys)
        close(g, stored(want, dtype).astype(np.float64) if dtype != bfloat16 else want, dtype)


_FLOAT_BINARY = ("div", "mod", "pow", "max", "min")


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_float_binary_ops(dev: tinyhw.Device, dtype: DType) -> None:
    a, b = sample(dtype, low=0.5, high=3), sample(dtype, low=-3, high=3)
    b[b == 0] = stored(np.array([1.0]), dtype)[0]
    kernel = elementwise("fb", [dtype] * 2, [dtype] * 5, lambda a, b: [binary(op, a, b) for op in _FLOAT_BINARY])
    got = run_elementwise(dev, kernel, [a, b], [dtype] * 5)
    av, bv = (loaded(v, dtype).astype(np.float64) for v in (a, b))
    for g, w in zip(got, [av / bv, np.fmod(av, bv), av**bv, np.maximum(av, bv), np.minimum(av, bv)], strict=True):
        close(g, w, dtype, rtol=2e-2 if dtype == bfloat16 else None)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_float_max_min_propagate_nan_like_numpy(dev: tinyhw.Device, dtype: DType) -> None:
    a, b = sample(dtype), sample(dtype)
    nan = stored(np.array([np.nan]), dtype)[0]
    a[::3], b[1::4] = nan, nan
    kernel = elementwise("mm", [dtype] * 2, [dtype] * 2, lambda a, b: [a.max(b), a.min(b)])
    got_max, got_min = run_elementwise(dev, kernel, [a, b], [dtype] * 2)
    av, bv = (loaded(v, dtype).astype(np.float64) for v in (a, b))
    close(got_max, np.maximum(av, bv), dtype)  # assert_allclose: NaN only where numpy has NaN
    close(got_min, np.minimum(av, bv), dtype)


def _c_div(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C's truncating division and remainder, in Python ints."""
    q = [abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1) for x, y in zip(a.tolist(), b.tolist())]
    return np.array(q, dtype=object), np.array([x - qi * y for x, qi, y in zip(a.tolist(), q, b.tolist())], object)


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_integer_ops(dev: tinyhw.Device, dtype: DType) -> None:
    a, b = sample(dtype), sample(dtype)
    b[b == 0] = 3
    b[:4] = [1, 2, 7, 100] if dtype.kind == "u" else [-1, -2, 7, -100]
    s = RNG.integers(0, 8 * dtype.itemsize, N).astype(dtype.numpy)

    def ops(a: Value, b: Value, s: Value) -> list[Value]:
        return [a // b, a % b, a << s, a >> s, a & b, a | b, a ^ b, -a, a.unary("not"), a.unary("abs"), a // 7, a % 7]

    got = run_elementwise(dev, elementwise("ints", [dtype] * 3, [dtype] * 12, ops), [a, b, s], [dtype] * 12)
    q, r = _c_div(a, b)
    q7, r7 = _c_div(a, np.full(N, 7))
    with np.errstate(over="ignore"):
        want = [q, r, a << s, a >> s, a & b, a | b, a ^ b, -a, ~a, np.abs(a), q7, r7]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, _wrapped(w, dtype))


def _wrapped(values: np.ndarray, dtype: DType) -> np.ndarray:
    """Python ints (or numpy values) wrapped to `dtype`'s width, as two's complement arithmetic does."""
    modulus = 1 << (8 * dtype.itemsize)
    return np.array([int(v) % modulus for v in values], object).astype(np.uint64).astype(dtype.numpy)


def test_integer_division_by_zero_and_overflow_do_not_trap(dev: tinyhw.Device) -> None:
    a = np.array([7, -7, -(2**31), 5], np.int32)
    b = np.array([0, 0, -1, -1], np.int32)
    q, r = run_elementwise(dev, elementwise("div0", [int32, int32], [int32] * 2, lambda a, b: [a // b, a % b]),
                           [a, b], [int32] * 2)  # fmt: skip
    assert q[2:].tolist() == [-(2**31), -5] and r[2:].tolist() == [0, 0]  # x / -1 == -x (wrapping)


def test_bools_in_registers_memory_vectors_and_parameters(dev: tinyhw.Device) -> None:
    k = KernelBuilder("bools")
    a, out, ints = k.buffer("a", bool_), k.buffer("out", bool_), k.buffer("ints", int32)
    flag = k.scalar("flag", bool_)
    with k.range(8) as i:
        x = load(a, i * 4, dtype=bool_.vec(4))
        k.store(out, i * 4, vectorize(flag, flag, flag, flag) ^ x)
        k.store(ints, i, x.gep(0).unary("not").cast(int32) + x.gep(3).cast(int32) * 2)
    x = sample(bool_, 32)
    for flag_value in (False, True):
        _, got, got_ints = run(dev, k.build(), x, np.zeros(32, bool), np.zeros(8, np.int32), flag_value)
        np.testing.assert_array_equal(got, x ^ flag_value)
        np.testing.assert_array_equal(got_ints, (~x[::4]).astype(np.int32) + x[3::4] * 2)


# -- conversions --


def _cast_inputs(dtype: DType) -> np.ndarray:
    """Values every dtype can hold after a cast (negatives only from signed sources)."""
    if dtype.kind == "b":
        return np.arange(N) % 3 == 0
    values = np.resize([0, 1, 2, 3, 5, 7, 64, 100, 127], N).astype(np.float64)
    if dtype.kind == "f":
        values = values + np.resize([0.0, 0.5, 0.25, 0.75], N)
    if dtype.kind != "u":
        values[::4] *= -1
    return stored(values, dtype)


@pytest.mark.parametrize("src", list(DTYPES.values()), ids=str)
def test_casts_to_every_dtype(dev: tinyhw.Device, src: DType) -> None:
    targets = list(DTYPES.values())
    a = _cast_inputs(src)
    got = run_elementwise(dev, elementwise("casts", [src], targets, lambda a: [a.cast(d) for d in targets]),
                          [a], targets)  # fmt: skip
    values = loaded(a, src).astype(np.float64) if src.kind == "f" else a
    for g, dst in zip(got, targets, strict=True):
        ok = values >= 0 if dst.kind == "u" and src.kind == "f" else np.ones(N, bool)  # fptoui of < 0 is undefined
        if dst == bfloat16:
            want = bf16_bits(values.astype(np.float64).astype(np.float32))
        elif dst.kind in "iu" and src.kind == "f":
            want = np.trunc(values).astype(np.int64).astype(dst.numpy)
        else:
            want = values.astype(dst.numpy)
        np.testing.assert_array_equal(g[ok], want[ok], err_msg=f"{src} -> {dst}")


def test_bitcasts(dev: tinyhw.Device) -> None:
    f = sample(float32)
    h = sample(float16)
    kernel = elementwise("bits", [float32, float16], [uint32, int32, DTYPES["int16"], bfloat16],
                         lambda f, h: [f.bitcast(uint32), f.bitcast(int32), h.bitcast(DTYPES["int16"]),
                                       h.bitcast(DTYPES["uint16"]).bitcast(bfloat16)])  # fmt: skip
    got = run_elementwise(dev, kernel, [f, h], [uint32, int32, DTYPES["int16"], bfloat16])
    for g, w in zip(got, [f.view(np.uint32), f.view(np.int32), h.view(np.int16), h.view(np.uint16)], strict=True):
        np.testing.assert_array_equal(g, w)


# -- memory: masks, vectors, 16-bit floats --


def test_masked_load_touches_no_memory_and_gives_other(dev: tinyhw.Device) -> None:
    k = KernelBuilder("masked")
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    n = k.scalar("n", int32)
    with k.range(N + 3) as i:
        inside = load(a, i, mask=i < n, other=-1.0)
        never = load(a, i.cast(int64) + (1 << 40), mask=n < 0, other=2.0)  # would fault: far outside any mapping
        k.store(out, i, inside + never, mask=i < N + 1)
    x = sample(float32)
    (_, got) = run(dev, k.build(), x, np.zeros(N + 3, np.float32), N)
    np.testing.assert_array_equal(got, np.concatenate([x + 2, [1.0], [0, 0]]).astype(np.float32))


def test_vector_loads_stores_lanes_and_vectorize(dev: tinyhw.Device) -> None:
    v8 = float32.vec(8)
    k = KernelBuilder("vectors")
    a, out, rev = k.buffer("a", float32), k.buffer("out", float32), k.buffer("rev", float32)
    with k.range(4) as i:
        base = (k.group_id(0) * 4 + i) * 8
        x = load(a, base, dtype=v8)
        k.store(out, base, (x * 2.0 + 1.0).unary("sqrt"))
        k.store(rev, base, vectorize(*(x.gep(7 - lane) for lane in range(8))))
    x = sample(float32, 64, low=0, high=9)
    _, out, rev = run(dev, k.build(), x, np.zeros(64, np.float32), np.zeros(64, np.float32), grid=(2,))
    np.testing.assert_allclose(out, np.sqrt(x * 2 + 1), rtol=1e-6)
    np.testing.assert_array_equal(rev, x.reshape(8, 8)[:, ::-1].ravel())


@pytest.mark.parametrize("dtype", [float16, bfloat16], ids=str)
def test_16_bit_float_io_and_vectors(dev: tinyhw.Device, dtype: DType) -> None:
    k = KernelBuilder("io16")
    a, b, out = k.buffer("a", dtype), k.buffer("b", float32), k.buffer("out", dtype)
    s = k.scalar("s", dtype)
    with k.range(8) as i:
        x = load(a, i * 4, dtype=dtype.vec(4))
        k.store(out, i * 4, x * vectorize(s, s, s, s) + vectorize(*(load(b, i * 4 + j).cast(dtype) for j in range(4))))
    x, y = sample(dtype, 32), RNG.uniform(-4, 4, 32).astype(np.float32)
    got = run(dev, k.build(), x, y, np.zeros(32, dtype.numpy), 1.5)[2]
    want = loaded(x, dtype).astype(np.float32) * 1.5
    want = stored(loaded(stored(want, dtype), dtype).astype(np.float32) + loaded(stored(y, dtype), dtype), dtype)
    close(got, loaded(want, dtype), dtype)


# -- loops, grids, reductions --


def test_nested_ranges_and_3d_grid(dev: tinyhw.Device) -> None:
    k = KernelBuilder("grid")
    out = k.buffer("out", int32)
    gx, gy, gz = (k.group_id(axis) for axis in range(3))
    with k.range(3, name="r") as r, k.range(5, start=1, name="c") as c:
        cell = ((gz * 2 + gy) * 4 + gx) * 12 + r * 4 + (c - 1)
        k.store(out, cell, gx * 1000 + gy * 100 + gz * 10 + r * c)
    (got,) = run(dev, k.build(), np.zeros(4 * 2 * 3 * 12, np.int32), grid=(4, 2, 3))
    z, y, x, r, c = np.meshgrid(range(3), range(2), range(4), range(3), range(1, 5), indexing="ij")
    np.testing.assert_array_equal(got, (x * 1000 + y * 100 + z * 10 + r * c).ravel())


@pytest.mark.parametrize("dtype", [float32, int64], ids=str)
def test_reductions_with_accumulators(dev: tinyhw.Device, dtype: DType) -> None:
    rows, cols = 5, 33
    k = KernelBuilder("reduce")
    a, sums, maxes = k.buffer("a", dtype), k.buffer("sums", dtype), k.buffer("maxes", dtype)
    row = k.group_id(0)
    total = k.accumulator("total", const(0, dtype))
    top = k.accumulator("top", load(a, row * cols))
    with k.range(cols, name="j") as j:
        x = load(a, row * cols + j)
        k.update(total, total + x)
        k.update(top, top.max(x))
    k.store(sums, row, total)
    k.store(maxes, row, top)
    x = sample(dtype, rows * cols, low=-5, high=5)  # int64 sums wrap, in numpy too
    results = np.zeros(rows, dtype.numpy), np.zeros(rows, dtype.numpy)
    _, got_sum, got_max = run(dev, k.build(), x, *results, grid=(rows,))
    sums = x.reshape(rows, cols).sum(1)
    assert np.allclose(got_sum, sums, rtol=1e-5) if dtype.kind == "f" else np.array_equal(got_sum, sums)
    np.testing.assert_array_equal(got_max, x.reshape(rows, cols).max(1))


# -- local memory, barriers and work-items as loops --


def test_workgroup_reverse_and_tree_sum_in_local_memory(dev: tinyhw.Device) -> None:
    x = sample(float32, 3 * 64)
    _, got_rev, got_sums = run(dev, reverse_and_tree_sum(), x, np.zeros_like(x), np.zeros(3, np.float32), grid=(3,))
    np.testing.assert_array_equal(got_rev, x.reshape(3, 64)[:, ::-1].ravel())
    np.testing.assert_allclose(got_sums, x.reshape(3, 64).sum(1), rtol=1e-5)


def test_barriers_inside_a_uniform_if_and_loop_with_2d_work_items(dev: tinyhw.Device) -> None:
    k = KernelBuilder("tiles", local_size=(8, 4, 1))
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    tile = k.local("tile", float32, 32)
    tiles = k.scalar("tiles", int32)
    lx, ly = k.local_id(0), k.local_id(1)
    with k.if_(tiles > 0), k.range(tiles, name="t") as t:  # transpose 4x8 tiles into 8x4 ones, one per step
        k.store(tile, ly * 8 + lx, a[t * 32 + ly * 8 + lx])
        k.barrier()
        flat = ly * 8 + lx
        k.store(out, t * 32 + flat, tile[(flat % 4) * 8 + flat // 4])
        k.barrier()
    x = sample(float32, 96)
    for count in (3, 0):
        _, got = run(dev, k.build(), x, np.zeros_like(x), count)
        np.testing.assert_array_equal(got, x.reshape(3, 4, 8).transpose(0, 2, 1).ravel() * (count > 0))


def _acc_across_barrier(k: KernelBuilder) -> None:
    acc = k.accumulator("acc", k.local_id(0).cast(float32))
    k.barrier()
    k.store(k.buffer("out", float32), k.local_id(0), acc)


def _divergent_barrier(k: KernelBuilder) -> None:
    with k.range(k.local_id(0)):
        k.barrier()


def _index_outside_range(k: KernelBuilder) -> None:
    with k.range(4) as i:
        pass
    k.store(k.buffer("out", int32), 0, i)


@pytest.mark.parametrize(("build", "message"), [(_acc_across_barrier, "across a barrier: not supported by the cpu"),
                                                (_divergent_barrier, "not supported by the cpu dialect"),
                                                (_index_outside_range, "outside its range")])  # fmt: skip
def test_unsupported_ir_raises_ir_error(build: Callable[[KernelBuilder], None], message: str) -> None:
    k = KernelBuilder("bad", local_size=(4, 1, 1))
    build(k)
    with pytest.raises(IRError, match=message):
        render(k.build(), "llvm-cpu")


# -- rendering, registry, caching --


def _kitchen_sink(local: int = 64) -> Kernel:
    """A kernel using most of the IR, for the dialects' parse/compile checks."""
    k = KernelBuilder("sink", local_size=(local, 1, 1))
    a, h, out = k.buffer("a", float32), k.buffer("h", float16), k.buffer("out", float32)
    tmp = k.local("tmp", float32, local)
    lid, g = k.local_id(0), k.group_id(0)
    x = load(a, g * local + lid, mask=lid < 60)
    y = load(h, lid).cast(float32)
    math_ops = [x.unary(op) for op in ("sqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "erf", "rsqrt")]
    total = x + binary("pow", x, y) + (x % y) + y.cast(float16).unary("exp").cast(float32)
    for v in math_ops:
        total = total + v
    k.store(tmp, lid, total)
    k.barrier()
    acc = k.accumulator("acc", tmp[lid])
    with k.range(4, name="j") as j:
        k.update(acc, acc.max(tmp[(lid + j) % local]))
    v = load(a, g * 8, dtype=float32.vec(8))
    k.store(out, g * local + lid, acc + v.gep(3), mask=lid < 62)
    return k.build()


def test_rendering_is_deterministic_and_readable() -> None:
    first, second = render(_kitchen_sink(), "llvm-cpu"), render(_kitchen_sink(), "llvm-cpu")
    assert first == second and first.entry == "sink" and first.renderer == "llvm-cpu"
    assert "%lid.x = phi i32" in first.source and "%acc = load float, ptr %acc.slot" in first.source


_GPU_KERNELS = {
    "sink": _kitchen_sink,
    "unary-float16": lambda: elementwise("u", [float16] * 2, [float16] * len(_UNARY),
                                         lambda x, y: [(x if op in _POSITIVE else y).unary(op) for op in _UNARY]),
    "binary-bfloat16": lambda: elementwise("b", [bfloat16] * 2, [bfloat16] * 5,
                                           lambda a, b: [binary(op, a, b) for op in _FLOAT_BINARY]),
    "casts-bfloat16": lambda: elementwise("c", [bfloat16], list(DTYPES.values()),
                                          lambda a: [a.cast(d) for d in DTYPES.values()]),
    "ints-int64": lambda: elementwise("i", [int64] * 2, [int64] * 4, lambda a, b: [a // b, a % b, a >> b, -a]),
}  # fmt: skip


@pytest.mark.parametrize("name", _GPU_KERNELS)
@pytest.mark.parametrize("renderer", ["llvm-amdgpu", "llvm-nvptx"])
def test_gpu_dialects_parse_and_verify(renderer: str, name: str) -> None:
    source = render(_GPU_KERNELS[name](), renderer).source
    with parse_llvm_ir(source):
        pass
    if renderer == "llvm-amdgpu":
        assert compile_llvm_ir(source, "amdgcn-amd-amdhsa", "gfx1100")[:4] == b"\x7fELF"


def test_names_from_the_ir_stay_unique_and_valid(dev: tinyhw.Device) -> None:
    k = KernelBuilder("my-kernel 1")
    entry, weird = k.buffer("entry", int32), k.buffer("2 x", int32)
    group_x = k.scalar("group_x", int32)
    with k.range(4, name="entry.body") as i:
        k.store(entry, i, load(weird, i) + group_x + k.group_id(0))
    rendered = render(k.build(), "llvm-cpu")
    assert 'define void @"my-kernel 1"(ptr noundef %entry, ptr noundef %_2_x, i32 %group_x,' in rendered.source
    got, _ = run(dev, k.build(), np.zeros(4, np.int32), np.arange(4, dtype=np.int32), 10, grid=(2,))
    assert got.tolist() in ([10, 11, 12, 13], [11, 12, 13, 14])  # either workgroup may write last


@pytest.mark.parametrize("renderer", ["llvm-amdgpu", "llvm-nvptx"])
def test_gpu_dialects_spell_kernels_ids_barriers_and_local_memory(renderer: str) -> None:
    source = render(_kitchen_sink(), renderer).source
    assert "addrspace(3) global [64 x float]" in source and "ptr addrspace(1) noundef %a" in source
    if renderer == "llvm-amdgpu":
        assert "define amdgpu_kernel void @sink(" in source and "call void @llvm.amdgcn.s.barrier()" in source
        assert "call i32 @llvm.amdgcn.workitem.id.x()" in source and "alloca float, addrspace(5)" in source
    else:
        assert "define ptx_kernel void @sink(" in source and "call void @llvm.nvvm.barrier0()" in source
        assert "call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()" in source


def test_gpu_dialects_refuse_float64_transcendentals() -> None:
    kernel = elementwise("f64", [float64], [float64], lambda x: [x.unary("exp")])
    with pytest.raises(IRError, match="float64 exp is not supported by the amdgpu dialect"):
        render(kernel, "llvm-amdgpu")
    with parse_llvm_ir(render(kernel, "llvm-cpu").source):
        pass


def test_registry_and_compile_cache(dev: tinyhw.Device) -> None:
    assert {"llvm-cpu", "llvm-amdgpu", "llvm-nvptx"} <= set(RENDERERS)
    with pytest.raises(ValueError, match="unknown renderer 'wgsl-x'; known: .*llvm-cpu"):
        render(_kitchen_sink(), "wgsl-x")
    kernel = elementwise("cached", [float32], [float32], lambda x: [x + 1.0])
    program = compile_kernel(dev, kernel)
    assert compile_kernel(dev, kernel) is program
    assert compile_kernel(dev, elementwise("cached", [float32], [float32], lambda x: [x + 1.0])) is program
