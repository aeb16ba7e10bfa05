"""C integer constant expressions: tokenize, parse, evaluate with C's types, render as Python.

The evaluator follows C on LP64 (x86-64, aarch64): `int` is 32 bits, `long` 64; literals take the
first type that fits; arithmetic applies the usual conversions and wraps unsigned results; `/` and
`%` truncate toward zero. `sizeof` and casts ask a `Types` object (backed by cffi) for sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CInt", "ExprError", "Types", "tokenize", "parse", "evaluate", "bit_pattern", "to_python"]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*)|(?P<char>'(?:\\.|[^'\\])')|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op><<|>>|<=|>=|==|!=|&&|\|\||##|[-+*/%&|^~!<>?:(),#]))"
)
_ESCAPES = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34}
_BINARY = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}  # fmt: skip
_TYPE_WORDS = {"unsigned", "signed", "int", "long", "short", "char", "_Bool", "struct", "union", "enum", "const"}


class ExprError(ValueError):
    """The text is not an integer constant expression this evaluator understands."""


class Types(Protocol):
    """What evaluation needs to know about C types: the names that are types, sizes, signedness."""

    def is_type(self, name: str) -> bool: ...

    def sizeof(self, ctype: str) -> int: ...

    def is_signed(self, ctype: str) -> bool: ...


@dataclass(frozen=True)
class CInt:
    """An integer value with its C type's width in bits and signedness."""

    value: int
    bits: int = 32
    signed: bool = True

    def wrapped(self) -> CInt:
        """The value reduced to the type's range, as C's conversions do."""
        v = self.value & ((1 << self.bits) - 1)
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        return CInt(v, self.bits, self.signed)


def tokenize(text: str) -> list[str]:
    """Split C expression text into tokens; raises ExprError on characters C expressions do not use."""
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"unexpected {text[pos : pos + 10]!r} in {text!r}")
        tokens.append(m.group(m.lastgroup))
        pos = m.end()
    return tokens


def _literal(token: str) -> CInt:
    if token.startswith("'"):
        body = token[1:-1]
        return CInt(_ESCAPES[body[1]] if body.startswith("\\") else ord(body))
    digits = token.rstrip("uUlL")
    suffix = token[len(digits) :].lower()
    base = 16 if digits[:2] in ("0x", "0X") else 8 if len(digits) > 1 and digits[0] == "0" else 10
    value, decimal = int(digits, base), base == 10
    candidates = [(32, True), (32, False), (64, True), (64, False)]
    if "l" in suffix:
        candidates = candidates[2:]
    if "u" in suffix:
        candidates = [c for c in candidates if not c[1]]
    elif decimal:
        candidates = [c for c in candidates if c[1]]
    for bits, signed in candidates:
        if value < 1 << (bits - 1 if signed else bits):
            return CInt(value, bits, signed)
    raise ExprError(f"literal {token} does not fit 64 bits")


class _Parser:
    """Precedence-climbing parser; nodes are tuples ('num', CInt) | ('name', str) | ('call', name, args) | ..."""

    def __init__(self, tokens: list[str], types: Types | None):
        self.tokens, self.pos, self.types = tokens, 0, types

    def peek(self, ahead: int = 0) -> str | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ExprError(f"expected {expected or 'more'} at token {self.pos} of {' '.join(self.tokens)!r}")
        self.pos += 1
        return token

    def is_type_start(self, token: str | None) -> bool:
        if token is None:
            return False
        return token in _TYPE_WORDS or (self.types is not None and self.types.is_type(token))

    def type_name(self) -> str:
        words = []
        while self.peek() not in (")", None):
            words.append(self.take())
        if "*" in words:
            raise ExprError(f"pointer type {' '.join(words)!r} in a constant expression")
        return " ".join(w for w in words if w != "const")

    def expression(self, min_prec: int = 0) -> tuple:
        left = self.unary()
        while True:
            op = self.peek()
            if op == "?" and min_prec == 0:
                self.take()
                then = self.expression()
                self.take(":")
                left = ("cond", left, then, self.expression())
            elif op in _BINARY and _BINARY[op] > min_prec:
                self.take()
                left = ("bin", op, left, self.expression(_BINARY[op]))
            else:
                return left

    def unary(self) -> tuple:
        token = self.take()
        if token in ("-", "+", "~", "!"):
            return ("unary", token, self.unary())
        if token == "sizeof":
            self.take("(")
            name = self.type_name()
            self.take(")")
            return ("sizeof", name)
        if token == "(":
            if self.is_type_start(self.peek()):
                name = self.type_name()
                self.take(")")
                return ("cast", name, self.unary())
            inner = self.expression()
            self.take(")")
            return inner
        if token[0].isdigit() or token[0] == "'":
            return ("num", _literal(token))
        if token[0].isalpha() or token[0] == "_":
            if self.peek() == "(":
                return self.call(token)
            return ("name", token)
        raise ExprError(f"unexpected {token!r} in {' '.join(self.tokens)!r}")

    def call(self, name: str) -> tuple:
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.expression())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return ("call", name, tuple(args))


def parse(tokens: list[str], types: Types | None = None) -> tuple:
    """Parse a whole token list as one expression."""
    if not tokens:
        raise ExprError("empty expression")
    parser = _Parser(tokens, types)
    node = parser.expression()
    if parser.pos != len(tokens):
        raise ExprError(f"trailing {' '.join(tokens[parser.pos :])!r} in {' '.join(tokens)!r}")
    return node


