"""`/v1/tests`: check one program against N cases, deciding every verdict outside the sandbox.

Call and assert cases run in the one harness (`inside/harness.py`, through `judging.py`): each
case is a unit, so it gets its own fork of the harness that loads the program afresh and runs
the case there; the harness's parent never loads the program, and observes each case's end
(deadline, signal, report size) itself.

- call: `args` is read as data with the literal grammar (`azr_proto.literals`: a lambda or a
  call is a 422, not code), the entry function is called on those values inside the sandbox and
  the repr of its return value (exact builtin types only) is reported; the service reads it back
  with the grammar and compares it with `expected`, which never enters the sandbox, by
  `typed_equal` (same type, or int/float of equal value; a bool only equals a bool).
- assert: the test code's `assert <expr> == <literal>` statements (also `<literal> == <expr>`)
  are rewritten into reports of `<expr>`, compared outside the same way but by `same_value`
  (Python `==`, as the assert itself would); the literals never enter the sandbox, and every
  such check must report at least once. Other asserts (`assert abs(f(x) - y) < 1e-6`) run as
  written, so their pass rests on the program's own process saying the test ran to its end,
  which a program that tampers with its process can fake. `rewritten` in the detail says how
  many were lifted out.
- stdio: the program reads the case's stdin; its stdout (trailing whitespace per line and
  trailing blank lines ignored) is compared outside with the expected stdout.

Exiting early (`sys.exit(0)`, `os._exit(0)`), overriding `__eq__`, or patching builtins and
AssertionError cannot fake a lifted check or a call case: a missing report is an error, a
non-literal value a wrong answer, and every comparison happens here, between plain values.
"""

from __future__ import annotations

import ast
import asyncio
import signal
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from azr_proto.executor import (
    AssertCase,
    CallCase,
    CaseResult,
    StdioCase,
    TestsRequest,
    TestsResponse,
)
from azr_proto.literals import LiteralError, parse_arguments, parse_literal, same_value, typed_equal
from azr_proto.statuses import RunStatus

from azr_executor.errors import InvalidRequest
from azr_executor.judging import (
    HARNESS_SOURCE,
    UnitOutcome,
    UnitSpec,
    build_spec,
    clean_text,
    encode_arguments,
    harness_compiled,
    read_outcomes,
)
from azr_executor.sandbox import Job, JobResult, Limits, SandboxPool

__all__ = ["run_tests"]

# Why: one job per case paid a zygote fork, the confinement and the harness start per case; a
# chunk of cases shares one job (each case in its own fork of the harness).
CHUNK = 200  # call/assert cases per job
EARLY_STOP_CHUNK = 16  # smaller chunks when the first failure ends the request


@dataclass
class _Plan:
    job: Job | None = None  # stdio cases: their own job; others run in a chunk's harness job
    call: bytes | str = b""  # the harness call: encoded arguments, or the rewritten test
    expected: list[Any] = field(default_factory=list)  # per check index
    stdio_expected: str | None = None
    rewritten: int = 0


