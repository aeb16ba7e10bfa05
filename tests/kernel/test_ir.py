"""The kernel IR itself: the builder, simplification as values are built, the printer, and its errors."""

from __future__ import annotations

import pytest

from tinyhw.kernel.dtypes import bool_, float32, int8, int32, uint8
from tinyhw.kernel.ir import (
    Barrier,
    DefineAcc,
    If,
    IRError,
    KernelBuilder,
    Range,
    Store,
    UpdateAcc,
    Value,
    const,
    load,
    vectorize,
)


def _copy_kernel(name: str = "copy") -> object:
    k = KernelBuilder(name, local_size=(4, 1, 1))
    a, out = k.buffer("a", float32), k.buffer("out", float32)
    n = k.scalar("n", int32)
    tmp = k.local("tmp", float32, 4)
    with k.range(8, name="i") as i:
        idx = k.group_id(0) * 8 + i
        k.store(tmp, k.local_id(0), a[idx])
        k.barrier()
        with k.if_(idx < n):
            acc = k.accumulator("acc", tmp[k.local_id(0)])
            k.update(acc, acc * 2.0)
            k.store(out, idx, acc)
    return k.build()


def test_builder_records_params_locals_and_nesting() -> None:
    kernel = _copy_kernel()
    assert [p.name if hasattr(p, "name") else p.args[0] for p in kernel.params] == ["a", "out", "n"]
    assert kernel.local_size == (4, 1, 1) and kernel.locals[0].space == "local" and kernel.locals[0].size == 4
    (loop,) = kernel.body
    assert isinstance(loop, Range) and [type(s) for s in loop.body] == [Store, Barrier, If]
    assert [type(s) for s in loop.body[2].body] == [DefineAcc, UpdateAcc, Store]


def test_builder_gives_clashing_names_a_suffix_and_checks_blocks() -> None:
    k = KernelBuilder("k")
    assert [k.buffer("a", float32).name, k.buffer("a", float32).name] == ["a", "a1"]
    with k.range(4) as i:
        with pytest.raises(IRError, match="inside a range"):
            k.build()
        k.store(k.buffer("out", int32), i, i)


def test_index_arithmetic_of_reshapes_simplifies() -> None:
    k = KernelBuilder("k")
    with k.range(5, name="i") as i, k.range(12, name="j") as j:
        flat = i * 12 + j
        assert flat // 12 == i and flat % 12 == j
        assert (i * 24 + j * 2) // 2 == flat and (flat * 4 + 3) // 4 == flat and ((flat * 4 + 3) % 4).value == 3
        assert (j < 12) == const(True, bool_) and (flat < 60).value is True and (flat >= 0).value is True
        assert (j + 3) + 4 == j + 7 and (j * 2) * 3 == j * 6 and j - j == const(0, int32)
        assert j + 0 is j and j * 1 is j and (j * 0).value == 0


@pytest.mark.parametrize(("a", "b", "quotient", "remainder"), [(7, 2, 3, 1), (-7, 2, -3, -1), (7, -2, -3, 1),
                                                               (-7, -2, 3, -1)])  # fmt: skip
def test_constant_division_truncates_as_in_c(a: int, b: int, quotient: int, remainder: int) -> None:
    x, y = const(a, int32), const(b, int32)
    assert ((x // y).value, (x % y).value) == (quotient, remainder)


def test_constants_fold_and_wrap_to_their_width() -> None:
    assert (const(127, int8) + 1).value == -128 and (const(200, uint8) * 2).value == 144
    assert (const(2.5, float32) * 2.0).value == 5.0 and const(3.7, float32).cast(int32).value == 3
    assert const(-1.0, float32).unary("abs").value == 1.0 and const(5, int32).cast(bool_).value is True
    assert (const(1, int32) << 4).value == 16 and (const(3, int32) < 4).value is True


def test_masks_that_cannot_fail_or_pass_fold_away() -> None:
    k = KernelBuilder("k")
    out = k.buffer("out", float32)
    with k.range(12, name="j") as j:
        k.store(out, j, const(1.0, float32), mask=j < 12)  # always true: no mask
        k.store(out, j, const(2.0, float32), mask=j < 0)  # never: no store
        assert load(out, j, mask=j >= 12, other=3.0) == const(3.0, float32)
        with k.if_(j < 100):
            k.store(out, j, const(4.0, float32))
    (loop,) = k.build().body
    assert [type(s) for s in loop.body] == [Store, Store] and loop.body[0].mask is None


def test_bool_masks_combine() -> None:
    k = KernelBuilder("k")
    n = k.scalar("n", int32)
    ok = n < 5
    assert (ok & const(True, bool_)) is ok and (ok | const(True, bool_)).value is True and (ok & ok) is ok


def test_values_are_structural() -> None:
    k = KernelBuilder("k")
    n = k.scalar("n", int32)
    assert n * 2 + 1 == n * 2 + 1 and hash(n * 2 + 1) == hash(n * 2 + 1) and n * 2 != n * 3
    assert vectorize(n, n).dtype == int32.vec(2) and vectorize(n, n).gep(1) == Value("gep", int32, (vectorize(n, n), 1))


def test_printer_is_deterministic_and_shows_structure() -> None:
    text = str(_copy_kernel())
    assert text == str(_copy_kernel())
    lines = text.splitlines()
    assert lines[0] == "kernel copy(float32* a, float32* out, int32 %n) local_size=(4, 1, 1)"
    assert "  local float32 tmp[4]" in lines and "  for %i in [0:int32, 8:int32):" in lines
    assert any(line.strip() == "barrier" for line in lines) and any("%acc <- " in line for line in lines)


@pytest.mark.parametrize(
    "build",
    [
        lambda k, n, f: n + f,  # mixed dtypes
        lambda k, n, f: k.store(k.buffer("o", float32), 0, n),  # store of the wrong dtype
        lambda k, n, f: load(k.buffer("o", float32), 0, dtype=int32),
        lambda k, n, f: f.bitcast(int8),  # sizes differ
        lambda k, n, f: vectorize(n, n).gep(2),
        lambda k, n, f: n.unary("cube"),
        lambda k, n, f: n.where(f, f),  # condition not bool
        lambda k, n, f: k.update(n, n),  # not an accumulator
        lambda k, n, f: bool(n < 3),
        lambda k, n, f: n.cast(int32.vec(4)),  # a cast keeps the lane count
    ],
)
def test_malformed_ir_raises_ir_error(build) -> None:
    k = KernelBuilder("k")
    with pytest.raises(IRError):
        build(k, k.scalar("n", int32), k.scalar("f", float32))


def test_constant_factors_above_the_divisor_split_into_multiple_and_remainder():
    k = KernelBuilder("windows")
    with k.range(4) as o, k.range(3) as r:
        window = o * 8 + r * 35  # a sliding-window index: 35 = 34 + 1
        assert window % 34 == o * 8 + r
        assert window // 34 == r
        assert (o * 12 + r + 5) // 12 == o
