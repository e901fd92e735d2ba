"""HTTP adapters over fake proto clients: mapping of statuses, sandbox errors, round-robin."""

from __future__ import annotations

import anyio
from azr_proto.azr import (
    AnswerVerdict,
    ValidateResponse,
    ValidationResult,
    ValidationStatus,
    VerifyResponse,
    VerifyResult,
)
from azr_proto.azr import Verdict as WireVerdict
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
    judge = ExecutorJudge([client], retries=1)
    proposals = [
        Proposal("deduction", "def f(a):\n    return a", ("1",)),
        Proposal("deduction", "def f(a):\n    return bad", ("1",)),
        Proposal("induction", "def f(a):\n    return a  # crash", ("1", "2"), "m"),
    ]
    checks = anyio.run(judge.check, proposals)
    assert checks[0].valid and checks[0].outputs == ("o1",)
    assert not checks[1].valid and checks[1].reason == "runtime_error" and not checks[1].judge_error
    assert checks[2].judge_error and not checks[2].valid
    assert client.validate_calls == 2  # one retry round, for the sandbox error only


def test_verify_maps_verdicts_and_spreads_over_clients():
    verdicts = {
        "1": WireVerdict.CORRECT,
        "2": WireVerdict.INCORRECT,
        "x": WireVerdict.INVALID,
        "s": WireVerdict.SANDBOX_ERROR,
    }
    a, b = FakeExecutor("a", verdicts), FakeExecutor("b", verdicts)
    judge = ExecutorJudge([a, b], retries=0)
    task = Task("deduction", "def f(a):\n    return a", ("1",), ("1",))
    got = anyio.run(judge.verify, [(task, ["1", "2", "x", "s"])])
    assert got == [[Verdict.CORRECT, Verdict.WRONG, Verdict.WRONG, Verdict.JUDGE_ERROR]]
    anyio.run(judge.verify, [(task, ["1"])])
    assert (a.verify_calls, b.verify_calls) == (1, 1)
