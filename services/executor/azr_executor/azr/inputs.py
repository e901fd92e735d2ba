"""Static checks of sources before any run: programs (entry function, policy) and inputs (the
argument list of exactly one call).

An input is accepted only when `<entry>(<input>)` parses, as one expression, to a single call of
the entry function and nothing else. That rejects the reference's reward hack, where an input
such as `1)\nTrue or f(1` makes the last evaluated line a constant. Inputs are also
self-contained: they may use literals, builtins and lambdas, never a name the program defines
(the harness evaluates them in a namespace holding only the builtins), and no walrus, `yield` or
`await`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from azr_proto.azr import Reason

from azr_executor.azr.policy import PolicyChecker, walk_nodes

__all__ = [
    "Problem",
    "ProgramInfo",
    "check_input",
    "check_program",
    "check_program_tree",
    "defined_names",
    "parse_program",
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
    names: frozenset[str]  # names the module defines at top level


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
    """Forget every remembered program check."""
    _CHECKED.clear()


def parse_program(source: str) -> ast.Module | Problem:
    """The syntax tree of a program, or why it has none."""
    if "\x00" in source:
        return Problem(Reason.SYNTAX_ERROR, "the program contains a NUL byte")
    try:
        return ast.parse(source)
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
    return ProgramInfo(source=source, names=frozenset(defined_names(tree)))


def check_input(
    source: str,
    entry: str,
    checker: PolicyChecker,
    program_names: frozenset[str],
    tree: ast.Expression | None = None,
) -> Problem | None:
    """None when `source` is an acceptable argument list for `<entry>(...)`, else the problem.

    `tree`, when given, is `ast.parse(f"{entry}({source})", mode="eval")`, already parsed.
    """
    if "\n" in source or "\r" in source or "\x00" in source:
        return Problem(Reason.BAD_INPUT, "an input is one line: no newline or NUL characters")
    if tree is None:
        try:
            tree = ast.parse(f"{entry}({source})", mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return Problem(
                Reason.BAD_INPUT,
                f"the input is not an argument list of `{entry}`: {_describe(exc)}",
            )
    call = tree.body
    if not (
        isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == entry
    ):
        return Problem(Reason.BAD_INPUT, f"`{entry}(<input>)` must be exactly one call")
    for node in walk_nodes(call):
        if node is call.func:
            continue
        if isinstance(node, ast.NamedExpr | ast.Yield | ast.YieldFrom | ast.Await):
            return Problem(Reason.BAD_INPUT, f"`{type(node).__name__}` is not allowed in an input")
        if isinstance(node, ast.Name) and (node.id in program_names or node.id == entry):
            return Problem(
                Reason.BAD_INPUT,
                f"the input refers to {node.id!r}, a name of the program; inputs must be "
                "self-contained (literals, builtins, lambdas)",
            )
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        problem = checker.first_violation(arg)
        if problem:
            return Problem(Reason.POLICY_VIOLATION, f"input: {problem}")
    return None


def defined_names(tree: ast.Module) -> set[str]:
    """Names bound at the top level of a module (definitions, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        else:
            for sub in walk_nodes(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
    return names


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.offset})"
    return type(exc).__name__
