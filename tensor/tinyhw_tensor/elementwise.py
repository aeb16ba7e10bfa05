"""Elementwise operations: arithmetic with broadcasting and promotion, comparisons, math functions.

Every operation maps onto the kernel IR's elementwise ops (`graph.elementwise`), directly or
as a short composition — integer floor division and modulo (Python/numpy semantics for negative
operands; division by zero gives 0, as numpy does, instead of trapping), float floor division
and modulo (numpy's rounding), sigmoid, gelu, silu. Compositions fuse into one kernel like any
other chain.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tinyhw_tensor import dtypes as dt
from tinyhw_tensor import graph, runtime
from tinyhw_tensor.graph import Node
from tinyhw_tensor.shapes import broadcast_shapes

if TYPE_CHECKING:
    from tinyhw_tensor.tensor import Tensor

__all__ = ["ElementwiseOps", "expand_to", "where"]


def expand_to(node: Node, shape: tuple[int, ...]) -> Node:
    """`node` broadcast to `shape` (a view; no copy)."""
    if node.shape == shape:
        return node
    if node.op == "const":
        return graph.const(node.arg, node.dtype, shape, node.device)
    lifted = graph.movement(node, "reshape", (1,) * (len(shape) - len(node.shape)) + node.shape)
    return graph.movement(lifted, "expand", shape)


def _cast(node: Node, dtype: dt.DType) -> Node:
    return graph.elementwise("cast", node, dtype=dtype)


def _e(op: str, *src: Node) -> Node:
    runtime.check_math(src[0].device, op, src[0].dtype)  # float64 exp on a device without float64 math
    return graph.elementwise(op, *src)


def _c(value: Any, like: Node) -> Node:
    return graph.const(value, like.dtype, like.shape, like.device)


# -- compositions on nodes of one dtype and shape --


def _int_safe_divisor(a: Node, b: Node) -> tuple[Node, Node, Node]:
    """(divisor with 0 and -1 replaced by 1, b == 0, b == -1 or None) — avoids the CPU's division traps."""
    zero = _e("eq", b, _c(0, b))
    minus_one = _e("eq", b, _c(-1, b)) if b.dtype.kind == "i" else None
    bad = zero if minus_one is None else _e("or", zero, minus_one)
    return _e("where", bad, _c(1, b), b), zero, minus_one


def _floor_fix(r: Node, b: Node) -> Node:
    """True where a truncated remainder `r` of divisor `b` needs flooring (nonzero, signs differ)."""
    return _e("and", _e("ne", r, _c(0, r)), _e("ne", _e("lt", r, _c(0, r)), _e("lt", b, _c(0, b))))


def int_floordiv(a: Node, b: Node) -> Node:
    """a // b for integers, rounding toward negative infinity; x // 0 is 0."""
    safe, zero, minus_one = _int_safe_divisor(a, b)
    q = _e("div", a, safe)
    if a.dtype.kind == "i":
        q = _e("where", _floor_fix(_e("mod", a, safe), safe), _e("sub", q, _c(1, q)), q)
        q = _e("where", minus_one, _e("neg", a), q)
    return _e("where", zero, _c(0, q), q)


def int_mod(a: Node, b: Node) -> Node:
    """a % b for integers with the divisor's sign; x % 0 is 0."""
    safe, zero, minus_one = _int_safe_divisor(a, b)
    r = _e("mod", a, safe)
    if a.dtype.kind == "i":
        r = _e("where", _floor_fix(r, safe), _e("add", r, safe), r)
    return _e("where", zero, _c(0, r), r)


def float_mod(a: Node, b: Node) -> Node:
    """a % b for floats with the divisor's sign (numpy's npy_divmod)."""
    r = _e("mod", a, b)
    return _e("where", _floor_fix(r, b), _e("add", r, b), r)


def float_floordiv(a: Node, b: Node) -> Node:
    """a // b for floats, as numpy rounds it; x // 0 is x / 0."""
    r = _e("mod", a, b)
    div = _e("div", _e("sub", a, r), b)
    div = _e("where", _floor_fix(r, b), _e("sub", div, _c(1, div)), div)
    floor = _e("floor", div)
    floor = _e("where", _e("lt", _c(0.5, div), _e("sub", div, floor)), _e("add", floor, _c(1, floor)), floor)
    return _e("where", _e("eq", b, _c(0, b)), _e("div", a, b), floor)


