"""Kernels compiled for gfx1100 from kernel IR, run on the emulator end to end and compared with numpy.

Each kernel goes through the AMD plugin's code-object loader (tinyhw_amd.code_object) and the
emulator's dispatch entry point with the kernel descriptor's RSRC registers and user SGPRs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.kernel.local_memory_kernel import reverse_and_tree_sum
from tests.sim.amd.isa import InstructionBudgetExceeded, PageFault, run_dispatch
from tests.sim.amd.isa.kernels import CODE_VA, KERNARG_VA, load_kernel, prepare, run_kernel
from tests.sim.amd.memory import GPUMemory
from tinyhw.kernel.dtypes import bfloat16, bool_, float16, float32, float64, int32, uint8, uint32
from tinyhw.kernel.ir import KernelBuilder, load

RNG = np.random.default_rng(7)


def _elementwise(name: str, inputs, outputs, body, group: int = 64):
    """out_k[i] = body(in_0[i], ...)[k] for i < n, `group` work-items per workgroup, masked at the end."""
    k = KernelBuilder(name, local_size=(group, 1, 1))
    ins = [k.buffer(f"in{j}", d) for j, d in enumerate(inputs)]
    outs = [k.buffer(f"out{j}", d) for j, d in enumerate(outputs)]
    n = k.scalar("n", int32)
    i = k.group_id(0) * group + k.local_id(0)
    values = body(*(load(b, i, mask=i < n) for b in ins))
    for out, value in zip(outs, values, strict=True):
        k.store(out, i, value, mask=i < n)
    return k.build()


def _run_elementwise(kernel, inputs, output_dtypes, group: int = 64):
    n = len(inputs[0])
    outs = [np.zeros(n, d) for d in output_dtypes]
    return run_kernel(kernel, *inputs, *outs, n, grid=(-(-n // group), 1, 1))[len(inputs) :]


def test_vector_add_over_several_workgroups_with_a_masked_tail():
    a, b = RNG.standard_normal(200, np.float32), RNG.standard_normal(200, np.float32)
    (got,) = _run_elementwise(_elementwise("add", [float32] * 2, [float32], lambda x, y: [x + y]), [a, b], [np.float32])
    np.testing.assert_array_equal(got, a + b)


def test_workgroup_and_work_item_ids_in_three_dimensions():
    # 40 work-items per group: the second wave has 8 live lanes; ids come from SGPRs (TGID_*) and v0's packed ids
    k = KernelBuilder("ids", local_size=(5, 4, 2))
    out = k.buffer("out", int32)
    (gx, gy, gz), (lx, ly, lz) = (k.group_id(a) for a in range(3)), (k.local_id(a) for a in range(3))
    flat = ((gz * 3 + gy) * 2 + gx) * 40 + (lz * 4 + ly) * 5 + lx
    k.store(out, flat, ((gz * 10 + gy) * 10 + gx) * 1000 + (lz * 10 + ly) * 10 + lx)
    (got,) = run_kernel(k.build(), np.full(40 * 12, -1, np.int32), grid=(2, 3, 2))
    g = np.array([((z * 10 + y) * 10 + x) * 1000 for z in range(2) for y in range(3) for x in range(2)])
    ids = np.array([(z * 10 + y) * 10 + x for z in range(2) for y in range(4) for x in range(5)])
    np.testing.assert_array_equal(got, (g[:, None] + ids).ravel())


def test_lds_reverse_and_tree_sum_with_barriers():
    x = RNG.integers(-100, 100, 3 * 64).astype(np.float32)  # integers: the sum is exact in any order
    outputs = np.zeros_like(x), np.zeros(3, np.float32)
    _, got_rev, got_sums = run_kernel(reverse_and_tree_sum(), x, *outputs, grid=(3, 1, 1))
    np.testing.assert_array_equal(got_rev, x.reshape(3, 64)[:, ::-1].ravel())
    np.testing.assert_array_equal(got_sums, x.reshape(3, 64).sum(1))


def test_a_loop_with_a_runtime_trip_count():
    k = KernelBuilder("rows", local_size=(32, 1, 1))
    a, out, cols = k.buffer("a", int32), k.buffer("out", int32), k.scalar("cols", int32)
    row = k.local_id(0)
    total = k.accumulator("total", a[row * cols] * 0)
    with k.range(cols, name="c") as c:
        k.update(total, total.max(a[row * cols + c]) + c)
    k.store(out, row, total)
    for cols in (1, 7):
        x = RNG.integers(-1000, 1000, 32 * cols).astype(np.int32)
        _, got = run_kernel(k.build(), x, np.zeros(32, np.int32), cols)
        want = np.zeros(32, np.int64)
        for c in range(cols):
            want = np.maximum(want, x.reshape(32, cols)[:, c]) + c
        np.testing.assert_array_equal(got, want)


def test_float16_and_bfloat16_arithmetic_and_conversions():
    def body(a, b, c):
        return [a * b + a, c.cast(bfloat16), (a.cast(float32) * c).cast(float16).cast(float32)]

    kernel = _elementwise("half", [float16, float16, float32], [float16, bfloat16, float32], body)
    a = RNG.uniform(-4, 4, 100).astype(np.float16)
    b = RNG.uniform(-4, 4, 100).astype(np.float16)
    c = RNG.uniform(-4, 4, 100).astype(np.float32)
    got_half, got_bf16, got_round_trip = _run_elementwise(kernel, [a, b, c], [np.float16, np.uint16, np.float32])
    np.testing.assert_allclose(got_half, (a.astype(np.float32) * b + a).astype(np.float16), rtol=2e-3, atol=2e-3)
    bits = c.view(np.uint32).astype(np.uint64)
    np.testing.assert_array_equal(got_bf16, ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16))
    np.testing.assert_array_equal(got_round_trip, (a.astype(np.float32) * c).astype(np.float16).astype(np.float32))


def test_transcendental_float32_ops_match_numpy():
    ops = ["exp2", "log2", "sqrt", "recip", "sin", "cos", "exp", "log"]
    kernel = _elementwise("math", [float32], [float32] * len(ops), lambda x: [x.unary(op) for op in ops])
    x = RNG.uniform(0.1, 6, 100).astype(np.float32)
    got = _run_elementwise(kernel, [x], [np.float32] * len(ops))
    want = [np.exp2(x), np.log2(x), np.sqrt(x), 1 / x, np.sin(x), np.cos(x), np.exp(x), np.log(x)]
    for op, g, w in zip(ops, got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=2e-6, err_msg=op)


def test_float64_arithmetic_division_and_conversions():
    def body(a, b):
        return [a * b + a, a / b, a.max(b), a.cast(int32).cast(float64), a.cast(float32).cast(float64)]

    kernel = _elementwise("f64", [float64, float64], [float64] * 5, body)
    a, b = RNG.uniform(-1e3, 1e3, 90), RNG.uniform(0.5, 9, 90) * RNG.choice([-1, 1], 90)
    got = _run_elementwise(kernel, [a, b], [np.float64] * 5)
    want = [a * b + a, a / b, np.maximum(a, b), np.trunc(a), a.astype(np.float32).astype(np.float64)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-15, atol=0)


def test_integer_comparisons_selects_and_byte_sized_types():
    kernel = _elementwise("ints", [int32, uint32, uint8], [int32, uint32, bool_, uint8],
                          lambda a, b, c: [(a < 0).where(a * 3, a // 7), b.max(c.cast(uint32)) ^ (b >> 3),
                                           a.cast(uint32) > b, c + c.cast(uint8)])  # fmt: skip
    a = RNG.integers(-(2**31), 2**31, 150, dtype=np.int32)
    b = RNG.integers(0, 2**32, 150, dtype=np.uint32)
    c = RNG.integers(0, 256, 150, dtype=np.uint8)
    got = _run_elementwise(kernel, [a, b, c], [np.int32, np.uint32, np.bool_, np.uint8])
    quotient = np.trunc(a.astype(np.float64) / 7).astype(np.int32)  # C division truncates toward zero
    np.testing.assert_array_equal(got[0], np.where(a < 0, a * np.int32(3), quotient))
    np.testing.assert_array_equal(got[1], np.maximum(b, c) ^ (b >> 3))
    np.testing.assert_array_equal(got[2], a.view(np.uint32) > b)
    np.testing.assert_array_equal(got[3], c + c)


def test_register_spills_go_to_per_lane_scratch_memory():
    # 16 accumulators of 16 floats per work-item exceed the VGPRs, so LLVM spills them to scratch
    k = KernelBuilder("spill", local_size=(32, 1, 1))
    a, out, n = k.buffer("a", float32), k.buffer("out", float32), k.scalar("n", int32)
    i, block = k.local_id(0), float32.vec(16)
    accs = [k.accumulator(f"acc{j}", load(a, j, dtype=block) * 0) for j in range(16)]
    with k.range(n, name="r") as r:
        for j, acc in enumerate(accs):
            k.update(
                acc, acc * load(a, (r * 16 + j) % 64 * 16, dtype=block) + load(a, (r + j + i) % 64 * 16, dtype=block)
            )
    for j, acc in enumerate(accs):
        for lane in range(16):
            k.store(out, (i * 16 + j) * 16 + lane, acc.gep(lane))
    x = RNG.uniform(0, 1, 1024).astype(np.float32)
    _, got = run_kernel(k.build(), x, np.zeros(32 * 256, np.float32), 3)
    blocks, want = x.reshape(64, 16).astype(np.float64), np.zeros((32, 16, 16))
    for lane, j, r in itertools.product(range(32), range(16), range(3)):
        want[lane, j] = want[lane, j] * blocks[(r * 16 + j) % 64] + blocks[(r + j + lane) % 64]
    np.testing.assert_allclose(got.reshape(32, 16, 16), want, rtol=1e-6)


def _endless():
    k = KernelBuilder("spin", local_size=(32, 1, 1))
    out, n = k.buffer("out", int32), k.scalar("n", int32)
    total = k.accumulator("total", n * 0)
    with k.range(n, name="j") as j:
        k.update(total, total * 3 + j)  # no closed form, so the loop really runs
    k.store(out, k.local_id(0), total)
    return k.build()


def test_a_kernel_past_its_instruction_budget_raises():
    with pytest.raises(InstructionBudgetExceeded, match="budget of 5000 instructions"):
        run_kernel(_endless(), np.zeros(32, np.int32), 10**9, budget=5000)


def test_a_store_to_unmapped_memory_is_a_page_fault_naming_the_address():
    memory = GPUMemory()
    desc = load_kernel(memory, _endless())
    kernarg = bytearray(4096)
    kernarg[:8] = (0xDEAD_0000).to_bytes(8, "little")  # `out` points at nothing
    kernarg[8:12] = (3).to_bytes(4, "little")
    memory.map(KERNARG_VA, kernarg)
    with pytest.raises(PageFault, match="write of unmapped address 0xdead0000"):
        run_dispatch(memory, pgm_address=CODE_VA + desc.entry, rsrc1=desc.rsrc1, rsrc2=desc.rsrc2, rsrc3=desc.rsrc3,
                     user_data=[KERNARG_VA, 0], workgroup_size=(32, 1, 1), grid=(1, 1, 1), lds_size=0,
                     scratch_size=0, budget=10_000)  # fmt: skip


def _fill(value: int):
    k = KernelBuilder(f"fill{value}", local_size=(32, 1, 1))
    out = k.buffer("out", int32)
    k.store(out, k.local_id(0), k.local_id(0) * 0 + value)
    return k.build()


def test_new_code_at_a_reused_address_is_decoded_again():
    for value in (3, 4, 3):
        (got,) = run_kernel(_fill(value), np.zeros(32, np.int32))
        np.testing.assert_array_equal(got, value)


@pytest.mark.parametrize(("changes", "message"), [
    ({"rsrc2": 1 << 10}, "TG_SIZE_EN"), ({"workgroup_size": (64, 32, 1)}, "exceeds 1024 work-items"),
    ({"grid": (0, 1, 1)}, "three positive dimensions"),
])  # fmt: skip
def test_impossible_dispatches_are_refused(changes, message):
    launch = prepare(_fill(1), np.zeros(32, np.int32))
    launch.registers |= changes
    with pytest.raises(ValueError, match=message):
        launch.run()
