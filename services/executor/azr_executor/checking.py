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
import marshal
import secrets
from dataclasses import dataclass, field, replace
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
from azr_executor.sandbox import ExceptionInfo, Job, JobResult, Limits, SandboxPool

__all__ = ["run_tests"]

HARNESS = (Path(__file__).with_name("checker_harness.py")).read_text()
# Compiled here once and sent as a code object to zygotes of this bytecode version (`Job.compiled`):
# each chunk's run then skips compiling the harness.
_HARNESS_COMPILED = marshal.dumps(compile(HARNESS, "<program>", "exec"))


# Why: one job per case paid a zygote fork, the confinement and the program load per case; a
# chunk of cases shares one job (the program loaded once, each case in its own fork of it).
CHUNK = 200  # call/assert cases per job
EARLY_STOP_CHUNK = 16  # smaller chunks when the first failure ends the request


@dataclass
class _Plan:
    job: Job | None = None  # stdio cases: their own job; others run in a chunk's harness job
    case: dict[str, Any] = field(default_factory=dict)  # the case's part of the harness spec
    expected: list[Any] = field(default_factory=list)  # per check index
    stdio_expected: str | None = None
    rewritten: int = 0


async def run_tests(req: TestsRequest, pool: SandboxPool, limits: Limits) -> TestsResponse:
    """Run every case (in waves when `early_stop`), then decide each verdict here.

    Call and assert cases run in chunks, one harness job per chunk; cases a chunk did not reach
    (its job hit the wall or output bound that covers the chunk) run again in the next wave.
    """
    plans = [_plan(req, index, case, limits) for index, case in enumerate(req.cases)]
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
        for group, (_, nonce), outcome in zip(groups, jobs, outcomes, strict=True):
            _fill(group, plans, nonce, outcome, results)
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
    nonce = "@azr-" + secrets.token_hex(16) + "@"
    spec = {"nonce": nonce, "program": req.code,
            "entry": req.entry_point, "wall_s": limits.wall_s,
            "output_bytes": limits.output_bytes, "cases": [plans[i].case for i in group]}  # fmt: skip
    # The job's bounds cover the whole chunk (each case may use its own limits in full), capped
    # by the service's maxima; a chunk cut short there runs its remaining cases again.
    job_limits = replace(
        limits,
        wall_s=min(s.max_wall_timeout_s, limits.wall_s * len(group) + 1.0),
        output_bytes=min(s.max_output_limit_bytes, (limits.output_bytes + 512) * len(group) + 4096),
    )
    job = Job(code=HARNESS, stdin=json.dumps(spec).encode(), limits=job_limits,
              compiled=_HARNESS_COMPILED)  # fmt: skip
    return job, nonce


def _fill(
    group: list[int],
    plans: list[_Plan],
    nonce: str,
    outcome: JobResult,
    results: list[CaseResult | None],
) -> None:
    """Turn one job's outcome into the results of the cases it carried."""
    if plans[group[0]].job is not None:  # a stdio case: one job, one case
        results[group[0]] = _verdict(group[0], plans[group[0]], outcome, None)
        return
    reports: dict[int, dict[str, Any]] = {}
    repeated: set[int] = set()
    members = set(group)
    if outcome.status is not RunStatus.SANDBOX_ERROR:
        for record in _reports(outcome.stdout, nonce):
            index = record.get("case")
            if isinstance(index, int) and index in members:
                if index in reports:
                    repeated.add(index)
                reports[index] = record
    for index in group:
        found = reports.get(index)
        if index in repeated:
            base = _base(index, outcome)
            results[index] = CaseResult(verdict="error", detail="repeated case report", **base)
        elif found is not None:
            results[index] = _verdict(index, plans[index], *_case_outcome(found, outcome))
    if not reports:  # the chunk made no progress (its load failed, or the job died): give up
        for index in group:
            if results[index] is None:
                results[index] = _verdict(index, plans[index], outcome, [])


