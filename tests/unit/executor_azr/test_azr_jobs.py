"""Reading job reports: corrupt or missing reports and sandbox faults are never a crash and
never an `incorrect` verdict."""

from __future__ import annotations

from azr_executor.azr import validate_proposals, verify_items
from azr_executor.azr.jobs import JobOutcome, Unit, chunked, run_units, same_value
from azr_proto.azr import (
    ExecutionOptions,
    Proposal,
    Reason,
    Task,
    ValidationStatus,
    Verdict,
    VerifyItem,
    VerifyOptions,
)
from azr_proto.statuses import RunStatus


class FakeRunner:
    parallelism = 2

    def __init__(self, status: RunStatus, stdout: str = "") -> None:
        self.status, self.stdout, self.calls = status, stdout, 0

    async def run(self, code, stdin, *, timeout_s, memory_limit_mb, avoid_hash_seed=None):
        self.calls += 1
        return JobOutcome(self.status, self.stdout, 7, "boom")


async def test_garbage_on_stdout_is_a_malformed_result_not_a_crash():
    runner = FakeRunner(RunStatus.OK, "AZR-not-the-nonce:{}\n{garbage\n")
    (report,) = await run_units(
        runner, [Unit("def f(x):\n    return x", ["1"])], ExecutionOptions()
    )
    assert report.failure is not None and report.failure.reason is Reason.MALFORMED_RESULT
    proposal = Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=["1"])
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.INVALID and result.reason is Reason.MALFORMED_RESULT


async def test_sandbox_errors_are_retried_once_then_reported_as_such():
    runner = FakeRunner(RunStatus.SANDBOX_ERROR)
    units = [Unit("def f(x):\n    return x", ["1"]), Unit("def f(x):\n    return x", ["2"])]
    reports = await run_units(runner, units, ExecutionOptions())
    assert runner.calls == 2  # one job, one retry; no per-unit re-runs for an outage
    assert all(r.failure and r.failure.reason is Reason.SANDBOX_ERROR for r in reports)
    proposal = Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=["1"])
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.SANDBOX_ERROR and not result.valid
    task = Task(
        task_type="abduction", program="def f(x):\n    return x", inputs=["1"], outputs=["1"]
    )
    induction = Task(
        task_type="induction",
        program="def f(x):\n    return x",
        inputs=["1", "2"],
        outputs=["1", "2"],
    )
    abd, ind = await verify_items(
        runner,
        [
            VerifyItem(task=task, answers=["1", "2"]),
            VerifyItem(task=induction, answers=["def f(x):\n    return x"]),
        ],
        VerifyOptions(),
    )
    assert [v.verdict for v in abd + ind] == [Verdict.SANDBOX_ERROR] * 3


def test_same_value_follows_python_equality_on_literals_only():
    assert (
        same_value("1", "1.0") and same_value("{1: 'a'}", "{1.0: 'a'}") and same_value("True", "1")
    )
    assert not same_value("(1, 2)", "[1, 2]")
    assert not same_value("__import__('os')", "__import__('os')")  # not literals: never equal
    assert same_value("{'b', 'a'}", "{'a', 'b'}")


def test_chunks_keep_every_zygote_busy():
    assert chunked([], 2) == []
    assert [len(c) for c in chunked(list(range(10)), 2)] == [3, 3, 3, 1]
    assert sum(len(c) for c in chunked(list(range(1000)), 2)) == 1000
    assert max(len(c) for c in chunked(list(range(1000)), 2)) <= 64


def test_public_names_are_pinned():
    import azr_executor.azr as azr

    assert sorted(azr.__all__) == [
        "BadTask",
        "JobOutcome",
        "JobRunner",
        "score_learnability",
        "validate_proposals",
        "verify_items",
    ]


async def test_answers_with_the_same_syntax_tree_are_graded_once():
    from azr_executor.azr.verify import answer_key

    program = "def f(x):\n    return x * 2\n"
    variants = [program, "# mine\n" + program, "def f(x):\n    return x*2  # double\n"]
    assert len({answer_key("induction", v) for v in variants}) == 1
    assert answer_key("abduction", "'a',  1") == answer_key("abduction", '"a", 1')
    assert answer_key("induction", "def f(:") == "def f(:"

    class CountingRunner(FakeRunner):
        units = 0

        async def run(self, code, stdin, **kwargs):
            import json

            spec = json.loads(stdin)
            CountingRunner.units += len(spec["units"])
            line = spec["nonce"] + json.dumps(
                {"unit": 0, "load": None, "passes": [[{"repr": "2"}]]}
            )
            return JobOutcome(RunStatus.OK, line, 7)

    task = Task(task_type="induction", program=program, inputs=["0", "1"], outputs=["0", "2"])
    (verdicts,) = await verify_items(
        CountingRunner(RunStatus.OK), [VerifyItem(task=task, answers=variants)], VerifyOptions()
    )
    assert CountingRunner.units == 1
    assert [v.verdict for v in verdicts] == [Verdict.CORRECT] * 3
