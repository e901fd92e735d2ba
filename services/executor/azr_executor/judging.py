"""The server's side of the one harness (`inside/harness.py`): units packed into a job's spec,
and each unit's outcome read back from the job's report. `/v1/tests` (`checking.py`) and
`/v1/azr` (`azr/jobs.py`) both go through here; what a value means to each is theirs.

A *unit* is one program and the calls to run on it in one fresh fork of the harness; a call is
either argument values read with the literal grammar (`encode_arguments`) or a test's source.
How a unit ended (`UnitOutcome.end`) is what the harness's parent process observed, never what
the unit's own process wrote; its `body` is that process's report, as data, and only in the one
shape the harness writes (`well_formed`): a program that writes its own report in any other
shape gets a corrupt report (its own failure), never a response the service cannot build.
"""

from __future__ import annotations

import marshal
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from azr_executor.inside import harness

__all__ = [
    "HARNESS_SOURCE",
    "UnitOutcome",
    "UnitSpec",
    "build_spec",
    "clean_text",
    "encode_arguments",
    "harness_compiled",
    "read_outcomes",
    "well_formed",
]

# The harness file ends by defining `main`; the job calls it.
HARNESS_SOURCE = Path(harness.__file__).read_text() + "\nmain()\n"
_compiled: list[bytes] = []

Mode = Literal["shared", "fresh", "forked"]
_HEADER_BYTES = 200  # nonce, index and the parent's header of one report line


def harness_compiled() -> bytes:
    """The harness compiled once per service (our own code, never a submitted one), sent as
    `Job.compiled` so that no job compiles it again."""
    if not _compiled:
        _compiled.append(marshal.dumps(compile(HARNESS_SOURCE, "<program>", "exec")))
    return _compiled[0]


def encode_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """One call's arguments as the harness loads them: `marshal` of plain values (the grammar's
    output), so the sandbox rebuilds them without evaluating anything."""
    return marshal.dumps((args, kwargs))


@dataclass(frozen=True)
class UnitSpec:
    """One program and its calls, run in one fork of the harness (see `inside/harness.py`)."""

    program: str
    calls: Sequence[bytes | str]  # encoded arguments, or a test's source
    timeout_s: float
    max_chars: int  # longest accepted repr of one value
    mode: Mode = "shared"
    reverse: bool = False
    passes: int = 1
    stop_on_error: bool = True
    entry: str = "f"
    module: str = "__azr_program__"
    report_cap: int | None = None  # bytes of the unit's report; default: its honest maximum

    def cap(self) -> int:
        """The most bytes an honest report of this unit takes (a repr JSON-escaped at most 6
        bytes a character, plus an error message each)."""
        if self.report_cap is not None:
            return self.report_cap
        return self.passes * len(self.calls) * (6 * self.max_chars + 1200) + 4096


@dataclass
class UnitOutcome:
    """What the harness's parent saw of one unit, and the unit process's report."""

    end: str  # exit | signal | timeout | over_cap
    code: int = 0
    signal: int = 0
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    rss_kb: int = 0
    body: dict[str, Any] | None = None  # None: no report, or a corrupt one (`corrupt`)
    corrupt: bool = False


def build_spec(units: Sequence[UnitSpec], *, sweep: bool = False) -> tuple[bytes, str, int]:
    """(the job's stdin, the report nonce, the stdout bytes an honest report needs).

    `sweep`: the harness kills what each unit left before the next one starts, with `kill(-1)`;
    only where that reaches the job's own processes alone (`SandboxPool.sweeps_units`), never
    in a process of the service's own uid (a test running the harness locally, say).
    """
    nonce = "@azr-" + secrets.token_hex(16) + "@"
    programs: dict[str, int] = {}
    tests: dict[str, int] = {}
    wire = []
    for unit in units:
        calls: list[bytes | int] = [
            c if isinstance(c, bytes) else tests.setdefault(c, len(tests)) for c in unit.calls
        ]
        wire.append(
            {
                "program": programs.setdefault(unit.program, len(programs)),
                "module": unit.module,
                "entry": unit.entry,
                "calls": calls,
                "mode": unit.mode,
                "reverse": unit.reverse,
                "passes": unit.passes,
                "stop_on_error": unit.stop_on_error,
                "timeout_s": float(unit.timeout_s),
                "max_chars": int(unit.max_chars),
                "report_cap": unit.cap(),
            }
        )
    spec = {
        "nonce": nonce.encode(),
        "sweep": sweep,
        "programs": list(programs),
        "tests": list(tests),
        "units": wire,
    }
    output_bytes = sum(u.cap() + _HEADER_BYTES for u in units)
    return marshal.dumps(spec), nonce, output_bytes


def read_outcomes(stdout: str, nonce: str, n_units: int) -> list[UnitOutcome | None]:
    """Each unit's outcome, in order; None for a unit the job did not report (it died first)."""
    out: list[UnitOutcome | None] = []
    for found in harness.read_report(stdout, nonce, n_units):
        if found is None:
            out.append(None)
            continue
        header, body = found
        corrupt = bool(header.get("corrupt"))
        if body is not None and not well_formed(body):
            body, corrupt = None, True
        out.append(
            UnitOutcome(
                end=str(header.get("end")),
                code=_int(header.get("code")),
                signal=_int(header.get("signal")),
                wall_ms=_float(header.get("wall_ms")),
                cpu_ms=_float(header.get("cpu_ms")),
                rss_kb=_int(header.get("rss_kb")),
                body=body,
                corrupt=corrupt,
            )
        )
    return out


_RESULT_KEYS = frozenset({"repr", "error", "type", "message", "checks"})


def well_formed(body: Any) -> bool:
    """True when a unit's report has exactly the harness's shape (`inside/harness.py`):
    `{"load": null | error, "passes": [[result | null, ...], ...]}`, where a result is
    `{"repr": str}`, an error `{"error", "type", "message": str}`, or a test's `{"checks":
    [[int, result], ...]}` (with the error keys when it raised). The unit's process is the
    program's, so it may write anything: every reader downstream relies on this check."""
    if type(body) is not dict or set(body) != {"load", "passes"}:
        return False
    load, passes = body["load"], body["passes"]
    if load is not None and not (_result(load, checks=False) and "error" in load):
        return False
    if type(passes) is not list:
        return False
    return all(
        type(results) is list and all(r is None or _result(r, checks=True) for r in results)
        for results in passes
    )


def _result(value: Any, *, checks: bool) -> bool:
    if type(value) is not dict or not value or not set(value) <= _RESULT_KEYS:
        return False
    if "repr" in value:
        return set(value) == {"repr"} and type(value["repr"]) is str
    if "error" in value and not all(
        type(value.get(k)) is str for k in ("error", "type", "message")
    ):
        return False
    if "checks" in value:
        found = value["checks"]
        return (
            checks
            and type(found) is list
            and all(
                type(c) is list and len(c) == 2 and type(c[0]) is int
                and _result(c[1], checks=False)
                for c in found
            )
        )  # fmt: skip
    return "error" in value


def clean_text(value: Any, limit: int = 2000) -> str:
    """A string from a unit's report made safe for a response: at most `limit` characters, and
    lone surrogates (valid in JSON, not in UTF-8) escaped, so that no report can make a response
    fail to encode."""
    text = value if isinstance(value, str) else str(value)
    text = text[:limit]
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _float(value: Any) -> float:
    return float(value) if type(value) in (int, float) else 0.0
