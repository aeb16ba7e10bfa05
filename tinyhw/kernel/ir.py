"""The kernel IR: what the tensor frontend (or a person) writes, and what renderers turn into source.

A kernel is a list of statements over typed SSA *values*. Values are immutable expression nodes
(`Value`): constants, scalar parameters, workgroup/local ids, loop indices, accumulator reads,
loads, and operations on other values. They are compared and hashed by structure, so equal
expressions are one value (renderers emit each once). Arithmetic on integer values is simplified
as it is built — constants fold, identities vanish, and known ranges remove divisions, moduli
and comparisons — so index arithmetic from reshapes and views comes out clean.

Statements give the structure: `Store` (optionally masked), `Range` (a counted loop with a body),
`If`, `DefineAcc`/`UpdateAcc` (accumulators, the one mutable thing, for reductions) and
`Barrier` (workgroup barrier). Memory is a `Buf`: a global buffer parameter, or a local
(workgroup-shared) array.

    k = KernelBuilder("add", local_size=(1, 1, 1))
    a, b, out = k.buffer("a", float32), k.buffer("b", float32), k.buffer("out", float32)
    n = k.scalar("n", int32)
    with k.range(256) as i:
        idx = k.group_id(0) * 256 + i
        k.store(out, idx, load(a, idx, mask=idx < n) + load(b, idx, mask=idx < n), mask=idx < n)
    kernel = k.build()

A kernel runs over a grid of workgroups given at launch (`global_size`); each workgroup has
`local_size` work-items. See docs/kernel-ir.md for the full reference.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Union

from tinyhw.kernel.dtypes import DType, bool_, int32

__all__ = [
    "UNARY_OPS",
    "BINARY_OPS",
    "COMPARISONS",
    "Value",
    "Buf",
    "Store",
    "Range",
    "If",
    "DefineAcc",
    "UpdateAcc",
    "Barrier",
    "Stmt",
    "Kernel",
    "KernelBuilder",
    "const",
    "IRError",
]

UNARY_OPS = frozenset({"neg", "not", "abs", "sqrt", "rsqrt", "recip", "exp", "exp2", "log", "log2", "sin", "cos",
                       "tanh", "erf", "floor", "ceil", "trunc"})  # fmt: skip
BINARY_OPS = frozenset({"add", "sub", "mul", "div", "mod", "max", "min", "pow", "and", "or", "xor", "shl", "shr",
                        "lt", "le", "eq", "ne"})  # fmt: skip
COMPARISONS = frozenset({"lt", "le", "eq", "ne"})
"""Integer "div" truncates toward zero and "mod" takes the dividend's sign, as in C."""


class IRError(ValueError):
    """A kernel IR construct is malformed (wrong types, unknown op, misuse of the builder)."""


@dataclass(frozen=True, slots=True)
class Buf:
    """Memory a kernel reads and writes: a global buffer parameter, or a local array of `size` elements."""

    name: str
    dtype: DType
    space: str = "global"
    size: int = 0

    def __getitem__(self, index: Value | int) -> Value:
        """A load of element `index` (see KernelBuilder.load for masks and vectors)."""
        return load(self, index)


