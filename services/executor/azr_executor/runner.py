"""Turns wire requests into sandbox jobs and sandbox results into wire results."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from azr_proto.azr import ExecutionOptions
from azr_proto.executor import ExceptionInfo, RunLimits, RunRequest, RunResult
from azr_proto.statuses import RunStatus

from azr_executor.errors import InvalidRequest
from azr_executor.sandbox import Job, JobResult, Limits
from azr_executor.settings import ExecutorSettings

__all__ = ["check_azr_options", "fit_response", "job_from_request", "resolve_limits", "to_wire"]


def resolve_limits(limits: RunLimits, settings: ExecutorSettings) -> Limits:
    """Fill unset limits from the settings; refuse (422) any above the service's maxima."""
    s = settings
    chosen = {
        "wall_timeout_s": (limits.wall_timeout_s, s.wall_timeout_s, s.max_wall_timeout_s),
        "cpu_timeout_s": (limits.cpu_timeout_s, s.cpu_timeout_s, s.max_cpu_timeout_s),
        "memory_limit_mb": (limits.memory_limit_mb, s.memory_limit_mb, s.max_memory_limit_mb),
        "output_limit_bytes": (limits.output_limit_bytes, s.output_limit_bytes, s.max_output_limit_bytes),
        "processes": (limits.processes, s.processes, s.max_processes),
        "open_files": (limits.open_files, s.open_files, s.max_open_files),
        "file_size_mb": (limits.file_size_mb, s.file_size_mb, s.max_file_size_mb),
    }  # fmt: skip
    values: dict[str, float] = {}
    for name, (asked, default, maximum) in chosen.items():
        if asked is not None and asked > maximum:
            raise InvalidRequest(f"limits.{name}={asked} is above this service's maximum {maximum}")
        values[name] = asked if asked is not None else default
    wall = float(values["wall_timeout_s"])
    # The CPU limit never outlasts the wall limit by more than a second: rlimits are whole seconds.
    cpu = int(min(values["cpu_timeout_s"], math.ceil(wall) + 1))
    return Limits(
        wall_s=wall,
        cpu_s=max(1, cpu),
        memory_mb=int(values["memory_limit_mb"]),
        output_bytes=int(values["output_limit_bytes"]),
        processes=int(values["processes"]),
        open_files=int(values["open_files"]),
        file_size_mb=int(values["file_size_mb"]),
    )


def check_azr_options(options: ExecutionOptions, settings: ExecutorSettings) -> None:
    """Refuse (422, naming the field) AZR options above this service's maxima, as `/v1/run`
    refuses such limits: the wire's own bounds (60 s, 8,192 MB) are not the service's."""
    for name, asked, maximum in (
        ("timeout_s", options.timeout_s, settings.max_wall_timeout_s),
        ("memory_limit_mb", options.memory_limit_mb, settings.max_memory_limit_mb),
    ):
        if asked > maximum:
            raise InvalidRequest(
                f"options.{name}={asked} is above this service's maximum {maximum}"
            )


def job_from_request(req: RunRequest, settings: ExecutorSettings) -> Job:
    """A sandbox job for one run request (422 on limits over the maxima or oversized code)."""
    code_bytes = req.code.encode()
    if len(code_bytes) > settings.max_code_bytes:
        raise InvalidRequest(
            f"code is {len(code_bytes)} bytes; the limit is {settings.max_code_bytes}"
        )
    return Job(
        code=req.code,
        stdin=req.stdin.encode(),
        files={name: text.encode() for name, text in req.files.items()},
        limits=resolve_limits(req.limits, settings),
    )


def to_wire(result: JobResult) -> RunResult:
    """The wire form of a sandbox result."""
    exc = result.exception
    return RunResult(
        status=result.status,
        stdout=result.stdout,
        stderr=result.stderr,
        truncated=result.truncated,
        exit_code=result.exit_code,
        signal=result.signal,
        exception=ExceptionInfo(type=exc.type, message=exc.message, traceback=exc.traceback)
        if exc
        else None,
        wall_ms=round(result.wall_ms, 3),
        cpu_ms=round(result.cpu_ms, 3),
        peak_rss_kb=result.peak_rss_kb,
        queue_ms=round(result.queue_ms, 3),
    )


def _json_bytes(text: str) -> int:
    """Bytes `text` takes in a JSON response (escapes included); exact, computed only when a
    cheap bound (6 bytes a character) does not settle it."""
    escaped = json.encoder.encode_basestring(text)
    return len(escaped) if escaped.isascii() else len(escaped.encode("utf-8", "surrogatepass"))


def fit_response(results: Sequence[JobResult], max_bytes: int) -> int:
    """Hold the stdout and stderr of one response to `max_bytes` of JSON (plus a note of under
    100 bytes per run cut); returns how many runs were cut. In order, a run whose streams do not
    fit in what is left keeps what fits, ends as `output_limit` and says so in its stderr
    (`AZR_EXECUTOR_MAX_RESPONSE_MB`)."""
    if sum(6 * (len(r.stdout) + len(r.stderr)) for r in results) <= max_bytes:
        return 0  # the common case: nothing near the budget, nothing computed
    left, cut = max_bytes, 0
    for r in results:
        size = _json_bytes(r.stdout) + _json_bytes(r.stderr)
        if size <= left:
            left -= size
            continue
        cut += 1
        note = "\n[output cut: this response's output budget is spent]\n"
        room = max(0, left - 2 * len(note)) // 12  # characters that fit even if all escaped
        r.stdout, r.stderr = r.stdout[:room], r.stderr[:room] + note
        r.status, r.truncated, r.kill_reason = RunStatus.OUTPUT_LIMIT, True, "response"
        left -= _json_bytes(r.stdout) + _json_bytes(r.stderr)
    return cut
