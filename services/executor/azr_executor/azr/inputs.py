"""Reading model-written text before any run: programs (parsed, entry function, policy),
inputs and abduction answers (data: the argument list of one call in the literal grammar), and
outputs (literal values, read for comparison).

Inputs are data, never code: `read_input` accepts only literal values (`azr_proto.literals`) and
hands the harness their `marshal` encoding, so no process ever evaluates one. That closes the
reference's reward hacks (`1)\nTrue or f(1` making the last evaluated line a constant) and the
lambda that walks the object graph to patch the task's function.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from azr_proto.azr import Reason
from azr_proto.literals import LiteralError, parse_arguments, parse_literal, parse_tree

from azr_executor.azr.policy import PolicyChecker
from azr_executor.judging import encode_arguments

__all__ = [
    "Problem",
    "ProgramInfo",
    "check_program",
    "check_program_tree",
    "forget_checked",
    "literal_value",
    "parse_program",
    "read_input",
]


@dataclass(frozen=True)
class Problem:
    """A static reason to reject a source, with a human message."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class ProgramInfo:
    """A program that passed the static checks."""

    source: str


def check_program(source: str, entry: str, checker: PolicyChecker) -> ProgramInfo | Problem:
    """Parse a program and check its entry function and the policy.

    Remembered (both results are immutable): a task's program is checked by validation, then
    by every learnability and solve request on it.
    """
    key = (source, entry, checker.key)
    known = _CHECKED.get(key)
    if known is not None:
        return known
    tree = parse_program(source)
    result = tree if isinstance(tree, Problem) else check_program_tree(tree, source, entry, checker)
    if len(source) <= _CHECKED_MAX_CHARS:
        if len(_CHECKED) >= _CHECKED_MAX:
            del _CHECKED[next(iter(_CHECKED))]  # the oldest
        _CHECKED[key] = result
    return result


_CHECKED: dict[tuple[str, str, object], ProgramInfo | Problem] = {}
_CHECKED_MAX = 2048  # programs; longer ones than _CHECKED_MAX_CHARS are not kept
_CHECKED_MAX_CHARS = 8000


def forget_checked() -> None:
    """Forget every remembered program check, input and literal."""
    _CHECKED.clear()
    _READ.clear()
    _remembered_literal.cache_clear()


def parse_program(source: str) -> ast.Module | Problem:
    """The syntax tree of a program, or why it has none."""
    if "\x00" in source:
        return Problem(Reason.SYNTAX_ERROR, "the program contains a NUL byte")
    try:
        return parse_tree(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return Problem(Reason.SYNTAX_ERROR, f"the program does not parse: {_describe(exc)}")


def check_program_tree(
    tree: ast.Module, source: str, entry: str, checker: PolicyChecker
) -> ProgramInfo | Problem:
    """`check_program` on a tree already parsed from `source` (callers that need the tree for
    something else parse once)."""
    defs = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry
    ]
    if not defs:
        return Problem(Reason.MISSING_ENTRY, f"the program defines no top-level `def {entry}`")
    last = defs[-1]  # the last definition is the one in force after the module body runs
    if isinstance(last, ast.AsyncFunctionDef):
        return Problem(Reason.MISSING_ENTRY, f"`{entry}` is a coroutine function")
    args = last.args
    if not (args.posonlyargs or args.args or args.vararg or args.kwonlyargs or args.kwarg):
        return Problem(Reason.ENTRY_WITHOUT_PARAMETERS, f"`{entry}` takes no parameter")
    problem = checker.first_violation(tree)
    if problem:
        return Problem(Reason.POLICY_VIOLATION, problem)
    return ProgramInfo(source=source)


def read_input(source: str) -> bytes | Problem:
    """An input (or abduction answer) read as data: the argument list of one call, written
    inside `f(...)`, in the literal grammar (`azr_proto.literals`), encoded for the harness
    (`judging.encode_arguments`); or why it is not one. Nothing in it is ever evaluated, so no
    input can reach the program's objects (a lambda is refused, not sandboxed).

    Remembered (the result is immutable bytes): a task's inputs are read by validation, then by
    every induction answer graded on them.
    """
    known = _READ.get(source)
    if known is not None:
        return known
    if "\n" in source or "\r" in source:
        return Problem(Reason.BAD_INPUT, "an input is one line: no newline characters")
    try:
        args, kwargs = parse_arguments(source)
        result: bytes | Problem = encode_arguments(args, kwargs)
    except LiteralError as exc:
        result = Problem(Reason.BAD_INPUT, f"the input is not an argument list of values: {exc}")
    if len(source) <= _CHECKED_MAX_CHARS:
        if len(_READ) >= _CHECKED_MAX:
            del _READ[next(iter(_READ))]  # the oldest
        _READ[source] = result
    return result


_READ: dict[str, bytes | Problem] = {}
_LITERAL_MAX_CHARS = 2000  # longer outputs are read each time, not remembered
_remembered_literal = functools.lru_cache(maxsize=8192)(parse_literal)


def literal_value(text: str) -> object:
    """`parse_literal(text)`, remembered for the outputs this service reads again and again (a
    task's outputs are read by validation, then by every learnability and solve request on it).
    Raises `LiteralError` as `parse_literal` does. The values are only compared, never changed.
    """
    if len(text) > _LITERAL_MAX_CHARS:
        return parse_literal(text)
    return _remembered_literal(text)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.offset})"
    return type(exc).__name__
