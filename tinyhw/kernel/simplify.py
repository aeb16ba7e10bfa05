"""Simplification of kernel IR arithmetic as it is built: folding, identities, known ranges.

Integer values carry bounds (min, max) derived from constants and loop ranges, so the index
arithmetic of reshapes and views — `(i * 12 + j) // 12`, `(i * 12 + j) % 12`, masks like `j < 12`
for j in [0, 12) — reduces to what a person would write.
"""

from __future__ import annotations

import functools
import math
import operator

from tinyhw.kernel.ir import Value, const

__all__ = ["bounds", "simplify_binary"]

INF = math.inf
COMMUTATIVE = frozenset({"add", "mul", "max", "min", "and", "or", "xor", "eq", "ne"})


def _c_div(a: int, b: int) -> int:
    return 0 if b == 0 else abs(a) // abs(b) * (1 if (a >= 0) == (b > 0) else -1)


def _c_mod(a: int, b: int) -> int:
    return 0 if b == 0 else a - _c_div(a, b) * b


_FOLD = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "max": max, "min": min,
    "and": operator.and_, "or": operator.or_, "xor": operator.xor, "lt": operator.lt, "le": operator.le,
    "eq": operator.eq, "ne": operator.ne, "shl": operator.lshift, "shr": operator.rshift,
}  # fmt: skip


def _fold(op: str, a: Value, b: Value, dtype) -> Value | None:
    x, y = a.value, b.value
    if op in _FOLD:
        return const(_FOLD[op](x, y), dtype)
    if a.dtype.kind in "iu":
        return const((_c_div if op == "div" else _c_mod)(x, y), dtype) if op in ("div", "mod") and y != 0 else None
    if op == "div":
        return const(x / y, dtype) if y != 0 else None
    return None


def simplify_binary(op: str, a: Value, b: Value, dtype) -> Value:
    """`a op b` simplified; the operands already share one dtype."""
    scalar = a.dtype.count == 1
    if scalar and a.op == "const" and b.op == "const" and (folded := _fold(op, a, b, dtype)) is not None:
        return folded
    if op in COMMUTATIVE and a.op == "const" and b.op != "const":
        a, b = b, a
    if scalar and a.dtype.kind == "b" and op in ("and", "or"):
        if b.op == "const":  # x & True, x | False -> x; x & False -> False; x | True -> True
            return a if b.value == (op == "and") else b
        if a == b:
            return a
    if scalar and a.dtype.kind in "iu":
        if (simpler := _simplify_int(op, a, b, dtype)) is not None:
            return simpler
    elif b.op == "const" and ((op in ("add", "sub") and b.value == 0) or (op in ("mul", "div") and b.value == 1)):
        return a
    return Value(op, dtype, (a, b))


def _simplify_int(op: str, a: Value, b: Value, dtype) -> Value | None:
    c = b.value if b.op == "const" else None
    if op in ("add", "sub") and c == 0 or op in ("mul", "div") and c == 1:
        return a
    if op == "mul" and c == 0:
        return b
    if op == "sub" and a == b:
        return const(0, dtype)
    if op == "sub" and c is not None:
        return a + (-c)
    if op == "add" and c is not None and a.op == "add" and a.args[1].op == "const":
        return a.args[0] + (a.args[1].value + c)
    if op == "mul" and c is not None and a.op == "mul" and a.args[1].op == "const":
        return a.args[0] * (a.args[1].value * c)
    if op == "mul" and c is not None and a.op == "add" and a.args[1].op == "const":
        return a.args[0] * c + a.args[1].value * c
    if c is not None and c > 0 and op in ("div", "mod"):
        return _divmod(op, a, c, dtype)
    if op in ("lt", "le", "eq", "ne"):
        return _compare(op, a, b, dtype)
    return None


def _terms(v: Value) -> list[Value]:
    return _terms(v.args[0]) + _terms(v.args[1]) if v.op == "add" else [v]


def _multiple_of(term: Value, c: int) -> bool:
    if term.op == "const":
        return term.value % c == 0
    return term.op == "mul" and term.args[1].op == "const" and term.args[1].value % c == 0


def _divmod(op: str, a: Value, c: int, dtype) -> Value | None:
    """x // c and x % c for non-negative x, using which terms are multiples of c and the rest's range."""
    low, high = bounds(a)
    if low < 0:
        return None
    if high < c:
        return const(0, dtype) if op == "div" else a
    if op == "div" and a.op == "div" and a.args[1].op == "const":
        return a.args[0] // (a.args[1].value * c)
    terms = [part for term in _terms(a) for part in _split_multiple(term, c)]
    exact = [t for t in terms if _multiple_of(t, c)]
    rest = [t for t in terms if not _multiple_of(t, c)]
    if not exact:
        return None
    rest_value = functools.reduce(operator.add, rest) if rest else const(0, dtype)
    if bounds(rest_value)[0] < 0:
        return None
    if op == "mod":
        return rest_value % c
    return functools.reduce(operator.add, [_divide_exact(t, c) for t in exact]) + rest_value // c


