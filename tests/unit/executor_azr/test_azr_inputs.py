"""Static checks of programs, and inputs read as data."""

from __future__ import annotations

import marshal

import pytest
from azr_executor.azr.inputs import Problem, check_program, read_input
from azr_executor.azr.policy import DEFAULT_POLICY, PolicyChecker
from azr_proto.azr import Reason

CHECKER = PolicyChecker(DEFAULT_POLICY)


def reason_of_input(source: str) -> Reason | None:
    read = read_input(source)
    return read.reason if isinstance(read, Problem) else None


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("1, 2", ((1, 2), {})),
        ("'John', {'age': 20}", (("John", {"age": 20}), {})),
        ("dict(a=1, b=2), k=set()", (({"a": 1, "b": 2},), {"k": set()})),
        ("'st ' + '0\\t'", (("st 0\t",), {})),
        ("float('-inf'), complex(1, 2), -3", ((float("-inf"), 1 + 2j, -3), {})),
        ("'a\\nb'", (("a\nb",), {})),
    ],
)
def test_argument_lists_of_values_are_read_and_encoded(source, value):
    read = read_input(source)
    assert isinstance(read, bytes) and marshal.loads(read) == value


@pytest.mark.parametrize(
    "source",
    [
        "1)\nTrue or f(1",  # the reference's reward hack: a newline ends the call
        "1), (2",
        "1) + f(2",
        "1)(2",
        "1) if True else f(2",
        "x := 1",
        "(y := 2)",
        "1; import os",
        # code, not data: the class-2 attack is a lambda that walks the object graph
        "[6, 4, 2, 8, 15], (lambda x: x.reverse())",
        "(lambda: f.__globals__)()",
        "'abc'.split('b'), key=len",
        "*[1, 2], **{'c': 3}",
        "range(100, 120)",
        "helper(1)",
        "f(1)",
        "__import__('os')",
        "open('x')",
        "[x for x in 'ab']",
    ],
)
def test_anything_but_data_is_rejected(source):
    assert reason_of_input(source) is Reason.BAD_INPUT


def test_program_checks():
    def reason(src: str) -> Reason | None:
        info = check_program(src, "f", CHECKER)
        return info.reason if isinstance(info, Problem) else None

    assert reason("def f(:") is Reason.SYNTAX_ERROR
    assert reason("def g(x):\n    return x") is Reason.MISSING_ENTRY
    assert reason("class A:\n    def f(self, x):\n        return x") is Reason.MISSING_ENTRY
    assert reason("def f():\n    return 1") is Reason.ENTRY_WITHOUT_PARAMETERS
    assert reason("import os\ndef f(x):\n    return x") is Reason.POLICY_VIOLATION
    # helpers and classes are allowed (the reference rejected any second `def`)
    assert reason("def g(x):\n    return x\n\ndef f(*a):\n    return g(a)") is None
    assert (
        reason("def f(x, *, k=1):\n    def inner(y):\n        return y\n    return inner(x)")
        is None
    )
    info = check_program("A = 1\ndef f(x):\n    return x\nclass B: pass", "f", CHECKER)
    assert not isinstance(info, Problem)


def test_program_checks_are_remembered_per_policy():
    from azr_proto.azr import Policy

    program = "import random\ndef f(x):\n    return random.random() + x\n"
    default = PolicyChecker(DEFAULT_POLICY)
    first = check_program(program, "f", default)
    assert isinstance(first, Problem) and first.reason is Reason.POLICY_VIOLATION
    assert check_program(program, "f", PolicyChecker(DEFAULT_POLICY)) is first  # remembered
    # another policy, or another entry name, is checked on its own
    lenient = PolicyChecker(Policy(allowed_modules=["*"], forbidden_modules=[], forbidden_names=[]))
    assert not isinstance(check_program(program, "f", lenient), Problem)
    missing = check_program(program, "g", lenient)
    assert isinstance(missing, Problem) and missing.reason is not Reason.POLICY_VIOLATION


def test_forget_remembered_drops_checks_and_literals():
    from azr_executor.azr import forget_remembered
    from azr_executor.azr.inputs import literal_value

    program = "def f(x):\n    return x\n"
    first = check_program(program, "f", CHECKER)
    value = literal_value("[1, 2, 3]")
    assert check_program(program, "f", CHECKER) is first and literal_value("[1, 2, 3]") is value
    forget_remembered()
    assert check_program(program, "f", CHECKER) is not first  # checked again
    assert literal_value("[1, 2, 3]") is not value  # read again
