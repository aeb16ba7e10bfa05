"""The C constant-expression evaluator follows C's integer rules on LP64; functions render as Python."""

from __future__ import annotations

import pytest

from autogen.cexpr import ExprError, bit_pattern, evaluate, parse, to_python, tokenize
from autogen.macros import MacroTable, parse_define


def value(text: str) -> int:
    return evaluate(parse(tokenize(text))).value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 << 31", -(1 << 31)),  # int overflow into the sign bit, as gcc computes it
        ("1U << 31", 1 << 31),
        ("~0U", 0xFFFFFFFF),
        ("~0ULL", (1 << 64) - 1),
        ("0xFFFFFFFF", 0xFFFFFFFF),  # hex literals become unsigned int when they do not fit int
        ("-1 < 0U", 0),  # -1 converts to unsigned int
        ("-1L < 0U", 1),  # ...but unsigned int converts to the wider long
        ("-7 / 2", -3),  # truncation toward zero
        ("-7 % 2", -1),
        ("(3 > 2) ? 10 : 20", 10),
        ("'K'", 75),
        ("0x3ffc0000L", 0x3FFC0000),
    ],
)
def test_evaluation_follows_c(text, expected):
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "published"), [("(6 << 29)", 0xC0000000), ("(1 << 31)", 0x80000000), ("-22", -22), ("~0", -1)]
)
def test_shifts_into_the_sign_bit_publish_their_bit_pattern(text, published):
    node = parse(tokenize(text))
    assert bit_pattern(node, evaluate(node)) == published


def test_function_like_macros_expand_with_their_arguments():
    table = MacroTable()
    for line in ["#define SHIFT 8", "#define FIELD(x) (((x) & 0xff) << SHIFT)", "#define BOTH(a, b) (FIELD(a) | (b))"]:
        table.define(parse_define(line, "h.h"))
    assert evaluate(parse(table.expand(tokenize("BOTH(0x1ff, 1)")))).value == 0xFF01


def test_functions_render_as_python_with_constants_folded():
    code = to_python(parse(tokenize("((3 << 30) | (((op) & 0xFF) << 8))")), ("op",))
    assert code == "(0xc0000000 | ((op & 0xff) << 8))"
    assert eval(f"lambda op: {code}")(0x1AB) == 0xC000AB00


@pytest.mark.parametrize("text", ["(x) / 2", "(x) > 2", "(int)(x)"])
def test_functions_python_cannot_say_are_refused(text):
    with pytest.raises(ExprError):
        to_python(parse(tokenize(text)), ("x",))


@pytest.mark.parametrize("text", ['"string"', "1 +", "x", "1 << 64", "1 / 0"])
def test_non_constants_raise_expr_error(text):
    with pytest.raises(ExprError):
        value(text)