@dataclass(frozen=True, slots=True, eq=True)
class Value:
    """An immutable SSA value: `op` with `args` (child values, or plain data for leaves), of `dtype`.

    Leaves: const (value), param (name), group_id/local_id (axis), loop (name, start, end),
    acc (name). Operations: any of UNARY_OPS/BINARY_OPS, "where" (cond, a, b), "cast"/"bitcast"
    (value), "load" (buf, index, mask, other), "gep" (vector, lane), "vectorize" (values...).
    """

    op: str
    dtype: DType
    args: tuple
    _hash: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.op, self.dtype, self.args)))

    def __hash__(self) -> int:
        return self._hash

    # arithmetic; Python numbers are converted to the other operand's dtype
    def __add__(self, other: Any) -> Value:
        return binary("add", self, other)

    def __radd__(self, other: Any) -> Value:
        return binary("add", other, self)

    def __sub__(self, other: Any) -> Value:
        return binary("sub", self, other)

    def __rsub__(self, other: Any) -> Value:
        return binary("sub", other, self)

    def __mul__(self, other: Any) -> Value:
        return binary("mul", self, other)

    def __rmul__(self, other: Any) -> Value:
        return binary("mul", other, self)

    def __truediv__(self, other: Any) -> Value:
        return binary("div", self, other)

    def __floordiv__(self, other: Any) -> Value:
        """Integer division (truncating; equal to floor division for non-negative operands)."""
        return binary("div", self, other)

    def __mod__(self, other: Any) -> Value:
        return binary("mod", self, other)

    def __neg__(self) -> Value:
        return unary("neg", self)

    def __lt__(self, other: Any) -> Value:
        return binary("lt", self, other)

    def __le__(self, other: Any) -> Value:
        return binary("le", self, other)

    def __gt__(self, other: Any) -> Value:
        return binary("lt", other, self)

    def __ge__(self, other: Any) -> Value:
        return binary("le", other, self)

    def __and__(self, other: Any) -> Value:
        return binary("and", self, other)

    def __or__(self, other: Any) -> Value:
        return binary("or", self, other)

    def __xor__(self, other: Any) -> Value:
        return binary("xor", self, other)

    def __lshift__(self, other: Any) -> Value:
        return binary("shl", self, other)

    def __rshift__(self, other: Any) -> Value:
        return binary("shr", self, other)

    def eq(self, other: Any) -> Value:
        """Elementwise ==, as a bool value (`==` itself compares expressions)."""
        return binary("eq", self, other)

    def ne(self, other: Any) -> Value:
        return binary("ne", self, other)

    def max(self, other: Any) -> Value:
        return binary("max", self, other)

    def min(self, other: Any) -> Value:
        return binary("min", self, other)

    def where(self, a: Any, b: Any) -> Value:
        """`a` where this bool value is true, else `b`."""
        return where(self, a, b)

    def cast(self, dtype: DType) -> Value:
        """Convert the value to `dtype` (floats to ints truncate; to bool means != 0)."""
        return cast(self, dtype)

    def bitcast(self, dtype: DType) -> Value:
        """Reinterpret the bits as `dtype` (same size)."""
        if dtype.itemsize * dtype.count != self.dtype.itemsize * self.dtype.count:
            raise IRError(f"cannot bitcast {self.dtype} to {dtype}: sizes differ")
        return Value("bitcast", dtype, (self,))

    def unary(self, op: str) -> Value:
        """Apply one of UNARY_OPS."""
        return unary(op, self)

    def gep(self, lane: int) -> Value:
        """Element `lane` of a vector value."""
        if not 0 <= lane < self.dtype.count:
            raise IRError(f"lane {lane} is outside {self.dtype}")
        return Value("gep", self.dtype.scalar, (self, lane))

    @property
    def value(self) -> Any:
        """The Python value of a constant."""
        if self.op != "const":
            raise IRError(f"{self.op} value is not a constant")
        return self.args[0]

    @property
    def bounds(self) -> tuple[float, float]:
        """Known (min, max) of an integer value; ±inf where unknown."""
        return _bounds(self)

    def __repr__(self) -> str:
        from tinyhw.kernel.printer import format_value

        return format_value(self)

    def __bool__(self) -> bool:
        raise IRError("a kernel IR value has no truth value; use .where() or KernelBuilder.if_()")


Stmt = Union["Store", "Range", "If", "DefineAcc", "UpdateAcc", "Barrier"]


@dataclass(frozen=True, slots=True)
class Store:
    """buf[index] = value (a vector value stores `count` consecutive elements); only where `mask`."""

    buf: Buf
    index: Value
    value: Value
    mask: Value | None = None


@dataclass(frozen=True, slots=True)
class Range:
    """for var in [start, end): body. `var` is the loop's index value (op "loop")."""

    var: Value
    start: Value
    end: Value
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class If:
    """if cond: body."""

    cond: Value
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class DefineAcc:
    """Create accumulator `acc` (an "acc" value) holding `init`."""

    acc: Value
    init: Value


@dataclass(frozen=True, slots=True)
class UpdateAcc:
    """Set accumulator `acc` to `value` (which usually reads `acc`)."""

    acc: Value
    value: Value


@dataclass(frozen=True, slots=True)
class Barrier:
    """Every work-item of the workgroup waits here; local memory writes before it are visible after."""


@dataclass(frozen=True, slots=True)
class Kernel:
    """A complete kernel: parameters in launch order (Buf for buffers, "param" Values for scalars),
    local arrays, work-items per workgroup, and the body."""

    name: str
    params: tuple[Buf | Value, ...]
    body: tuple[Stmt, ...]
    local_size: tuple[int, int, int] = (1, 1, 1)
    locals: tuple[Buf, ...] = ()

    def __str__(self) -> str:
        from tinyhw.kernel.printer import format_kernel

        return format_kernel(self)


# -- constructing values --


