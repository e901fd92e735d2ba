"""ExecutorClient's AZR methods: only what met a sandbox error is sent again."""

from __future__ import annotations

import json

import httpx
from azr_proto.azr import (
    LearnabilityItem,
    LearnabilityRequest,
    Proposal,
    Task,
    ValidateRequest,
    ValidationStatus,
    Verdict,
)
from azr_proto.executor_client import ExecutorClient

PROGRAM = "def f(a):\n    return a"


def flaky_transport(seen: list[dict]) -> httpx.MockTransport:
    """Answers the first request with a sandbox error on its first element, then succeeds."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        first = len(seen) == 1
        if request.url.path == "/v1/azr/validate":
            results = [
                {"status": "sandbox_error" if first and i == 0 else "valid", "outputs": ["1"]}
                for i, _ in enumerate(body["proposals"])
            ]
            return httpx.Response(200, json={"results": results})
        results = []
        for i, _ in enumerate(body["items"]):
            verdict = "sandbox_error" if first and i == 0 else "correct"
            results.append({
                "verdicts": [{"verdict": verdict, "score": float(verdict == "correct")}],
                "solve_rate": None if verdict == "sandbox_error" else 1.0,
                "reward": None if verdict == "sandbox_error" else 0.0,
            })  # fmt: skip
        return httpx.Response(200, json={"results": results})

    return httpx.MockTransport(handler)


async def test_validate_resends_only_sandbox_errors():
    seen: list[dict] = []
    proposals = [
        Proposal(task_type="deduction", program=PROGRAM, inputs=[str(i)]) for i in range(3)
    ]
    async with ExecutorClient("http://x", transport=flaky_transport(seen), backoff_s=0) as client:
        resp = await client.azr_validate(ValidateRequest(proposals=proposals))
    assert [r.status for r in resp.results] == [ValidationStatus.VALID] * 3
    assert [len(b["proposals"]) for b in seen] == [3, 1]
    assert seen[1]["proposals"][0]["inputs"] == ["0"]


async def test_learnability_resends_only_items_with_sandbox_errors():
    seen: list[dict] = []
    task = Task(task_type="deduction", program=PROGRAM, inputs=["1"], outputs=["1"])
    items = [LearnabilityItem(task=task, answers=[str(i)]) for i in range(2)]
    async with ExecutorClient("http://x", transport=flaky_transport(seen), backoff_s=0) as client:
        resp = await client.azr_learnability(LearnabilityRequest(items=items))
    assert [r.verdicts[0].verdict for r in resp.results] == [Verdict.CORRECT] * 2
    assert [len(b["items"]) for b in seen] == [2, 1]
    assert seen[1]["items"][0]["answers"] == ["0"]