def _pow(a: Node, b: Node) -> Node:
    if a.dtype.kind == "f":
        return _e("pow", a, b)
    if a.dtype.kind in "iu":
        return _int_pow(a, b)
    return _cast(_e("pow", _cast(a, dt.float32), _cast(b, dt.float32)), a.dtype)


def _int_pow(a: Node, b: Node) -> Node:
    """a ** b for integers, exact in a's wrapping arithmetic as numpy computes it: repeated squaring
    over the exponent's bits. A negative exponent gives 0, or +-1 for a base of +-1 (numpy refuses it)."""
    bits = 8 * b.dtype.itemsize - (b.dtype.kind == "i")
    result, square = _c(1, a), a
    for i in range(bits):
        bit = _e("ne", _e("and", _e("shr", b, _c(i, b)), _c(1, b)), _c(0, b))
        result = _e("where", bit, _e("mul", result, square), result)
        if i + 1 < bits:
            square = _e("mul", square, square)
    if b.dtype.kind == "u":
        return result
    odd = _e("ne", _e("and", b, _c(1, b)), _c(0, b))
    minus_one = _e("where", odd, _c(-1, a), _c(1, a))
    fraction = _e("where", _e("eq", a, _c(1, a)), _c(1, a), _e("where", _e("eq", a, _c(-1, a)), minus_one, _c(0, a)))
    return _e("where", _e("lt", b, _c(0, b)), fraction, result)


def _truediv(a: Node, b: Node) -> Node:
    return _e("div", a, b)


def _bitwise(op: str):
    def apply(a: Node, b: Node) -> Node:
        if a.dtype.kind not in "biu":
            raise TypeError(f"{op} needs integer or bool tensors, got {a.dtype}")
        return _e(op, a, b)

    return apply


