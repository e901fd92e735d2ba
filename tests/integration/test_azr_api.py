"""`/v1/azr/validate`, `/v1/azr/verify` and `/v1/azr/learnability` over HTTP, through the client,
against a real executor server (process mode, the suite's shared server)."""

from __future__ import annotations

import httpx
from azr_proto.azr import (
    LearnabilityItem,
    LearnabilityOptions,
    LearnabilityRequest,
    Policy,
    Proposal,
    Reason,
    Task,
    ValidateRequest,
    ValidationStatus,
    Verdict,
    VerifyItem,
    VerifyRequest,
)
from azr_proto.executor_client import ExecutorClient

PROGRAM = "def f(a, b=1):\n    return [a] * b"


async def test_validate_a_batch_over_http(executor_server):
    proposals = [
        Proposal(task_type="deduction", program=PROGRAM, inputs=["'x', 2"]),
        Proposal(task_type="abduction", program="import os\ndef f(a):\n    return a", inputs=["1"]),
        Proposal(task_type="induction", program=PROGRAM, inputs=["1", "2, 3", "b=0, a=5"], message="m"),
        Proposal(task_type="deduction", program="def f(a):\n    return 1 / a", inputs=["0"]),
    ]  # fmt: skip
    async with ExecutorClient(executor_server.url) as client:
        resp = await client.azr_validate(ValidateRequest(proposals=proposals))
    statuses = [r.status for r in resp.results]
    assert statuses == ["valid", "invalid", "valid", "invalid"]
    assert resp.results[0].outputs == ["['x', 'x']"] and resp.results[0].valid
    assert resp.results[1].reason is Reason.POLICY_VIOLATION and not resp.results[1].valid
    assert resp.results[2].outputs == ["[1]", "[2, 2, 2]", "[]"]
    assert resp.results[3].reason is Reason.RUNTIME_ERROR
    assert "ZeroDivisionError" in resp.results[3].message


async def test_a_request_policy_replaces_the_default(executor_server):
    program = "import random\ndef f(a):\n    return a"
    req = ValidateRequest(
        proposals=[Proposal(task_type="deduction", program=program, inputs=["1"])],
        options={"policy": Policy(allowed_modules=["*"], forbidden_modules=["json"])},
    )
    async with ExecutorClient(executor_server.url) as client:
        resp = await client.azr_validate(req)
    assert resp.results[0].status is ValidationStatus.VALID


async def test_verify_and_learnability_over_http(executor_server):
    deduction = Task(
        task_type="deduction", program=PROGRAM, inputs=["'x', 2"], outputs=["['x', 'x']"]
    )
    abduction = Task(
        task_type="abduction", program=PROGRAM, inputs=["'x', 2"], outputs=["['x', 'x']"]
    )
    induction = Task(
        task_type="induction", program=PROGRAM, inputs=["1", "2, 3", "b=0, a=5", "'q', 2"],
        outputs=["[1]", "[2, 2, 2]", "[]", "['q', 'q']"], message="repeat",
    )  # fmt: skip
    good = "def f(a, b=1):\n    return [a for _ in range(b)]"
    bad = "def f(a, b=1):\n    return [a]"
    async with ExecutorClient(executor_server.url) as client:
        verified = await client.azr_verify(
            VerifyRequest(items=[
                VerifyItem(task=deduction, answers=["['x', 'x']", "('x', 'x')", "x"]),
                VerifyItem(task=abduction, answers=["'x', b=2", "'x'", "1)\nTrue or f(1"]),
                VerifyItem(task=induction, answers=[good, bad, "import os"]),
            ])
        )  # fmt: skip
        scored = await client.azr_learnability(
            LearnabilityRequest(
                items=[LearnabilityItem(task=induction, answers=[good, bad, bad, bad] * 2)],
                options=LearnabilityOptions(extreme_reward=-0.5),
            )
        )
    verdicts = [[v.verdict for v in r.verdicts] for r in verified.results]
    assert verdicts == [
        [Verdict.CORRECT, Verdict.INCORRECT, Verdict.INVALID],
        [Verdict.CORRECT, Verdict.INCORRECT, Verdict.INVALID],
        [Verdict.CORRECT, Verdict.INCORRECT, Verdict.INVALID],
    ]
    (result,) = scored.results
    assert result.solve_rate == 0.25 and result.reward == 0.75


async def test_bad_requests_get_a_422_body(executor_server):
    async with httpx.AsyncClient(base_url=executor_server.url) as http:
        two_inputs = {
            "proposals": [{"task_type": "deduction", "program": PROGRAM, "inputs": ["1", "2"]}]
        }
        resp = await http.post("/v1/azr/validate", json=two_inputs)
        assert resp.status_code == 422 and resp.json()["code"] == "invalid_request"
        bad_gold = {"items": [{"task": {"task_type": "deduction", "program": PROGRAM, "inputs": ["1"],
                                        "outputs": ["object()"]}, "answers": ["1"]}]}  # fmt: skip
        resp = await http.post("/v1/azr/verify", json=bad_gold)
        assert resp.status_code == 422 and resp.json()["code"] == "bad_task"
        resp = await http.post("/v1/azr/learnability", json={"items": []})
        assert resp.status_code == 422
