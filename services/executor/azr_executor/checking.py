"""`/v1/tests`: check one program against N cases, deciding every verdict outside the sandbox.

- call: the harness calls the entry function inside the sandbox and reports the repr of the
  return value (exact builtin types only); the service reads it back with `ast.literal_eval` and
  compares it with the expected value, which never enters the sandbox.
- assert: the test code's `assert <expr> == <literal>` statements (also `<literal> == <expr>`)
  are rewritten into reports of `<expr>`, compared outside the same way; the literals never
  enter the sandbox. Other asserts (e.g. `assert abs(f(x) - y) < 1e-6`) run as written: for
  those the pass rests on the harness finishing, which a program that tampers with the
  harness's own process could fake. `rewritten` in the detail says how many were lifted out.
- stdio: the program reads the case's stdin; its stdout (trailing whitespace per line and
  trailing blank lines ignored) is compared outside with the expected stdout.

Exiting early (`sys.exit(0)`, `os._exit(0)`), overriding `__eq__`, or patching builtins and
AssertionError cannot fake a pass: a missing report is an error, a non-literal value a wrong
answer, and every comparison happens here, between plain values.
"""

from __future__ import annotations

import ast
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from azr_proto.executor import (
    AssertCase,
    CallCase,
    CaseResult,
    StdioCase,
    TestsRequest,
    TestsResponse,
)
from azr_proto.statuses import RunStatus

from azr_executor.errors import InvalidRequest
from azr_executor.sandbox import Job, JobResult, Limits, SandboxPool

__all__ = ["run_tests"]

HARNESS = (Path(__file__).with_name("checker_harness.py")).read_text()


@dataclass
class _Plan:
    job: Job
    nonce: str = ""
    expected: list[Any] = field(default_factory=list)  # per check index
    stdio_expected: str | None = None
    rewritten: int = 0


async def run_tests(req: TestsRequest, pool: SandboxPool, limits: Limits) -> TestsResponse:
    """Run every case (in waves when `early_stop`), then decide each verdict here."""
    plans = [_plan(req, case, limits) for case in req.cases]
    results: list[CaseResult] = []
    stopped = False
    wave = max(1, len(pool.hash_seeds) * 2) if req.early_stop else len(plans)
    for start in range(0, len(plans), wave):
        chunk = plans[start : start + wave]
        outcomes = await pool.run_many([p.job for p in chunk])
        for i, (plan, outcome) in enumerate(zip(chunk, outcomes, strict=True)):
            results.append(_verdict(start + i, plan, outcome))
        if req.early_stop and any(r.verdict != "passed" for r in results):
            stopped = start + wave < len(plans)
            break
    for index in range(len(results), len(plans)):
        results.append(CaseResult(index=index, verdict="not_run", status=None, detail="early stop"))
    passed = sum(r.verdict == "passed" for r in results)
    return TestsResponse(results=results, passed=passed, total=len(plans),
                         all_passed=passed == len(plans), stopped_early=stopped)  # fmt: skip


def _plan(req: TestsRequest, case: CallCase | AssertCase | StdioCase, limits: Limits) -> _Plan:
    if isinstance(case, StdioCase):
        job = Job(code=req.code, stdin=case.stdin.encode(), limits=limits)
        return _Plan(job=job, stdio_expected=case.expected_stdout)
    nonce = "@azr-" + secrets.token_hex(16) + "@"
    spec: dict[str, Any] = {"nonce": nonce, "program": req.code, "entry": req.entry_point}
    if isinstance(case, CallCase):
        spec.update(kind="call", args=_wrap_args(case.args))
        expected = [_literal(case.expected, "expected")]
        rewritten = 1
    else:
        test, expected = _rewrite_asserts(case.test)
        spec.update(kind="assert", test=test)
        rewritten = len(expected)
    job = Job(code=HARNESS, stdin=json.dumps(spec).encode(), limits=limits)
    return _Plan(job=job, nonce=nonce, expected=expected, rewritten=rewritten)


def _wrap_args(source: str) -> str:
    """`_azr_args_(<source>)`, refusing anything but one argument list (no injection)."""
    wrapped = f"_azr_args_({source}\n)"
    try:
        tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        raise InvalidRequest(f"args is not an argument list: {exc.msg}") from None
    call = tree.body
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "_azr_args_"
    ):
        raise InvalidRequest("args must be exactly one argument list, e.g. '[1, 2], k=3'")
    return wrapped