def _common(a: CInt, b: CInt) -> tuple[int, bool]:
    """The usual arithmetic conversions on LP64: promote to int, then the wider type wins."""
    a_bits, b_bits = max(a.bits, 32), max(b.bits, 32)
    a_signed, b_signed = a.signed or a.bits < 32, b.signed or b.bits < 32
    if a_bits != b_bits:
        return (a_bits, a_signed) if a_bits > b_bits else (b_bits, b_signed)
    return a_bits, a_signed and b_signed


def _ctype(types: Types | None, name: str) -> tuple[int, bool]:
    if types is None:
        raise ExprError(f"type {name!r} needs type information")
    return types.sizeof(name) * 8, types.is_signed(name)


def evaluate(node: tuple, types: Types | None = None, names: dict[str, CInt] | None = None) -> CInt:
    """Evaluate a parsed expression; identifiers resolve through `names` (e.g. enum constants)."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "name":
        if names is None or node[1] not in names:
            raise ExprError(f"unknown identifier {node[1]!r}")
        return names[node[1]]
    if kind == "sizeof":
        if types is None:
            raise ExprError(f"sizeof({node[1]}) needs type information")
        return CInt(types.sizeof(node[1]), 64, False)
    if kind == "cast":
        bits, signed = _ctype(types, node[1])
        return CInt(evaluate(node[2], types, names).value, bits, signed).wrapped()
    if kind == "unary":
        return _unary(node[1], evaluate(node[2], types, names))
    if kind == "cond":
        chosen = node[2] if evaluate(node[1], types, names).value else node[3]
        other = evaluate(node[3] if chosen is node[2] else node[2], types, names)
        result = evaluate(chosen, types, names)
        return CInt(result.value, *_common(result, other)).wrapped()
    if kind == "bin":
        return _binary(node[1], evaluate(node[2], types, names), evaluate(node[3], types, names))
    raise ExprError(f"call of {node[1]!r} is not a constant")


def _unary(op: str, x: CInt) -> CInt:
    bits, signed = max(x.bits, 32), x.signed or x.bits < 32
    if op == "!":
        return CInt(int(not x.value))
    value = {"-": -x.value, "+": x.value, "~": ~x.value}[op]
    return CInt(value, bits, signed).wrapped()


def _binary(op: str, a: CInt, b: CInt) -> CInt:
    if op in ("&&", "||"):
        return CInt(int(bool(a.value) and bool(b.value)) if op == "&&" else int(bool(a.value) or bool(b.value)))
    if op in ("<<", ">>"):
        bits, signed = max(a.bits, 32), a.signed or a.bits < 32
        if not 0 <= b.value < bits:
            raise ExprError(f"shift by {b.value} of a {bits}-bit value")
        return CInt(a.value << b.value if op == "<<" else a.value >> b.value, bits, signed).wrapped()
    bits, signed = _common(a, b)
    x, y = CInt(a.value, bits, signed).wrapped().value, CInt(b.value, bits, signed).wrapped().value
    if op in ("/", "%"):
        if y == 0:
            raise ExprError("division by zero")
        quotient = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
        return CInt(quotient if op == "/" else x - quotient * y, bits, signed).wrapped()
    compare = {"==": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}
    if op in compare:
        return CInt(int(compare[op]))
    value = {"+": x + y, "-": x - y, "*": x * y, "&": x & y, "|": x | y, "^": x ^ y}[op]
    return CInt(value, bits, signed).wrapped()


def bit_pattern(node: tuple, result: CInt) -> int:
    """The value to publish for an evaluated expression: C's value, except that a left shift into
    a signed int's sign bit (`(1 << 31)`, `(6 << 29)`: bit masks in register and packet headers)
    gives the bit pattern it was written for rather than a negative number."""
    if result.value < 0 and node[0] == "bin" and node[1] == "<<":
        return result.value & ((1 << result.bits) - 1)
    return result.value


_PY_OPS = {"|", "^", "&", "<<", ">>", "+", "-", "*"}


def to_python(node: tuple, params: tuple[str, ...], types: Types | None = None) -> str:
    """Render an expression over `params` as Python; parameter-free parts are folded to numbers.

    Only operators whose Python meaning equals C's on non-negative operands are accepted (bit
    operations, shifts, + - *, conditionals); unsigned casts become masks. Raises ExprError otherwise.
    The result is the C result's bit pattern: a shift into an int's sign bit stays non-negative.
    """
    if not _uses(node, params):
        value = bit_pattern(node, evaluate(node, types))
        return hex(value) if value > 64 else str(value)  # masks in hex, shift counts in decimal
    kind = node[0]
    if kind == "name":
        return node[1]
    if kind == "unary" and node[1] in ("~", "-", "+"):
        return f"{node[1]}{to_python(node[2], params, types)}"
    if kind == "bin" and node[1] in _PY_OPS:
        return f"({to_python(node[2], params, types)} {node[1]} {to_python(node[3], params, types)})"
    if kind == "cond":
        cond, then, other = (to_python(n, params, types) for n in node[1:])
        return f"({then} if {cond} else {other})"
    if kind == "cast":
        bits, signed = _ctype(types, node[1])
        if not signed:
            return f"({to_python(node[2], params, types)} & {hex((1 << bits) - 1)})"
    raise ExprError(f"{kind} {node[1]!r} has no plain Python equivalent")


def _uses(node: tuple, params: tuple[str, ...]) -> bool:
    if node[0] == "name":
        return node[1] in params
    if node[0] == "call":
        return True  # never constant: to_python then names the call in its error
    return any(isinstance(part, tuple) and _uses(part, params) for part in node[1:])