class ElementwiseOps:
    """Elementwise methods of Tensor (mixin; see the module docstring)."""

    __slots__ = ()
    node: Node

    # -- operands --

    def _operands(self, other: Any, reverse: bool, floating: bool = False) -> tuple[Node, Node]:
        """(a, b) nodes of one dtype and shape for `self op other` (swapped when `reverse`)."""
        a = self.node
        if isinstance(other, ElementwiseOps):
            b = other.node
            if b.device is not a.device:
                raise ValueError(f"operands are on different devices: {a.device.name} and {b.device.name}")
            dtype = dt.promote(a.dtype, b.dtype)
            shape = broadcast_shapes(a.shape, b.shape) if a.shape != b.shape else a.shape
            a, b = expand_to(a, shape), expand_to(b, shape)
        else:
            dtype = dt.result_type(a.dtype, other)
            b = None
        dtype = dt.float_of(dtype) if floating else dtype
        a = _cast(a, dtype)
        b = _cast(b, dtype) if b is not None else graph.const(other, dtype, a.shape, a.device)
        return (b, a) if reverse else (a, b)

    def _binary(self, other: Any, fn: Any, reverse: bool = False, floating: bool = False) -> Tensor:
        return self._wrap(fn(*self._operands(other, reverse, floating)))

    def _unary(self, op: str, floating: bool = True) -> Tensor:
        node = _cast(self.node, dt.float_of(self.dtype)) if floating else self.node
        return self._wrap(_e(op, node))

    # -- arithmetic --

    def add(self, other: Any) -> Tensor:
        """self + other, broadcasting."""
        return self._binary(other, lambda a, b: _e("add", a, b))

    def sub(self, other: Any) -> Tensor:
        """self - other, broadcasting."""
        return self._binary(other, lambda a, b: _e("sub", a, b))

    def mul(self, other: Any) -> Tensor:
        """self * other, broadcasting."""
        return self._binary(other, lambda a, b: _e("mul", a, b))

    def div(self, other: Any) -> Tensor:
        """True division self / other (integers give float32)."""
        return self._binary(other, _truediv, floating=True)

    def floordiv(self, other: Any) -> Tensor:
        """self // other, rounding toward negative infinity (integer division by zero gives 0)."""
        return self._binary(other, lambda a, b: (float_floordiv if a.dtype.kind == "f" else int_floordiv)(a, b))

    def mod(self, other: Any) -> Tensor:
        """self % other with the sign of `other`, like Python and numpy (integer x % 0 gives 0)."""
        return self._binary(other, lambda a, b: (float_mod if a.dtype.kind == "f" else int_mod)(a, b))

    def pow(self, exponent: Any) -> Tensor:
        """self ** exponent. Integer powers are exact (wrapping like numpy's); a negative Python int
        exponent of an integer tensor raises ValueError, as in numpy."""
        if type(exponent) in (int, float) and exponent == 2:
            return self * self
        if type(exponent) is int and self.dtype.kind in "iu":
            if exponent < 0:
                raise ValueError(f"integers to negative integer powers are not allowed ({self.dtype} ** {exponent})")
            return self._int_power(exponent)
        return self._binary(exponent, _pow)

    def _int_power(self, exponent: int) -> Tensor:
        """self ** exponent for a non-negative Python int: multiplications by repeated squaring."""
        result, square = None, self
        while exponent:
            if exponent & 1:
                result = square if result is None else result * square
            exponent >>= 1
            if exponent:
                square = square * square
        return result if result is not None else self * 0 + 1

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum, broadcasting."""
        return self._binary(other, lambda a, b: _e("max", a, b))

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum, broadcasting."""
        return self._binary(other, lambda a, b: _e("min", a, b))

    def neg(self) -> Tensor:
        """-self."""
        return self._wrap(_e("neg", self.node)) if self.dtype.kind != "b" else self.logical_not()

    def abs(self) -> Tensor:
        """|self|."""
        return self._wrap(_e("abs", self.node)) if self.dtype.kind in "if" else self

    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of each element (in self's dtype)."""
        return (self > 0).cast(self.dtype) - (self < 0).cast(self.dtype)

    def square(self) -> Tensor:
        """self * self."""
        return self * self

    def clip(self, min: Any = None, max: Any = None) -> Tensor:
        """Values limited to [min, max] (either may be None)."""
        out = self if min is None else self.maximum(min)
        return out if max is None else out.minimum(max)

    def where(self, condition: Any, other: Any) -> Tensor:
        """self where `condition` is true, else `other` (PyTorch's Tensor.where)."""
        return where(condition, self, other)

    # -- comparisons (bool results) and logic --

    def __lt__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("lt", a, b))

    def __le__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("le", a, b))

    def __gt__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("lt", a, b), reverse=True)

    def __ge__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("le", a, b), reverse=True)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._binary(other, lambda a, b: _e("eq", a, b))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._binary(other, lambda a, b: _e("ne", a, b))

    def logical_not(self) -> Tensor:
        """not self, as bool."""
        return self == 0 if self.dtype.kind != "b" else self._unary("not", False)

    def __and__(self, other: Any) -> Tensor:
        return self._binary(other, _bitwise("and"))

    def __or__(self, other: Any) -> Tensor:
        return self._binary(other, _bitwise("or"))

    def __xor__(self, other: Any) -> Tensor:
        return self._binary(other, _bitwise("xor"))

    def __invert__(self) -> Tensor:
        return self._unary("not", False)

    def __lshift__(self, other: Any) -> Tensor:
        return self._binary(other, _bitwise("shl"))

    def __rshift__(self, other: Any) -> Tensor:
        return self._binary(other, _bitwise("shr"))

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def isnan(self) -> Tensor:
        """True where the value is NaN."""
        return self != self

    def isinf(self) -> Tensor:
        """True where the value is +-inf."""
        return self.abs() == math.inf if self.dtype.kind == "f" else self != self

    # -- math (integer inputs compute in float32) --

    def exp(self) -> Tensor:
        """e ** self."""
        return self._unary("exp")

    def exp2(self) -> Tensor:
        """2 ** self."""
        return self._unary("exp2")

    def log(self) -> Tensor:
        """Natural logarithm."""
        return self._unary("log")

    def log2(self) -> Tensor:
        """Base-2 logarithm."""
        return self._unary("log2")

    def sqrt(self) -> Tensor:
        """Square root."""
        return self._unary("sqrt")

    def rsqrt(self) -> Tensor:
        """1 / sqrt(self)."""
        return self._unary("rsqrt")

    def reciprocal(self) -> Tensor:
        """1 / self."""
        return self._unary("recip")

    def sin(self) -> Tensor:
        """Sine."""
        return self._unary("sin")

    def cos(self) -> Tensor:
        """Cosine."""
        return self._unary("cos")

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        return self._unary("tanh")

    def erf(self) -> Tensor:
        """The error function."""
        return self._unary("erf")

    def floor(self) -> Tensor:
        """Largest integer <= self (integers unchanged)."""
        return self._unary("floor") if self.dtype.kind == "f" else self

    def ceil(self) -> Tensor:
        """Smallest integer >= self (integers unchanged)."""
        return self._unary("ceil") if self.dtype.kind == "f" else self

    def trunc(self) -> Tensor:
        """self rounded toward zero (integers unchanged)."""
        return self._unary("trunc") if self.dtype.kind == "f" else self

    # -- activations --

    def relu(self) -> Tensor:
        """max(self, 0)."""
        return self.maximum(0)

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-self))."""
        x = self if self.dtype.kind == "f" else self.cast(dt.DEFAULT_FLOAT)
        return (1 + (-x).exp()).reciprocal()

    def silu(self) -> Tensor:
        """self * sigmoid(self)."""
        return self * self.sigmoid()

    def gelu(self, approximate: str = "none") -> Tensor:
        """GELU: exact with erf (`approximate="none"`), or PyTorch's `approximate="tanh"` form."""
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu approximate must be 'none' or 'tanh', got {approximate!r}")
        if approximate == "tanh":
            return 0.5 * self * (1 + (math.sqrt(2 / math.pi) * (self + 0.044715 * self * self * self)).tanh())
        return 0.5 * self * (1 + (self * (1 / math.sqrt(2))).erf())

    def softplus(self) -> Tensor:
        """log(1 + exp(self)), computed stably."""
        return self.maximum(0) + (-self.abs()).exp().add(1).log()

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """self where positive, else self * negative_slope."""
        return self.where(self > 0, self * negative_slope)

    # -- Python operators --

    __add__, __sub__, __mul__, __truediv__, __floordiv__, __mod__, __pow__ = add, sub, mul, div, floordiv, mod, pow
    __neg__, __abs__ = neg, abs

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("add", a, b), reverse=True)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("sub", a, b), reverse=True)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: _e("mul", a, b), reverse=True)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._binary(other, _truediv, reverse=True, floating=True)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: (float_floordiv if a.dtype.kind == "f" else int_floordiv)(a, b), True)

    def __rmod__(self, other: Any) -> Tensor:
        return self._binary(other, lambda a, b: (float_mod if a.dtype.kind == "f" else int_mod)(a, b), True)

    def __rpow__(self, other: Any) -> Tensor:
        return self._binary(other, _pow, reverse=True)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """x where `condition` is true, else y; broadcasting, with x and y promoted like `x + y`."""
    from tinyhw_tensor.tensor import Tensor

    tensors = [v for v in (condition, x, y) if isinstance(v, Tensor)]
    if not tensors:
        raise TypeError("where needs at least one tensor argument")
    device = tensors[0].device
    cond = condition if isinstance(condition, Tensor) else Tensor(bool(condition), device=device)
    cond = cond if cond.dtype.kind == "b" else cond != 0
    if isinstance(x, Tensor):
        a, b = x._operands(y, reverse=False)
    elif isinstance(y, Tensor):
        b, a = y._operands(x, reverse=False)
    else:
        a, b = Tensor(x, device=device)._operands(y, reverse=False)
    shape = broadcast_shapes(cond.shape, a.shape)
    return Tensor._wrap(_e("where", expand_to(cond.node, shape), expand_to(a, shape), expand_to(b, shape)))