def const(value: Any, dtype: DType) -> Value:
    """A constant of `dtype` (the Python value is normalised: bool, int, or float)."""
    if dtype.kind == "b":
        value = bool(value)
    elif dtype.kind in "iu":
        value = _wrap_int(int(value), dtype)
    else:
        value = float(value)
    return Value("const", dtype, (value,))


def _as_value(x: Any, like: Value) -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, bool | int | float):
        return const(x, like.dtype)
    raise IRError(f"cannot use {type(x).__name__} {x!r} as a kernel IR value")


def _wrap_int(value: int, dtype: DType) -> int:
    bits = 8 * dtype.itemsize
    value &= (1 << bits) - 1
    return value - (1 << bits) if dtype.kind == "i" and value >= 1 << (bits - 1) else value


def unary(op: str, x: Value) -> Value:
    """Apply unary `op`; constant operands fold."""
    if op not in UNARY_OPS:
        raise IRError(f"unknown unary op {op!r}; known: {sorted(UNARY_OPS)}")
    if op == "neg" and x.op == "neg":
        return x.args[0]
    if x.op == "const" and x.dtype.count == 1 and op in _FOLD_UNARY:
        return const(_FOLD_UNARY[op](x.value), x.dtype)
    return Value(op, x.dtype, (x,))


def binary(op: str, a: Any, b: Any) -> Value:
    """Apply binary `op` to two values of one dtype (Python numbers take the other's dtype)."""
    if op not in BINARY_OPS:
        raise IRError(f"unknown binary op {op!r}; known: {sorted(BINARY_OPS)}")
    if not isinstance(a, Value) and not isinstance(b, Value):
        raise IRError(f"{op} needs at least one kernel IR value")
    a = _as_value(a, b) if not isinstance(a, Value) else a
    b = _as_value(b, a)
    if a.dtype != b.dtype:
        raise IRError(f"{op} of {a.dtype} and {b.dtype}: cast one operand first")
    dtype = bool_.vec(a.dtype.count) if op in COMPARISONS else a.dtype
    from tinyhw.kernel.simplify import simplify_binary

    return simplify_binary(op, a, b, dtype)


def where(cond: Value, a: Any, b: Any) -> Value:
    """`a` where `cond` else `b`; a constant condition picks one side."""
    if cond.dtype.scalar != bool_:
        raise IRError(f"where needs a bool condition, got {cond.dtype}")
    a = _as_value(a, b) if not isinstance(a, Value) else a
    b = _as_value(b, a)
    if a.dtype != b.dtype:
        raise IRError(f"where of {a.dtype} and {b.dtype}: cast one side first")
    if cond.op == "const":
        return a if cond.value else b
    return a if a == b else Value("where", a.dtype, (cond, a, b))


def cast(x: Value, dtype: DType) -> Value:
    """Convert `x` to `dtype`; constants fold."""
    if x.dtype == dtype:
        return x
    if x.dtype.count != dtype.count:
        raise IRError(f"cannot cast {x.dtype} to {dtype}: a cast keeps the number of lanes")
    if x.op == "const" and x.dtype.count == 1:
        return const(x.value, dtype) if dtype.kind != "b" else const(x.value != 0, dtype)
    return Value("cast", dtype, (x,))


def load(buf: Buf, index: Value | int, mask: Value | None = None, other: Any = 0, dtype: DType | None = None) -> Value:
    """buf[index] (or `count` consecutive elements for a vector `dtype`); `other` where `mask` is false."""
    dtype = dtype or buf.dtype
    if dtype.scalar != buf.dtype:
        raise IRError(f"cannot load {dtype} from {buf.name} of {buf.dtype}")
    index = index if isinstance(index, Value) else const(index, int32)
    if mask is not None and mask.op == "const":
        if not mask.value:
            return other if isinstance(other, Value) else const(other, dtype)
        mask = None
    other_value = None if mask is None else (other if isinstance(other, Value) else const(other, dtype))
    return Value("load", dtype, (buf, index, mask, other_value))


def vectorize(*values: Value) -> Value:
    """A vector of scalar values of one dtype."""
    dtypes = {v.dtype for v in values}
    if len(dtypes) != 1 or next(iter(dtypes)).count != 1:
        raise IRError(f"vectorize needs scalars of one dtype, got {sorted(map(str, dtypes))}")
    return Value("vectorize", values[0].dtype.vec(len(values)), tuple(values))


