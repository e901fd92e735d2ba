"""ExecutorClient against httpx.MockTransport: retries, round-robin, typed errors."""

from __future__ import annotations

import json

import httpx
import pytest
from azr_proto.errors import BadRequest, Overloaded, ServerFault, TransportError, Unauthorized
from azr_proto.executor import RunRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus


def _result(status: str, stdout: str = "") -> dict:
    return {"status": status, "stdout": stdout, "stderr": "", "truncated": False, "wall_ms": 1.0,
            "cpu_ms": 1.0, "peak_rss_kb": 1, "queue_ms": 0.0}  # fmt: skip


def _client(handler, urls="http://a", **kw) -> ExecutorClient:
    kw.setdefault("backoff_s", 0.001)
    return ExecutorClient(urls, transport=httpx.MockTransport(handler), **kw)


async def test_429_is_retried_after_backoff():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(
                429, json={"code": "overloaded", "detail": "full"}, headers={"Retry-After": "0"}
            )
        return httpx.Response(200, json=_result("ok", "1\n"))

    async with _client(handler) as client:
        result = await client.run(RunRequest(code="print(1)"))
    assert result.stdout == "1\n"
    assert len(calls) == 3


async def test_429_past_the_retry_budget_raises_overloaded():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, json={"code": "overloaded", "detail": "full"}, headers={"Retry-After": "0"}
        )

    async with _client(handler, max_retries=2) as client:
        with pytest.raises(Overloaded):
            await client.run(RunRequest(code="print(1)"))


async def test_sandbox_error_runs_of_a_batch_are_resent_alone():
    seen: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        codes = [r["code"] for r in json.loads(request.content)["runs"]]
        seen.append(codes)
        out = []
        for code in codes:
            flaky = code == "b" and len(seen) == 1
            out.append(_result("sandbox_error" if flaky else "ok", code))
        return httpx.Response(200, json={"results": out})

    async with _client(handler) as client:
        answer = await client.run_batch([RunRequest(code=c) for c in "abc"])
    assert seen == [["a", "b", "c"], ["b"]]
    assert [r.stdout for r in answer.results] == ["a", "b", "c"]
    assert all(r.status is RunStatus.OK for r in answer.results)


async def test_sandbox_error_that_persists_is_returned_not_raised():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_result("sandbox_error"))

    async with _client(handler, max_retries=2) as client:
        result = await client.run(RunRequest(code="print(1)"))
    assert result.status is RunStatus.SANDBOX_ERROR


async def test_requests_go_round_robin_over_base_urls():
    hosts = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(200, json=_result("ok"))

    async with _client(handler, urls=["http://a:1", "http://b:1/"]) as client:
        for _ in range(4):
            await client.run(RunRequest(code="pass"))
    assert hosts == ["a", "b", "a", "b"]


async def test_error_statuses_raise_typed_errors():
    answers = iter([
        httpx.Response(401, json={"code": "unauthorized", "detail": "missing bearer token"}),
        httpx.Response(422, json={"code": "invalid_request", "detail": "code: bad"}),
        httpx.Response(500, json={"code": "internal_error", "detail": "boom"}),
    ])  # fmt: skip

    async with _client(lambda request: next(answers)) as client:
        with pytest.raises(Unauthorized):
            await client.run(RunRequest(code="pass"))
        with pytest.raises(BadRequest) as bad:
            await client.run(RunRequest(code="pass"))
        with pytest.raises(ServerFault):
            await client.run(RunRequest(code="pass"))
    assert bad.value.detail == "code: bad"


async def test_transport_failures_are_retried_then_raised():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    async with _client(handler, max_retries=2) as client:
        with pytest.raises(TransportError):
            await client.run(RunRequest(code="pass"))
    assert len(calls) == 3


async def test_token_is_sent_as_bearer():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json=_result("ok"))

    async with _client(handler, token="t0k") as client:
        await client.run(RunRequest(code="pass"))
    assert seen == ["Bearer t0k"]