async def run_tests(req: TestsRequest, pool: SandboxPool, limits: Limits) -> TestsResponse:
    """Run every case (in waves when `early_stop`), then decide each verdict here.

    Call and assert cases run in chunks, one harness job per chunk; cases a chunk did not reach
    (its job hit the wall or output bound that covers the chunk) run again in the next wave.
    """
    # Reading cases (the literal grammar, the assert rewriting) and judging them cost CPU in
    # proportion to the body (about 3 s a MiB of literal): done in a worker thread, so the
    # event loop keeps serving other requests meanwhile (an 8 MB body held it for 26 s).
    plans = await asyncio.to_thread(
        lambda: [_plan(req, index, case, limits) for index, case in enumerate(req.cases)]
    )
    results: list[CaseResult | None] = [None] * len(plans)
    chunk_size = EARLY_STOP_CHUNK if req.early_stop else CHUNK
    wave_cases = max(1, len(pool.hash_seeds)) * chunk_size
    stopped = False
    pending = list(range(len(plans)))
    while pending:
        wave = pending[:wave_cases] if req.early_stop else pending
        groups = [[i] for i in wave if plans[i].job is not None]
        harnessed = [i for i in wave if plans[i].job is None]
        # Spread the cases over the zygotes: chunks of at most `chunk_size`, one per zygote at least.
        size = min(chunk_size, -(-len(harnessed) // max(1, len(pool.hash_seeds))))
        groups += [harnessed[k : k + max(1, size)] for k in range(0, len(harnessed), max(1, size))]
        jobs = [_chunk_job(req, plans, g, pool, limits) for g in groups]
        outcomes = await pool.run_many([job for job, _ in jobs])
        await asyncio.to_thread(_fill_all, groups, jobs, outcomes, plans, results)
        pending = [i for i in pending if results[i] is None]
        if req.early_stop:
            first_bad = _first_failure(results)
            if first_bad is not None:
                stopped = first_bad + 1 < len(plans)
                for index in range(first_bad + 1, len(plans)):
                    results[index] = CaseResult(
                        index=index, verdict="not_run", status=None, detail="early stop"
                    )
                break
    final = [r for r in results if r is not None]
    passed = sum(r.verdict == "passed" for r in final)
    return TestsResponse(results=final, passed=passed, total=len(plans),
                         all_passed=passed == len(plans), stopped_early=stopped)  # fmt: skip


def _first_failure(results: list[CaseResult | None]) -> int | None:
    """The first case in order that did not pass, once every case before it has a result."""
    for index, result in enumerate(results):
        if result is None:
            return None
        if result.verdict != "passed":
            return index
    return None


def _chunk_job(
    req: TestsRequest, plans: list[_Plan], group: list[int], pool: SandboxPool, limits: Limits
) -> tuple[Job, str]:
    first = plans[group[0]]
    if first.job is not None:
        return first.job, ""
    s = pool.settings
    units = [
        UnitSpec(
            program=req.code,
            calls=[plans[i].call],
            timeout_s=limits.wall_s,
            max_chars=limits.output_bytes,
            entry=req.entry_point,
            module="__main__",
            report_cap=limits.output_bytes + 4096,
        )
        for i in group
    ]
    stdin, nonce, output_bytes = build_spec(units, sweep=pool.sweeps_units)
    # The job's bounds cover the whole chunk (each case may use its own limits in full), capped
    # by the service's maxima; a chunk cut short there runs its remaining cases again.
    job_limits = replace(
        limits,
        wall_s=min(s.max_wall_timeout_s, limits.wall_s * len(group) + 1.0),
        output_bytes=min(s.max_output_limit_bytes, output_bytes),
    )
    job = Job(code=HARNESS_SOURCE, stdin=stdin, limits=job_limits, compiled=harness_compiled())
    return job, nonce


def _fill_all(
    groups: list[list[int]],
    jobs: list[tuple[Job, str]],
    outcomes: list[JobResult],
    plans: list[_Plan],
    results: list[CaseResult | None],
) -> None:
    for group, (_, nonce), outcome in zip(groups, jobs, outcomes, strict=True):
        _fill(group, plans, nonce, outcome, results)


def _fill(
    group: list[int],
    plans: list[_Plan],
    nonce: str,
    outcome: JobResult,
    results: list[CaseResult | None],
) -> None:
    """Turn one job's outcome into the results of the cases it carried."""
    if plans[group[0]].job is not None:  # a stdio case: one job, one case
        results[group[0]] = _stdio_verdict(group[0], plans[group[0]], outcome)
        return
    found: list[UnitOutcome | None] = [None] * len(group)
    if outcome.status is not RunStatus.SANDBOX_ERROR:
        found = read_outcomes(outcome.stdout, nonce, len(group))
    for index, unit in zip(group, found, strict=True):
        if unit is not None:
            results[index] = _case_verdict(index, plans[index], unit, outcome)
    if all(unit is None for unit in found):  # the chunk made no progress: give up
        for index in group:
            detail = outcome.status.value
            if outcome.exception is not None:
                detail = f"{outcome.exception.type}: {outcome.exception.message}"
            if outcome.status is RunStatus.OK:
                detail = "the harness report is missing"
            results[index] = CaseResult(
                verdict="error", detail=clean_text(detail), **_base(index, outcome)
            )


def _plan(
    req: TestsRequest, index: int, case: CallCase | AssertCase | StdioCase, limits: Limits
) -> _Plan:
    if isinstance(case, StdioCase):
        job = Job(code=req.code, stdin=case.stdin.encode("utf-8", "surrogatepass"), limits=limits)
        return _Plan(job=job, stdio_expected=case.expected_stdout)
    if isinstance(case, CallCase):
        try:
            call = encode_arguments(*parse_arguments(case.args))
        except LiteralError as exc:
            raise InvalidRequest(
                f"case {index}: args is not an argument list of values: {exc}"
            ) from None
        return _Plan(call=call, expected=[_literal(case.expected, f"case {index}: expected")],
                     rewritten=1)  # fmt: skip
    test, expected = _rewrite_asserts(case.test, index)
    return _Plan(call=test, expected=expected, rewritten=len(expected))


def _literal(source: str, what: str) -> Any:
    try:
        return parse_literal(source)
    except LiteralError as exc:
        raise InvalidRequest(f"{what} is not a Python literal: {exc}") from None


# Expected values with ints longer than this are left to an in-sandbox assert: their decimal repr
# is refused by Python's int_max_str_digits (4,300 digits), so they cannot travel back as text.
_MAX_REPORTED_INT_BITS = 13_000


def _has_huge_int(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, int):
            if item.bit_length() > _MAX_REPORTED_INT_BITS:
                return True
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


def _find_asserts(tree: ast.Module, raw: bytes, offset: Any) -> tuple[list[Any], list[Any]]:
    """`assert <expr> == <literal>` (either side) in `tree`: (the expected values, the (assert,
    expr) pairs), in the order of the source. The literal is read with the grammar from its own
    text, so a lifted check compares exactly what the assert would have."""
    expected: list[Any] = []
    found: list[tuple[ast.Assert, ast.expr]] = []
    asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]  # iterative: no recursion
    asserts.sort(key=lambda n: (n.lineno, n.col_offset))
    for node in asserts:
        test = node.test
        if not (
            isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
        ):
            continue
        left, right = test.left, test.comparators[0]
        for expr, lit in ((left, right), (right, left)):
            text = raw[
                offset(lit.lineno, lit.col_offset) : offset(lit.end_lineno, lit.end_col_offset)
            ]
            try:
                value = parse_literal("(" + text.decode() + "\n)")
            except (LiteralError, UnicodeDecodeError):
                continue
            if not _has_huge_int(value):
                expected.append(value)
                found.append((node, expr))
            break
    return expected, found


def _rewrite_asserts(test: str, index: int) -> tuple[str, list[Any]]:
    """Each found assert becomes `_azr_check_(i, (<expr>))`, spliced into the source text.

    Splicing (instead of `ast.unparse`) leaves every other byte as written: unparse would have to
    print each constant again, and a huge int cannot be printed under the default digit limit.
    """
    try:
        tree = ast.parse(test)
        raw = test.encode()
    except SyntaxError as exc:
        raise InvalidRequest(
            f"case {index}: test code does not parse: {exc.msg} (line {exc.lineno})"
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL, lone surrogates, nesting
        raise InvalidRequest(
            f"case {index}: test code does not parse ({type(exc).__name__})"
        ) from None
    line_starts = [0]
    for line in raw.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(lineno: int | None, col: int | None) -> int:
        assert lineno is not None and col is not None  # statements and expressions have both
        return line_starts[lineno - 1] + col  # ast columns are UTF-8 byte offsets

    expected, found = _find_asserts(tree, raw, offset)
    edits = []
    for check, (node, expr) in enumerate(found):
        inner = raw[
            offset(expr.lineno, expr.col_offset) : offset(expr.end_lineno, expr.end_col_offset)
        ]
        call = b"_azr_check_(%d, (" % check + inner + b"))"
        edits.append(
            (
                offset(node.lineno, node.col_offset),
                offset(node.end_lineno, node.end_col_offset),
                call,
            )
        )
    for begin, end, call in sorted(edits, reverse=True):
        raw = raw[:begin] + call + raw[end:]
    return raw.decode(), expected


def _base(index: int, outcome: JobResult, unit: UnitOutcome | None = None) -> dict[str, Any]:
    """The timings of a case: its unit's, as the harness's parent measured them, else the job's."""
    wall, cpu, rss = outcome.wall_ms, outcome.cpu_ms, outcome.peak_rss_kb
    if unit is not None:
        wall, cpu, rss = unit.wall_ms, unit.cpu_ms, unit.rss_kb
    return {"index": index, "status": outcome.status, "wall_ms": round(wall, 3),
            "cpu_ms": round(cpu, 3), "peak_rss_kb": rss,
            "queue_ms": round(outcome.queue_ms, 3)}  # fmt: skip


def _stdio_verdict(index: int, plan: _Plan, outcome: JobResult) -> CaseResult:
    base = _base(index, outcome)
    if outcome.status is not RunStatus.OK:
        detail = outcome.status.value
        if outcome.exception is not None:
            detail = f"{outcome.exception.type}: {outcome.exception.message}"
        return CaseResult(verdict="error", detail=clean_text(detail), **base)
    same = _normalize(outcome.stdout) == _normalize(plan.stdio_expected or "")
    verdict: Literal["passed", "wrong_answer"] = "passed" if same else "wrong_answer"
    return CaseResult(verdict=verdict, actual=clean_text(outcome.stdout, 10000),
                      detail="" if same else "stdout differs", **base)  # fmt: skip


def _status(unit: UnitOutcome) -> tuple[RunStatus, str]:
    """How a case's process ended, from what the harness's parent observed, then (for a
    process that exited and reported) from its report: (status, detail)."""
    if unit.end == "timeout":
        return RunStatus.TIMEOUT, "the case ran past its wall-clock limit"
    if unit.end == "over_cap":
        return RunStatus.OUTPUT_LIMIT, "the case's report went over the output limit"
    if unit.end == "signal":
        if unit.signal in (signal.SIGXCPU, signal.SIGKILL):
            return RunStatus.TIMEOUT, "the case ran out of CPU time"
        return RunStatus.KILLED, f"killed by signal {unit.signal}"
    body = unit.body
    if unit.end != "exit" or body is None:
        why = (
            "wrote a corrupt report"
            if unit.corrupt
            else f"exited (status {unit.code}) before its end"
        )
        return RunStatus.RUNTIME_ERROR, f"the program or its tests {why}"
    try:
        result = body["load"] or body["passes"][0][0]
        if not isinstance(result, dict):
            raise TypeError
    except (KeyError, IndexError, TypeError):
        return RunStatus.RUNTIME_ERROR, "the program or its tests wrote a corrupt report"
    error = result.get("error")
    if error is None:
        return RunStatus.OK, ""
    kind, message = clean_text(result.get("type", ""), 200), clean_text(result.get("message", ""))
    if error == "output_too_long":
        return RunStatus.OUTPUT_LIMIT, clean_text(message)
    if error == "output_not_literal":
        return RunStatus.OK, ""  # a wrong answer, decided below
    status = RunStatus.MEMORY_LIMIT if kind == "MemoryError" else RunStatus.RUNTIME_ERROR
    return status, f"{kind}: {message}" if kind else message


def _case_verdict(index: int, plan: _Plan, unit: UnitOutcome, outcome: JobResult) -> CaseResult:
    status, detail = _status(unit)
    base = _base(index, outcome, unit) | {"status": status}
    if status is not RunStatus.OK:
        return CaseResult(verdict="error", detail=detail, **base)
    result: dict[str, Any] = (unit.body or {})["passes"][0][0]
    checks: Any = [[0, result]]  # a call case: one value, compared by `typed_equal`
    if not isinstance(plan.call, bytes):
        checks = result.get("checks")
        if not isinstance(checks, list):
            return CaseResult(verdict="error", detail="the test's report is corrupt", **base)
    seen: set[int] = set()
    actual: str | None = None
    for entry in checks:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)):
            return CaseResult(verdict="error", detail="the test's report is corrupt", **base)
        check, record = entry
        if not (type(check) is int and 0 <= check < len(plan.expected)):
            return CaseResult(verdict="error", detail="unexpected check report", **base)
        seen.add(check)
        text = record.get("repr")
        if not isinstance(text, str):
            message = clean_text(record.get("message", ""), 200)
            return CaseResult(verdict="wrong_answer",
                              detail=f"check {check}: the value is not a plain literal ({message})",
                              **base)  # fmt: skip
        actual = clean_text(text, 10000)
        try:
            value = parse_literal(text)
        except LiteralError:
            return CaseResult(verdict="wrong_answer", actual=actual,
                              detail=f"check {check}: unreadable value", **base)  # fmt: skip
        expected = plan.expected[check]
        equal = typed_equal if isinstance(plan.call, bytes) else same_value
        if not equal(value, expected):
            return CaseResult(verdict="wrong_answer", actual=actual,
                              detail=clean_text(f"check {check}: expected {_short(expected)}"),
                              **base)  # fmt: skip
    missing = [c for c in range(len(plan.expected)) if c not in seen]
    if missing:
        return CaseResult(verdict="error", detail=f"check {missing[0]} never ran", **base)
    return CaseResult(verdict="passed", actual=actual, detail=f"rewritten={plan.rewritten}", **base)


def _short(value: Any) -> str:
    """At most 200 characters of the repr of an expected value, for a detail. A value the
    grammar reads may have no repr at all (an int over Python's 4,300-digit limit)."""
    try:
        return repr(value)[:200]
    except ValueError:
        return f"<a value whose repr is over Python's limits ({type(value).__name__})>"


def _normalize(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines
