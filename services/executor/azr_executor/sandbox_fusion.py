"""SandboxFusion's `/run_code` on azr: its request as an azr run, an azr result as its response.

Status mapping (the contract; also tabled in proto/README.md):

    azr status      SandboxFusion status   run_result.status    return_code
    ok              Success                Finished             0
    runtime_error   Failed                 Finished             exit status, or 128 + signal
    memory_limit    Failed                 Finished             exit status, or 128 + signal
    output_limit    Failed                 Finished             exit status, or 128 + signal
    killed          Failed                 Finished             128 + signal
    timeout         Failed                 TimeLimitExceeded    null
    sandbox_error   SandboxError           Error                null (message: why)

SandboxFusion has no memory or output status; like its own runner, such runs are `Failed` with a
non-zero return code (never 0: a run that did not end `ok` never reads as a success).
"""

from __future__ import annotations

import base64
import binascii
import math

from azr_proto.executor import RunLimits, RunRequest, RunResult
from azr_proto.sandbox_fusion import (
    CommandRunResult,
    CommandRunStatus,
    RunCodeRequest,
    RunCodeResponse,
    SandboxFusionStatus,
)
from azr_proto.statuses import RunStatus

from azr_executor.errors import InvalidRequest
from azr_executor.settings import ExecutorSettings

__all__ = ["run_request", "to_sandbox_fusion"]


def run_request(req: RunCodeRequest, settings: ExecutorSettings) -> RunRequest:
    """The azr run of a SandboxFusion request (422 for files that are not base64 UTF-8 text).

    `run_timeout` is the wall limit; the CPU limit follows it up to the service's maximum, so a
    program may compute for as long as SandboxFusion would let it.
    """
    if req.run_timeout > settings.max_wall_timeout_s:
        raise InvalidRequest(
            f"run_timeout={req.run_timeout} is above this service's maximum "
            f"{settings.max_wall_timeout_s}"
        )
    if req.memory_limit_MB > settings.max_memory_limit_mb:
        raise InvalidRequest(
            f"memory_limit_MB={req.memory_limit_MB} is above this service's maximum "
            f"{settings.max_memory_limit_mb}"
        )
    files: dict[str, str] = {}
    for name, content in req.files.items():
        try:
            files[name] = base64.b64decode(content or "", validate=True).decode()
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest(f"files[{name!r}]: not base64 of UTF-8 text ({exc})") from exc
    cpu_s = min(max(1, math.ceil(req.run_timeout)), settings.max_cpu_timeout_s)
    memory = None if req.memory_limit_MB == -1 else req.memory_limit_MB
    limits = RunLimits(wall_timeout_s=req.run_timeout, cpu_timeout_s=cpu_s, memory_limit_mb=memory)
    return RunRequest(code=req.code, stdin=req.stdin or "", files=files, limits=limits)


def to_sandbox_fusion(result: RunResult) -> RunCodeResponse:
    """SandboxFusion's response for an azr run result (see the table above)."""
    seconds = result.wall_ms / 1000.0
    cpu_seconds = result.cpu_ms / 1000.0
    if result.status is RunStatus.SANDBOX_ERROR:
        why = result.stderr or "sandbox error"
        run = CommandRunResult(status=CommandRunStatus.ERROR, stderr=why)
        return RunCodeResponse(
            status=SandboxFusionStatus.SANDBOX_ERROR, message=why, run_result=run
        )
    if result.status is RunStatus.TIMEOUT:
        command_status, code = CommandRunStatus.TIME_LIMIT_EXCEEDED, None
    elif result.status is RunStatus.OK:
        command_status, code = CommandRunStatus.FINISHED, 0
    else:
        command_status, code = CommandRunStatus.FINISHED, _failed_code(result)
    run = CommandRunResult(
        status=command_status,
        execution_time=round(seconds, 6),
        cpu_time=round(cpu_seconds, 6),
        return_code=code,
        stdout=result.stdout,
        stderr=result.stderr,
    )
    ok = result.status is RunStatus.OK
    status = SandboxFusionStatus.SUCCESS if ok else SandboxFusionStatus.FAILED
    return RunCodeResponse(status=status, run_result=run)


def _failed_code(result: RunResult) -> int:
    if result.signal is not None and result.exit_code is None:
        return 128 + result.signal
    if result.exit_code:
        return result.exit_code
    return 1  # a limit ended a run that exited 0: still a failure