def _split_multiple(term: Value, c: int) -> list[Value]:
    """`term` as [a multiple of c, the remainder] when its constant factor is c or more: x*35 -> x*34, x."""
    if term.op == "const" and term.value >= c:
        q, m = divmod(term.value, c)
        return [const(q * c, term.dtype)] + ([const(m, term.dtype)] if m else [])
    if term.op == "mul" and term.args[1].op == "const" and term.args[1].value > c:
        q, m = divmod(term.args[1].value, c)
        return [term.args[0] * (q * c)] + ([term.args[0] * m] if m else [])
    return [term]


def _divide_exact(term: Value, c: int) -> Value:
    if term.op == "const":
        return const(term.value // c, term.dtype)
    return term.args[0] * (term.args[1].value // c)


def _compare(op: str, a: Value, b: Value, dtype) -> Value | None:
    (alo, ahi), (blo, bhi) = bounds(a), bounds(b)
    decided = {
        "lt": (ahi < blo, alo >= bhi),
        "le": (ahi <= blo, alo > bhi),
        "eq": (alo == ahi == blo == bhi, ahi < blo or alo > bhi),
        "ne": (ahi < blo or alo > bhi, alo == ahi == blo == bhi),
    }[op]
    if decided[0]:
        return const(True, dtype)
    if decided[1]:
        return const(False, dtype)
    return None


@functools.lru_cache(maxsize=65536)
def bounds(v: Value) -> tuple[float, float]:
    """(min, max) an integer value can take; (-inf, inf) where unknown."""
    if v.dtype.kind == "b":
        return (0, 1)
    if v.dtype.kind not in "iu" or v.dtype.count != 1:
        return (-INF, INF)
    rule = _BOUNDS.get(v.op)
    return rule(v) if rule is not None else (0 if v.dtype.kind == "u" else -INF, INF)


def _mul_bounds(v: Value) -> tuple[float, float]:
    (alo, ahi), (blo, bhi) = bounds(v.args[0]), bounds(v.args[1])
    products = [x * y for x in (alo, ahi) for y in (blo, bhi) if not (math.isinf(x) or math.isinf(y))]
    if len(products) < 4:
        return (-INF, INF) if min(alo, blo) < 0 else (0 if alo >= 0 and blo >= 0 else -INF, INF)
    return (min(products), max(products))


def _div_bounds(v: Value) -> tuple[float, float]:
    (alo, ahi), (blo, _) = bounds(v.args[0]), bounds(v.args[1])
    if v.args[1].op != "const" or blo <= 0 or alo < 0:
        return (-INF, INF)
    return (alo // blo, ahi // blo if not math.isinf(ahi) else INF)


def _mod_bounds(v: Value) -> tuple[float, float]:
    (alo, ahi), (blo, bhi) = bounds(v.args[0]), bounds(v.args[1])
    if alo < 0 or blo <= 0:
        return (-INF, INF)
    return (0, min(ahi, bhi - 1))


def _union(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return (min(a[0], b[0]), max(a[1], b[1]))


_BOUNDS = {
    "const": lambda v: (v.value, v.value),
    "loop": lambda v: (bounds(v.args[1])[0], bounds(v.args[2])[1] - 1),
    "group_id": lambda v: (0, INF),
    "local_id": lambda v: (0, INF),
    "add": lambda v: tuple(x + y for x, y in zip(bounds(v.args[0]), bounds(v.args[1]))),
    "sub": lambda v: (bounds(v.args[0])[0] - bounds(v.args[1])[1], bounds(v.args[0])[1] - bounds(v.args[1])[0]),
    "mul": _mul_bounds,
    "div": _div_bounds,
    "mod": _mod_bounds,
    "max": lambda v: tuple(max(x, y) for x, y in zip(bounds(v.args[0]), bounds(v.args[1]))),
    "min": lambda v: tuple(min(x, y) for x, y in zip(bounds(v.args[0]), bounds(v.args[1]))),
    "where": lambda v: _union(bounds(v.args[1]), bounds(v.args[2])),
    "cast": lambda v: bounds(v.args[0]) if v.args[0].dtype.kind in "iub" else (-INF, INF),
}
