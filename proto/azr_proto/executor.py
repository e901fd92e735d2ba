"""Wire models of the executor's generic API: `/v1/run`, `/v1/run/batch` and `/v1/tests`.

Limits have absolute bounds here; a service may accept less (its `max_*` settings) and answers
422 with the field name when a request asks for more.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from azr_proto.statuses import RunStatus

__all__ = [
    "AssertCase",
    "BatchRunRequest",
    "BatchRunResponse",
    "CallCase",
    "CaseResult",
    "ExceptionInfo",
    "RunLimits",
    "RunRequest",
    "RunResult",
    "StdioCase",
    "TestCase",
    "TestsRequest",
    "TestsResponse",
    "Verdict",
]

MAX_CODE_CHARS = 1 << 20
MAX_STDIN_CHARS = 16 << 20
MAX_FILES = 64


def _no_nul(value: str, what: str) -> str:
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL byte")
    return value


class RunLimits(BaseModel):
    """Resource limits of one run; a field left out takes the service default."""

    model_config = ConfigDict(extra="forbid")

    wall_timeout_s: float | None = Field(
        default=None, gt=0, le=3600, description="wall clock, enforced by killing the process group"
    )
    cpu_timeout_s: int | None = Field(default=None, ge=1, le=3600, description="RLIMIT_CPU")
    memory_limit_mb: int | None = Field(default=None, ge=32, le=1 << 20, description="RLIMIT_AS")
    output_limit_bytes: int | None = Field(
        default=None,
        ge=1024,
        le=1 << 30,
        description="per stream; past it: output_limit, head and tail kept",
    )
    processes: int | None = Field(
        default=None, ge=1, le=1 << 16, description="RLIMIT_NPROC (threads count)"
    )
    open_files: int | None = Field(default=None, ge=8, le=1 << 20, description="RLIMIT_NOFILE")
    file_size_mb: int | None = Field(default=None, ge=1, le=1 << 20, description="RLIMIT_FSIZE")  # fmt: skip


class RunRequest(BaseModel):
    """One program run: Python source, optional stdin, files put in its working directory."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=MAX_CODE_CHARS, description="Python 3 source, run as __main__")
    stdin: str = Field(default="", max_length=MAX_STDIN_CHARS)
    files: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_FILES,
        description="relative path -> UTF-8 text, written before the program starts",
    )
    limits: RunLimits = Field(default_factory=RunLimits)

    @field_validator("code")
    @classmethod
    def _code_has_no_nul(cls, value: str) -> str:
        return _no_nul(value, "code")

    @field_validator("files")
    @classmethod
    def _relative_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            parts = name.split("/")
            if (
                not name
                or len(name) > 255
                or name.startswith("/")
                or "\x00" in name
                or any(p in ("", ".", "..") for p in parts)
            ):
                raise ValueError(f"file name {name!r} must be a relative path without '..'")
        return value


class ExceptionInfo(BaseModel):
    """The uncaught exception of a run, as the program's process reported it."""

    type: str
    message: str
    traceback: str


class RunResult(BaseModel):
    """The outcome of one run. Exactly one status; `sandbox_error` is never the program's fault."""

    status: RunStatus
    stdout: str
    stderr: str
    truncated: bool = Field(description="an output went over its cap; head and tail are kept")
    exit_code: int | None = None
    signal: int | None = None
    exception: ExceptionInfo | None = None
    wall_ms: float
    cpu_ms: float
    peak_rss_kb: int
    queue_ms: float = Field(description="time waiting for a sandbox; never counted in any limit")


class BatchRunRequest(BaseModel):
    """Independent runs in one request; results come back in the same order."""

    model_config = ConfigDict(extra="forbid")

    runs: list[RunRequest] = Field(min_length=1, max_length=65536)


class BatchRunResponse(BaseModel):
    results: list[RunResult]


class CallCase(BaseModel):
    """Call the entry function with `args` (an argument list of data in the literal grammar of
    `azr_proto.literals`, e.g. `"[1, 2], k=3"`; never evaluated as code) and compare its return
    value with `expected` (a value of that grammar) by `typed_equal`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["call"] = "call"
    args: str = Field(max_length=1 << 20)
    expected: str = Field(max_length=1 << 20)


class AssertCase(BaseModel):
    """Run assert-style test code (HumanEval/MBPP) after the program, in the same namespace."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["assert"] = "assert"
    test: str = Field(max_length=MAX_CODE_CHARS)


class StdioCase(BaseModel):
    """Feed `stdin` to the program and compare its stdout with `expected_stdout` (trailing
    whitespace of each line and trailing blank lines ignored)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["stdio"] = "stdio"
    stdin: str = Field(default="", max_length=MAX_STDIN_CHARS)
    expected_stdout: str = Field(max_length=MAX_STDIN_CHARS)


TestCase = Annotated[CallCase | AssertCase | StdioCase, Field(discriminator="kind")]

Verdict = Literal["passed", "wrong_answer", "error", "not_run"]


class TestsRequest(BaseModel):
    """One program checked against N test cases in one request."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=MAX_CODE_CHARS)
    entry_point: str = Field(default="f", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)
    cases: list[TestCase] = Field(min_length=1, max_length=65536)
    early_stop: bool = Field(default=False, description="stop at the first case that does not pass")
    limits: RunLimits = Field(default_factory=RunLimits, description="per case")

    @field_validator("code")
    @classmethod
    def _code_has_no_nul(cls, value: str) -> str:
        return _no_nul(value, "code")


class CaseResult(BaseModel):
    """How one test case went. `verdict` is decided outside the code under test."""

    index: int
    verdict: Verdict
    status: RunStatus | None = Field(
        description="status of the run that checked this case; null when not run"
    )
    detail: str = Field(default="", description="why it did not pass, when it did not")
    actual: str | None = Field(default=None, description="repr of the return value, or stdout")
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    peak_rss_kb: int = 0
    queue_ms: float = 0.0


class TestsResponse(BaseModel):
    """Per-case results, in the order of the request's cases."""

    __test__ = False
    results: list[CaseResult]
    passed: int
    total: int
    all_passed: bool
    stopped_early: bool
