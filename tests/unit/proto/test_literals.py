"""The literal grammar of model-written data (`azr_proto.literals`) and the two equality rules."""

from __future__ import annotations

import keyword
import math

import pytest
from azr_proto.literals import (
    MAX_DEPTH,
    LiteralError,
    parse_arguments,
    parse_literal,
    same_value,
    typed_equal,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_atoms = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=8),
    st.binary(max_size=8),
)
_hashables = st.recursive(
    _atoms, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6
)
_values = st.recursive(
    _atoms | _hashables,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_hashables, inner, max_size=3)
        | st.sets(_hashables, max_size=3)
    ),
    max_leaves=15,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_the_repr_of_any_literal_value_reads_back_equal(value):
    assert parse_literal(repr(value)) == value


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_values, max_size=3),
    st.dictionaries(
        st.from_regex(r"[a-z]{1,5}", fullmatch=True).filter(lambda k: not keyword.iskeyword(k)),
        _values,
        max_size=2,
    ),
)
def test_argument_lists_read_back(args, kwargs):
    text = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    assert parse_arguments(text) == (tuple(args), kwargs)


# Hostile text: code of every kind, generated from fragments, must be refused with the module's
# own error and nothing else (no RecursionError, MemoryError, TypeError...).
_fragments = st.sampled_from(
    [
        "lambda x: x",
        "f",
        "x.y",
        "f()",
        "__import__('os')",
        "[i for i in x]",
        "a[0]",
        "...",
        "(yield)",
        "x := 1",
        "not 1",
        "1 if 2 else 3",
        "1 * 2",
        "2 ** 3",
        "'a' % 1",
        "{**a}",
        "*a",
        "f'{x}'",
        "1 < 2",
        "await x",
        "range(3)",
        "set(1)",
        "dict(1)",
        "float(1)",
        "complex('1')",
        "{[1]: 2}",
        "{[]}",
        "-'a'",
        "'a' + 1",
        "b'a' + 'a'",
        "1 + 2",
        "1j + 2",
        "-True",
        "\x00",
        "\ud800",
        ")",
        "(",
        "1)(2",
        "1)\nTrue or f(1",
    ]
)
_hostile = st.recursive(
    _fragments,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
        st.tuples(inner, inner).map(lambda t: f"{{{t[0]}: {t[1]}}}"),
        inner.map(lambda t: f"({t},)"),
        inner.map(lambda t: f"set([{t}])"),
        inner.map(lambda t: f"dict(k={t})"),
        inner.map(lambda t: f"-{t}"),
    ),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_hostile)
def test_code_is_refused_with_the_modules_own_error(text):
    with pytest.raises(LiteralError):
        parse_literal(text)
    with pytest.raises(LiteralError):
        parse_arguments(text + ", 1")


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2),
        "(" * 300 + "1" + ")" * 300,
        "-" * 100_000 + "1",
        "+".join(["'a'"] * 200_000),
        "9" * 5000,
        "x" + ".y" * 100_000,
        "lambda: " * 5000 + "1",
        "[" * 100_000,
        "'" + "a" * 3_000_000 + "'",
    ],
)
def test_deep_or_huge_text_is_refused_without_any_other_error(text):
    with pytest.raises(LiteralError):
        parse_literal(text)


def test_what_benchmark_data_needs_is_accepted():
    assert parse_literal("set()") == set() and parse_literal("frozenset({1, 2})") == {1, 2}
    assert parse_literal("dict(e=1, d=2)") == {"e": 1, "d": 2} and parse_literal("dict()") == {}
    assert parse_literal("dict([(1, 2)])") == {1: 2}
    assert parse_literal("'st ' + '0\\t'") == "st 0\t"  # CRUXEval sample_239
    assert parse_literal("-5") == -5 and parse_literal("-1.5-2j") == complex(-1.5, -2)
    assert parse_literal("float('-inf')") == -math.inf and math.isnan(parse_literal("float('nan')"))
    assert parse_literal("complex(float('inf'), 1)") == complex(math.inf, 1)
    assert parse_literal("0x" + "f" * 4000) == int("f" * 4000, 16)  # huge ints, written in hex
    assert parse_arguments("'l000*',") == (("l000*",), {})  # CRUXEval sample_452
    assert parse_arguments("") == ((), {})


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[6, 4], (lambda x: x.reverse())", "lambda"),
        ("thigh_o_two[:], 3", "Subscript"),
        ("range(100, 120)", "range"),
        ("'abc'.split('-'), 'n'", "method call"),
        ("type('A', (), {})()", "call"),
    ],
)
def test_code_in_an_argument_list_is_named_in_the_error(text, why):
    with pytest.raises(LiteralError, match=why):
        parse_arguments(text)


def test_the_two_equality_rules():
    # AZR: Python ==
    assert same_value(1, 1.0) and same_value(True, 1) and same_value({1: "a"}, {1.0: "a"})
    assert not same_value((1, 2), [1, 2]) and not same_value(math.nan, math.nan)
    # /v1/tests call cases: same top-level type, ints and floats by value, bools only as bools
    assert typed_equal(1, 1.0) and typed_equal([1], [1]) and typed_equal("a", "a")
    assert not typed_equal(True, 1) and not typed_equal(1, True) and not typed_equal((1,), [1])
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert not same_value(deep, deep[0]) and not typed_equal(deep, deep[0])  # no RecursionError
