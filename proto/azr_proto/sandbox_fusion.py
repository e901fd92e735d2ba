"""Wire models of the SandboxFusion-compatible surface: `POST /run_code` as bytedance/SandboxFusion
defines it (`sandbox/server/sandbox_api.py`, `sandbox/runners/types.py`), for Python only.

Field names, defaults and status strings are SandboxFusion's, so its own client (`sandbox-fusion`
on PyPI) and veRL's sandbox-fusion reward code run unchanged. Unknown fields are ignored, as
SandboxFusion's server does. How azr statuses map onto these is the executor's
`sandbox_fusion.py`; the table is in `proto/README.md`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from azr_proto.executor import MAX_CODE_CHARS, MAX_FILES, MAX_STDIN_CHARS

__all__ = [
    "SUPPORTED_LANGUAGES",
    "CommandRunResult",
    "CommandRunStatus",
    "RunCodeRequest",
    "RunCodeResponse",
    "SandboxFusionStatus",
]

SUPPORTED_LANGUAGES = ("python",)


class SandboxFusionStatus(StrEnum):
    """`RunCodeResponse.status`: SandboxFusion's own three values."""

    SUCCESS = "Success"  # every command finished with return code 0
    FAILED = "Failed"  # a command timed out or returned non-zero: the program's outcome
    SANDBOX_ERROR = "SandboxError"  # the service's fault; clients retry it


class CommandRunStatus(StrEnum):
    """`CommandRunResult.status`."""

    FINISHED = "Finished"
    ERROR = "Error"  # the command could not be run (the service's fault)
    TIME_LIMIT_EXCEEDED = "TimeLimitExceeded"


class RunCodeRequest(BaseModel):
    """SandboxFusion's `RunCodeRequest`. `compile_timeout` is accepted and unused (Python)."""

    model_config = ConfigDict(extra="ignore")

    code: str = Field(max_length=MAX_CODE_CHARS, description="the code to run, as __main__")
    language: str = Field(description="'python': the only language this service runs")
    compile_timeout: float = Field(default=10, description="unused: Python is not compiled")
    run_timeout: float = Field(default=10, gt=0, le=3600, description="wall clock, seconds")
    memory_limit_MB: int = Field(
        default=-1, description="-1: the service default; otherwise at least 32"
    )
    stdin: str | None = Field(default=None, max_length=MAX_STDIN_CHARS)
    files: dict[str, str | None] = Field(
        default_factory=dict,
        max_length=MAX_FILES,
        description="relative path -> base64 content (UTF-8 text once decoded)",
    )
    fetch_files: list[str] = Field(default_factory=list, description="not supported: keep empty")

    @field_validator("language")
    @classmethod
    def _python_only(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(
                f"azr-executor runs Python only (language 'python'); language {value!r} "
                "is not run here, so no result is given for it"
            )
        return value

    @field_validator("fetch_files")
    @classmethod
    def _no_fetch(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError("fetch_files is not supported: azr-executor returns no files")
        return value

    @field_validator("memory_limit_MB")
    @classmethod
    def _memory(cls, value: int) -> int:
        if value != -1 and value < 32:
            raise ValueError("memory_limit_MB must be -1 (the service default) or at least 32")
        return value


class CommandRunResult(BaseModel):
    """One command's outcome (`run_result`; `compile_result` is always null for Python)."""

    status: CommandRunStatus
    execution_time: float | None = Field(default=None, description="wall time, seconds")
    cpu_time: float | None = Field(default=None, description="CPU time, seconds")
    return_code: int | None = Field(
        default=None, description="exit status; 128 + signal when killed; null on a timeout"
    )
    stdout: str | None = None
    stderr: str | None = None


class RunCodeResponse(BaseModel):
    """SandboxFusion's `RunCodeResponse`; `files` is always empty (nothing is fetched)."""

    status: SandboxFusionStatus
    message: str = ""
    compile_result: CommandRunResult | None = None
    run_result: CommandRunResult | None = None
    executor_pod_name: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