_FOLD_UNARY = {
    "neg": lambda v: -v,
    "not": lambda v: not v if isinstance(v, bool) else ~v,
    "abs": abs,
    "sqrt": lambda v: math.sqrt(v) if v >= 0 else math.nan,
    "exp": lambda v: math.exp(min(v, 700.0)),
    "exp2": lambda v: 2.0 ** min(v, 1000.0),
    "floor": math.floor,
    "ceil": math.ceil,
    "trunc": math.trunc,
}


def _bounds(v: Value) -> tuple[float, float]:
    from tinyhw.kernel.simplify import bounds

    return bounds(v)


# -- the builder --


class KernelBuilder:
    """Builds a Kernel statement by statement; `range` and `if_` are context managers."""

    def __init__(self, name: str, local_size: tuple[int, int, int] = (1, 1, 1)) -> None:
        self.name, self.local_size = name, tuple(local_size)
        self._params: list[Buf | Value] = []
        self._locals: list[Buf] = []
        self._blocks: list[list[Stmt]] = [[]]
        self._names: set[str] = set()

    def _fresh(self, base: str) -> str:
        name, n = base, 0
        while name in self._names:
            n += 1
            name = f"{base}{n}"
        self._names.add(name)
        return name

    def buffer(self, name: str, dtype: DType) -> Buf:
        """Declare the next parameter as a global buffer of `dtype` elements."""
        buf = Buf(self._fresh(name), dtype)
        self._params.append(buf)
        return buf

    def scalar(self, name: str, dtype: DType) -> Value:
        """Declare the next parameter as a scalar of `dtype`."""
        value = Value("param", dtype, (self._fresh(name),))
        self._params.append(value)
        return value

    def local(self, name: str, dtype: DType, size: int) -> Buf:
        """A local (workgroup-shared) array of `size` elements."""
        buf = Buf(self._fresh(name), dtype, "local", size)
        self._locals.append(buf)
        return buf

    def group_id(self, axis: int) -> Value:
        """This workgroup's index along `axis` (0, 1, 2)."""
        return Value("group_id", int32, (axis,))

    def local_id(self, axis: int) -> Value:
        """This work-item's index in its workgroup along `axis`; in [0, local_size[axis])."""
        return Value("local_id", int32, (axis,))

    def store(self, buf: Buf, index: Value | int, value: Value, mask: Value | None = None) -> None:
        """buf[index] = value, only where `mask` (a constant-true mask is dropped)."""
        if value.dtype.scalar != buf.dtype:
            raise IRError(f"cannot store {value.dtype} into {buf.name} of {buf.dtype}")
        index = index if isinstance(index, Value) else const(index, int32)
        if mask is not None and mask.op == "const":
            if not mask.value:
                return
            mask = None
        self._blocks[-1].append(Store(buf, index, value, mask))

    @contextlib.contextmanager
    def range(self, end: Value | int, start: Value | int = 0, name: str = "i") -> Iterator[Value]:
        """A counted loop over [start, end); yields the loop index (int32)."""
        start_v = start if isinstance(start, Value) else const(start, int32)
        end_v = end if isinstance(end, Value) else const(end, int32)
        var = Value("loop", int32, (self._fresh(name), start_v, end_v))
        self._blocks.append([])
        yield var
        body = tuple(self._blocks.pop())
        self._blocks[-1].append(Range(var, start_v, end_v, body))

    @contextlib.contextmanager
    def if_(self, cond: Value) -> Iterator[None]:
        """Statements inside run only where `cond` is true."""
        self._blocks.append([])
        yield
        body = tuple(self._blocks.pop())
        if cond.op != "const":
            self._blocks[-1].append(If(cond, body))
        elif cond.value:
            self._blocks[-1].extend(body)

    def accumulator(self, name: str, init: Value) -> Value:
        """Define an accumulator starting at `init`; returns the value that reads it."""
        acc = Value("acc", init.dtype, (self._fresh(name),))
        self._blocks[-1].append(DefineAcc(acc, init))
        return acc

    def update(self, acc: Value, value: Value) -> None:
        """Set accumulator `acc` to `value`."""
        if acc.op != "acc" or value.dtype != acc.dtype:
            raise IRError(f"update needs an accumulator and a {acc.dtype} value, got {value.dtype}")
        self._blocks[-1].append(UpdateAcc(acc, value))

    def barrier(self) -> None:
        """Workgroup barrier."""
        self._blocks[-1].append(Barrier())

    def build(self) -> Kernel:
        """The finished kernel."""
        if len(self._blocks) != 1:
            raise IRError("build() called inside a range or if block")
        return Kernel(self.name, tuple(self._params), tuple(self._blocks[0]), self.local_size, tuple(self._locals))