def _case_outcome(record: dict[str, Any], job: JobResult) -> tuple[JobResult, list[dict[str, Any]]]:
    """One case's outcome as a JobResult (status, timings) and its check records."""
    try:
        status = RunStatus(str(record.get("status")))
    except ValueError:
        status = RunStatus.RUNTIME_ERROR
    if status is RunStatus.SANDBOX_ERROR:  # the sandbox's own fault is never the case's to claim
        status = RunStatus.KILLED
    err = record.get("error")
    info = None
    if isinstance(err, dict):
        info = ExceptionInfo(type=str(err.get("type", ""))[:200],
                             message=str(err.get("message", "")), traceback="")  # fmt: skip
    records = record.get("records")
    outcome = JobResult(
        status=status,
        exception=info,
        wall_ms=_number(record.get("wall_ms")),
        cpu_ms=_number(record.get("cpu_ms")),
        peak_rss_kb=int(_number(record.get("rss_kb"))),
        queue_ms=job.queue_ms,
        hash_seed=job.hash_seed,
    )
    return outcome, [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _plan(
    req: TestsRequest, index: int, case: CallCase | AssertCase | StdioCase, limits: Limits
) -> _Plan:
    if isinstance(case, StdioCase):
        job = Job(code=req.code, stdin=case.stdin.encode(), limits=limits)
        return _Plan(job=job, stdio_expected=case.expected_stdout)
    if isinstance(case, CallCase):
        spec = {"index": index, "kind": "call", "args": _wrap_args(case.args)}
        return _Plan(case=spec, expected=[_literal(case.expected, "expected")], rewritten=1)
    test, expected = _rewrite_asserts(case.test)
    spec = {"index": index, "kind": "assert", "test": test}
    return _Plan(case=spec, expected=expected, rewritten=len(expected))


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


# Expected values with ints longer than this are left to an in-sandbox assert: their decimal repr
# is refused by Python's int_max_str_digits (4,300 digits), so they cannot travel back as text.
_MAX_REPORTED_INT_BITS = 13_000


def _has_huge_int(value: Any) -> bool:
    if isinstance(value, int):
        return value.bit_length() > _MAX_REPORTED_INT_BITS
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_huge_int(v) for v in value)
    if isinstance(value, dict):
        return any(_has_huge_int(k) or _has_huge_int(v) for k, v in value.items())
    return False


class _AssertFinder(ast.NodeVisitor):
    """Finds `assert <expr> == <literal>` (either side) and records what to check outside."""

    def __init__(self) -> None:
        self.expected: list[Any] = []
        self.found: list[tuple[ast.Assert, ast.expr]] = []

    def visit_Assert(self, node: ast.Assert) -> None:
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            left, right = test.left, test.comparators[0]
            for expr, lit in ((left, right), (right, left)):
                try:
                    value = ast.literal_eval(lit)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    continue
                if _has_huge_int(value):
                    return
                self.expected.append(value)
                self.found.append((node, expr))
                return


def _rewrite_asserts(test: str) -> tuple[str, list[Any]]:
    """Each found assert becomes `_azr_check_(i, (<expr>))`, spliced into the source text.

    Splicing (instead of `ast.unparse`) leaves every other byte as written: unparse would have to
    print each constant again, and a huge int cannot be printed under the default digit limit.
    """
    try:
        tree = ast.parse(test)
    except SyntaxError as exc:
        raise InvalidRequest(f"test code does not parse: {exc.msg} (line {exc.lineno})") from None
    finder = _AssertFinder()
    finder.visit(tree)
    if not finder.found:
        return test, []
    raw = test.encode()
    line_starts = [0]
    for line in raw.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(lineno: int | None, col: int | None) -> int:
        assert lineno is not None and col is not None  # statements and expressions have both
        return line_starts[lineno - 1] + col  # ast columns are UTF-8 byte offsets

    edits = []
    for index, (node, expr) in enumerate(finder.found):
        inner = raw[
            offset(expr.lineno, expr.col_offset) : offset(expr.end_lineno, expr.end_col_offset)
        ]
        call = b"_azr_check_(%d, (" % index + inner + b"))"
        edits.append(
            (
                offset(node.lineno, node.col_offset),
                offset(node.end_lineno, node.end_col_offset),
                call,
            )
        )
    for begin, end, call in sorted(edits, reverse=True):
        raw = raw[:begin] + call + raw[end:]
    return raw.decode(), finder.expected


def _reports(stdout: str, nonce: str) -> list[dict[str, Any]]:
    """The harness's reports; a corrupt or cut line is skipped (its case counts as missing)."""
    out = []
    for chunk in stdout.split(nonce)[1:]:
        line = chunk.split("\n", 1)[0]
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _base(index: int, outcome: JobResult) -> dict[str, Any]:
    return {"index": index, "status": outcome.status, "wall_ms": round(outcome.wall_ms, 3),
            "cpu_ms": round(outcome.cpu_ms, 3), "peak_rss_kb": outcome.peak_rss_kb,
            "queue_ms": round(outcome.queue_ms, 3)}  # fmt: skip


def _verdict(
    index: int, plan: _Plan, outcome: JobResult, reports: list[dict[str, Any]] | None
) -> CaseResult:
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
    if reports is None:
        return CaseResult(verdict="error", detail="the harness report is missing", **base)
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