def _literal(source: str, what: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise InvalidRequest(f"{what} is not a Python literal: {exc}") from None


class _AssertRewriter(ast.NodeTransformer):
    def __init__(self) -> None:
        self.expected: list[Any] = []

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            left, right = test.left, test.comparators[0]
            for expr, lit in ((left, right), (right, left)):
                try:
                    value = ast.literal_eval(lit)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    continue
                call = ast.Call(
                    func=ast.Name(id="_azr_check_", ctx=ast.Load()),
                    args=[ast.Constant(value=len(self.expected)), expr],
                    keywords=[],
                )
                self.expected.append(value)
                return ast.copy_location(ast.Expr(value=call), node)
        return node


def _rewrite_asserts(test: str) -> tuple[str, list[Any]]:
    try:
        tree = ast.parse(test)
    except SyntaxError as exc:
        raise InvalidRequest(f"test code does not parse: {exc.msg} (line {exc.lineno})") from None
    rewriter = _AssertRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    return ast.unparse(tree), rewriter.expected


def _reports(stdout: str, nonce: str) -> list[dict[str, Any]] | None:
    """The harness's reports; None when a report line is corrupt."""
    out = []
    for chunk in stdout.split(nonce)[1:]:
        line = chunk.split("\n", 1)[0]
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        out.append(record)
    return out


def _base(index: int, outcome: JobResult) -> dict[str, Any]:
    return {"index": index, "status": outcome.status, "wall_ms": round(outcome.wall_ms, 3),
            "cpu_ms": round(outcome.cpu_ms, 3), "peak_rss_kb": outcome.peak_rss_kb,
            "queue_ms": round(outcome.queue_ms, 3)}  # fmt: skip


def _verdict(index: int, plan: _Plan, outcome: JobResult) -> CaseResult:
    base = _base(index, outcome)
    if outcome.status is not RunStatus.OK:
        detail = outcome.status.value
        if outcome.exception is not None:
            detail = f"{outcome.exception.type}: {outcome.exception.message}"[:2000]
        return CaseResult(verdict="error", detail=detail, **base)
    if plan.stdio_expected is not None:
        same = _normalize(outcome.stdout) == _normalize(plan.stdio_expected)
        verdict: Literal["passed", "wrong_answer"] = "passed" if same else "wrong_answer"
        detail = "" if same else "stdout differs"
        return CaseResult(verdict=verdict, actual=outcome.stdout[:10000], detail=detail, **base)
    reports = _reports(outcome.stdout, plan.nonce)
    if reports is None or outcome.truncated:
        return CaseResult(
            verdict="error", detail="the harness report is corrupt or over the output cap", **base
        )
    if not any(r.get("done") is True for r in reports):
        return CaseResult(
            verdict="error", detail="the program or its tests did not run to the end", **base
        )
    seen: dict[int, dict[str, Any]] = {}
    for record in reports:
        if "check" in record:
            idx = record["check"]
            if not isinstance(idx, int) or idx in seen or not 0 <= idx < len(plan.expected):
                return CaseResult(
                    verdict="error", detail="unexpected or repeated check report", **base
                )
            seen[idx] = record
    actual: str | None = None
    for idx, expected in enumerate(plan.expected):
        r = seen.get(idx)
        if r is None:
            return CaseResult(verdict="error", detail=f"check {idx} never ran", **base)
        if "repr" not in r or not isinstance(r["repr"], str):
            return CaseResult(
                verdict="wrong_answer",
                detail=f"check {idx}: the value is not a plain literal ({r.get('type')})",
                **base,
            )
        actual = r["repr"]
        try:
            value = ast.literal_eval(actual)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return CaseResult(
                verdict="wrong_answer",
                actual=actual[:10000],
                detail=f"check {idx}: unreadable value",
                **base,
            )
        if not _equal(value, expected):
            return CaseResult(verdict="wrong_answer", actual=actual[:10000],
                              detail=f"check {idx}: expected {expected!r:.200}", **base)  # fmt: skip
    return CaseResult(verdict="passed", actual=None if actual is None else actual[:10000],
                      detail=f"rewritten={plan.rewritten}", **base)  # fmt: skip


def _equal(value: Any, expected: Any) -> bool:
    try:
        return (bool(value == expected) and type(value) is type(expected)) or _num_equal(
            value, expected
        )
    except (RecursionError, MemoryError):
        return False


def _num_equal(value: Any, expected: Any) -> bool:
    # 1 == 1.0 as Python's own assert would accept; bool only matches bool.
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(expected, bool):
        return False
    return isinstance(value, numbers) and isinstance(expected, numbers) and value == expected


def _normalize(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines
