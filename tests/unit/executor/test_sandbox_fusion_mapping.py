"""SandboxFusion's /run_code on azr: request translation and the status mapping table, pure."""

from __future__ import annotations

import base64

import pytest
from azr_executor.errors import InvalidRequest
from azr_executor.sandbox_fusion import run_request, to_sandbox_fusion
from azr_executor.settings import ExecutorSettings
from azr_proto.executor import RunResult
from azr_proto.sandbox_fusion import RunCodeRequest
from pydantic import ValidationError


def result(status: str, **fields) -> RunResult:
    base = {"stdout": "out", "stderr": "err", "truncated": False, "wall_ms": 1500.0,
            "cpu_ms": 700.0, "peak_rss_kb": 1, "queue_ms": 0.0}  # fmt: skip
    return RunResult.model_validate({"status": status, **base, **fields})


@pytest.mark.parametrize(
    ("azr", "fields", "expected"),
    [
        ("ok", {"exit_code": 0}, ("Success", "Finished", 0)),
        ("runtime_error", {"exit_code": 3}, ("Failed", "Finished", 3)),
        ("runtime_error", {"signal": 11}, ("Failed", "Finished", 139)),
        ("memory_limit", {"exit_code": 1}, ("Failed", "Finished", 1)),
        ("output_limit", {"exit_code": 0}, ("Failed", "Finished", 1)),
        ("killed", {"signal": 9}, ("Failed", "Finished", 137)),
        ("timeout", {"signal": 9}, ("Failed", "TimeLimitExceeded", None)),
    ],
)
def test_every_azr_status_maps_to_sandbox_fusions_vocabulary(azr, fields, expected):
    resp = to_sandbox_fusion(result(azr, **fields))
    assert (resp.status, resp.run_result.status, resp.run_result.return_code) == expected
    assert resp.run_result.execution_time == 1.5 and resp.run_result.cpu_time == 0.7
    assert resp.run_result.stdout == "out" and resp.compile_result is None


def test_a_sandbox_error_is_sandbox_fusions_sandbox_error_with_the_reason():
    resp = to_sandbox_fusion(result("sandbox_error", stderr="zygote 0 died"))
    assert resp.status == "SandboxError" and resp.message == "zygote 0 died"
    assert resp.run_result.status == "Error" and resp.run_result.return_code is None


def test_the_request_becomes_an_azr_run():
    settings = ExecutorSettings()
    req = RunCodeRequest(code="print(1)", language="python", run_timeout=3.5, stdin=None,
                         memory_limit_MB=1024, compile_timeout=99,
                         files={"a.txt": base64.b64encode(b"hi").decode(), "empty": None})  # fmt: skip
    run = run_request(req, settings)
    assert run.stdin == "" and run.files == {"a.txt": "hi", "empty": ""}
    assert run.limits.wall_timeout_s == 3.5 and run.limits.cpu_timeout_s == 4
    assert run.limits.memory_limit_mb == 1024
    default = run_request(RunCodeRequest(code="", language="python"), settings)
    assert default.limits.memory_limit_mb is None  # -1: the service default


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"run_timeout": 61}, "run_timeout=61.0 is above"),
        ({"memory_limit_MB": 8192}, "memory_limit_MB=8192 is above"),
        ({"files": {"a": "not base64!"}}, "not base64"),
        ({"files": {"a": base64.b64encode(b"\xff").decode()}}, "not base64 of UTF-8"),
    ],
)
def test_what_the_service_cannot_honour_is_refused(fields, message):
    req = RunCodeRequest.model_validate({"code": "", "language": "python", **fields})
    with pytest.raises(InvalidRequest, match=message):
        run_request(req, ExecutorSettings())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"language": "cpp"}, "runs Python only"),
        ({"language": "python", "fetch_files": ["out.txt"]}, "fetch_files is not supported"),
        ({"language": "python", "memory_limit_MB": 8}, "at least 32"),
    ],
)
def test_the_wire_model_refuses_what_azr_does_not_run(fields, message):
    with pytest.raises(ValidationError, match=message):
        RunCodeRequest.model_validate({"code": "", **fields})
