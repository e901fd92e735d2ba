"""HTTP adapters over fake and mock-transport proto clients: statuses, verdicts, retries."""

from __future__ import annotations

import json

import anyio
import httpx
from azr_proto.azr import (
    AnswerVerdict,
    ValidateResponse,
    ValidationResult,
    ValidationStatus,
    VerifyResponse,
    VerifyResult,
)
from azr_proto.azr import Verdict as WireVerdict
from azr_proto.executor_client import ExecutorClient
from azr_trainer.remote import ExecutorJudge
from azr_trainer.tasks import Proposal, Task, Verdict


class FakeExecutor:
    def __init__(self, name: str, verdicts: dict[str, WireVerdict]) -> None:
        self.name = name
        self.verdicts = verdicts
        self.validate_calls = 0
        self.verify_calls = 0

    async def azr_validate(self, req):
        self.validate_calls += 1
        out = []
        for p in req.proposals:
            if "crash" in p.program:
                out.append(ValidationResult(status=ValidationStatus.SANDBOX_ERROR))
            elif "bad" in p.program:
                out.append(
                    ValidationResult(status=ValidationStatus.INVALID, reason="runtime_error")
                )
            else:
                out.append(
                    ValidationResult(
                        status=ValidationStatus.VALID, outputs=[f"o{i}" for i in p.inputs]
                    )
                )
        return ValidateResponse(results=out)

    async def azr_verify(self, req):
        self.verify_calls += 1
        return VerifyResponse(
            results=[
                VerifyResult(
                    verdicts=[
                        AnswerVerdict(verdict=self.verdicts[a], score=0) for a in item.answers
                    ]
                )
                for item in req.items
            ]
        )


def test_check_maps_statuses_and_persistent_sandbox_errors():
    client = FakeExecutor("a", {})
    judge = ExecutorJudge(client)  # type: ignore[arg-type]
    proposals = [
        Proposal("deduction", "def f(a):\n    return a", ("1",)),
        Proposal("deduction", "def f(a):\n    return bad", ("1",)),
        Proposal("induction", "def f(a):\n    return a  # crash", ("1", "2"), "m"),
    ]
    checks = anyio.run(judge.check, proposals)
    assert checks[0].valid and checks[0].outputs == ("o1",)
    assert not checks[1].valid and checks[1].reason == "runtime_error" and not checks[1].judge_error
    assert checks[2].judge_error and not checks[2].valid
    assert client.validate_calls == 1  # retrying is the client's job


def test_verify_maps_verdicts():
    verdicts = {
        "1": WireVerdict.CORRECT,
        "2": WireVerdict.INCORRECT,
        "x": WireVerdict.INVALID,
        "s": WireVerdict.SANDBOX_ERROR,
    }
    judge = ExecutorJudge(FakeExecutor("a", verdicts))  # type: ignore[arg-type]
    task = Task("deduction", "def f(a):\n    return a", ("1",), ("1",))
    got = anyio.run(judge.verify, [(task, ["1", "2", "x", "s"])])
    assert got == [[Verdict.CORRECT, Verdict.WRONG, Verdict.WRONG, Verdict.JUDGE_ERROR]]


def test_sandbox_errors_are_retried_by_the_client_only():
    """The real `ExecutorClient` re-sends a sandbox_error item `max_retries` times; the judge on
    top must not multiply that (main retried 3 more rounds of the client's own retries)."""
    posts: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        posts.append(len(body["proposals"]))
        results = [{"status": "sandbox_error"} for _ in body["proposals"]]
        return httpx.Response(200, json={"results": results})

    async def go() -> list:
        client = ExecutorClient(
            "http://executor.test",
            max_retries=2,
            backoff_s=0.0,
            transport=httpx.MockTransport(handler),
        )
        try:
            return await ExecutorJudge(client).check(
                [Proposal("deduction", "def f(a):\n    return a", ("1",))]
            )
        finally:
            await client.aclose()

    checks = anyio.run(go)
    assert checks[0].judge_error and not checks[0].valid
    assert posts == [1, 1, 1]  # the first try and the client's 2 retries, nothing stacked
