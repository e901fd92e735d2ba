"""Reading job reports: corrupt or missing reports and sandbox faults are never a crash and
never an `incorrect` verdict."""

from __future__ import annotations

import json
import marshal

from azr_executor.azr import validate_proposals, verify_items
from azr_executor.azr.inputs import read_input
from azr_executor.azr.jobs import JobOutcome, Unit, chunked, run_units
from azr_executor.azr.validate import same_output
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


def call(source: str) -> bytes:
    encoded = read_input(source)
    assert isinstance(encoded, bytes)
    return encoded


def spec_of(stdin: bytes) -> dict:
    spec = marshal.loads(stdin)
    spec["nonce"] = spec["nonce"].decode()
    return spec


def line(nonce: str, index: object, body: object, end: str = "exit") -> str:
    """One report line as the harness's parent writes it (body: the unit's JSON text)."""
    header = {"end": end, "code": 0, "signal": 0, "wall_ms": 1.0, "cpu_ms": 1.0, "rss_kb": 1}
    text = body if isinstance(body, str) else json.dumps(body)
    return f"{nonce}{index}:{json.dumps(header)}\t{text}"


class FakeRunner:
    parallelism = 2

    def __init__(self, status: RunStatus, stdout: str = "") -> None:
        self.status, self.stdout, self.calls = status, stdout, 0

    async def run(
        self, code, stdin, *, timeout_s, memory_limit_mb, avoid_hash_seed=None, member=None
    ):
        self.calls += 1
        return JobOutcome(self.status, self.stdout, 7, "boom")


async def test_garbage_on_stdout_is_a_malformed_result_not_a_crash():
    runner = FakeRunner(RunStatus.OK, "AZR-not-the-nonce:{}\n{garbage\n")
    (report,) = await run_units(
        runner, [Unit("def f(x):\n    return x", [call("1")])], ExecutionOptions()
    )
    assert report.failure is not None and report.failure.reason is Reason.MALFORMED_RESULT
    proposal = Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=["1"])
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.INVALID and result.reason is Reason.MALFORMED_RESULT


async def test_sandbox_errors_are_retried_once_then_reported_as_such():
    runner = FakeRunner(RunStatus.SANDBOX_ERROR)
    units = [
        Unit("def f(x):\n    return x", [call("1")]),
        Unit("def f(x):\n    return x", [call("2")]),
    ]
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


def test_same_output_follows_python_equality_on_literals_only():
    assert (
        same_output("1", "1.0")
        and same_output("{1: 'a'}", "{1.0: 'a'}")
        and same_output("True", "1")
    )
    assert not same_output("(1, 2)", "[1, 2]")
    assert not same_output("__import__('os')", "__import__( 'os')")  # not literals: never equal
    assert same_output("{'b', 'a'}", "{'a', 'b'}")


def test_chunks_keep_every_zygote_busy():
    assert chunked([], 2) == []
    assert chunked(list(range(10)), 2) == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    assert chunked(list(range(3)), 2) == [[0], [1], [2]]
    assert sum(len(c) for c in chunked(list(range(1000)), 2)) == 1000
    assert max(len(c) for c in chunked(list(range(1000)), 2)) <= 64


def test_public_names_are_pinned():
    import azr_executor.azr as azr

    assert sorted(azr.__all__) == [
        "BadTask",
        "JobOutcome",
        "JobRunner",
        "forget_remembered",
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
            spec = spec_of(stdin)
            CountingRunner.units += len(spec["units"])
            out = line(spec["nonce"], 0, {"load": None, "passes": [[{"repr": "2"}]]})
            return JobOutcome(RunStatus.OK, out, 7)

    task = Task(task_type="induction", program=program, inputs=["0", "1"], outputs=["0", "2"])
    (verdicts,) = await verify_items(
        CountingRunner(RunStatus.OK), [VerifyItem(task=task, answers=variants)], VerifyOptions()
    )
    assert CountingRunner.units == 1
    assert [v.verdict for v in verdicts] == [Verdict.CORRECT] * 3


async def test_a_corrupt_unit_report_costs_that_unit_only_and_is_a_crash():
    # The JSON of unit 1 is cut short; lines for units 7 and x do not exist.
    class Runner(FakeRunner):
        async def run(self, code, stdin, **kwargs):
            nonce = spec_of(stdin)["nonce"]
            good = json.dumps({"load": None, "passes": [[{"repr": "2"}]]})
            lines = [line(nonce, 0, good), line(nonce, 1, good[:-3]), line(nonce, 7, good),
                     line(nonce, "x", good)]  # fmt: skip
            return JobOutcome(RunStatus.OK, "\n".join(lines), 7)

    units = [Unit("def f(x):\n    return x", [call("2")]) for _ in range(2)]
    first, second = await run_units(Runner(RunStatus.OK), units, ExecutionOptions())
    assert first.failure is None and first.passes[0][0].output == "2"
    assert second.failure is not None and second.failure.reason is Reason.CRASHED


async def test_a_program_that_corrupts_its_own_report_is_crashed(runner):
    # Real harness (as a subprocess): the program writes a stray "{" into every descriptor it
    # can, its own result pipe included, so its process's JSON is corrupt but has no newline.
    attacker = (
        "import os\n"
        "def f(x):\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, b'{')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return x\n"
    )
    units = [Unit(attacker, [call("1")]), Unit("def f(x):\n    return x", [call("5")])]
    bad, good = await run_units(runner, units, ExecutionOptions())
    assert bad.failure is not None and bad.failure.reason is Reason.CRASHED
    assert good.failure is None and good.passes[0][0].output == "5"


class EchoRunner(FakeRunner):
    """Every call returns its input; records each job as (pair role, passes, avoided seed) and
    runs it with seed `seed(avoid, role)`: a runner that may not honour pairs, or even `avoid`."""

    def __init__(self, seed, output=lambda args: repr(args[0])) -> None:
        super().__init__(RunStatus.OK)
        self.seed, self.output, self.jobs, self.modes = seed, output, [], []

    async def run(self, code, stdin, *, avoid_hash_seed=None, member=None, **kwargs):
        spec = spec_of(stdin)
        role = None if member is None else ("leader" if member.lead else "follower")
        self.jobs.append((role, spec["units"][0]["passes"], avoid_hash_seed))
        self.modes.append((role, spec["units"][0]["mode"], spec["units"][0]["reverse"]))
        lines = []
        for i, unit in enumerate(spec["units"]):
            outputs = [{"repr": self.output(marshal.loads(c)[0])} for c in unit["calls"]]
            body = {"load": None, "passes": [outputs] * unit["passes"]}
            lines.append(line(spec["nonce"], i, body))
        return JobOutcome(RunStatus.OK, "\n".join(lines), self.seed(avoid_hash_seed, role))


async def test_validation_runs_jobs_a_and_b_as_a_pair():
    runner = EchoRunner(lambda avoid, role: 12 if role == "follower" else 11)
    proposal = Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=["1"])
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.VALID and result.outputs == ["1"]
    # B (one pass) leads, A (two passes) follows; no third job when the runner honours the pair
    assert sorted(runner.jobs) == [("follower", 2, None), ("leader", 1, None)]
    # B runs the inputs in reverse order on a fresh exec each (the default), or (with
    # `fresh_process_per_call`) forks each of several inputs; A runs them in order, twice over
    induction = Proposal(
        task_type="induction", program="def f(x):\n    return x", inputs=["1", "2"], message="m"
    )
    for fresh, b_mode in ((True, ("forked", False)), (False, ("fresh", True))):
        runner.jobs.clear()
        runner.modes.clear()
        (result,) = await validate_proposals(
            runner, [induction], ExecutionOptions(fresh_process_per_call=fresh)
        )
        assert result.status is ValidationStatus.VALID and result.outputs == ["1", "2"]
        assert sorted(runner.jobs) == [("follower", 2, None), ("leader", 1, None)]
        assert sorted(runner.modes) == [("follower", "shared", False), ("leader", *b_mode)]


async def test_validation_runs_b_again_when_the_pair_got_one_hash_seed():
    # A runner that ignores pairs gave A and B the same seed: B runs again, avoiding it.
    runner = EchoRunner(lambda avoid, role: 5 if avoid is None else 6)
    proposal = Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=["1"])
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.VALID
    assert len(runner.jobs) == 3 and runner.jobs[2] == (None, 1, 5)
    # ... and when no other seed can be had, the proposal is a sandbox error, never valid
    stuck = EchoRunner(lambda avoid, role: 5)
    (result,) = await validate_proposals(stuck, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.SANDBOX_ERROR and not result.valid
    assert "another hash seed" in result.message


async def test_equal_output_reprs_must_still_be_literals():
    # Identical reprs are compared as text, but a valid proposal's outputs are still literals:
    # a report that says `<object at 0x1>` in every process (a forged one) is refused.
    runner = EchoRunner(
        lambda avoid, role: 12 if role == "follower" else 11, lambda c: "<f at 0x1>"
    )
    proposal = Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=["1"])
    (result,) = await validate_proposals(runner, [proposal], ExecutionOptions())
    assert result.status is ValidationStatus.INVALID and result.reason is Reason.OUTPUT_NOT_LITERAL


async def test_the_first_chunks_jobs_start_before_the_other_chunks_are_checked(monkeypatch):
    from azr_executor.azr import validate

    log = []
    check = validate.read_proposal

    def logged_check(proposal, options, checker):
        log.append("check")
        return check(proposal, options, checker)

    class Runner(EchoRunner):
        async def run(self, code, stdin, **kwargs):
            log.append("run")
            return await super().run(code, stdin, **kwargs)

    monkeypatch.setattr(validate, "read_proposal", logged_check)
    proposals = [
        Proposal(task_type="deduction", program="def f(x):\n    return x", inputs=[str(i)])
        for i in range(8)
    ]
    runner = Runner(lambda avoid, role: 12 if role == "follower" else 11)
    results = await validate_proposals(runner, proposals, ExecutionOptions())
    assert all(r.valid for r in results)
    # 4 chunks of 2: the first chunk's pair is submitted right after its own 2 checks
    assert log[:4] == ["check", "check", "run", "run"] and log.count("check") == 8


def test_literal_values_are_remembered_and_non_literals_still_refused():
    import pytest
    from azr_executor.azr.inputs import literal_value
    from azr_proto.literals import LiteralError

    value = literal_value("[1, (2.0, 'x')]")
    assert value == [1, (2.0, "x")] and literal_value("[1, (2.0, 'x')]") is value
    for text in ("foo()", "[1, 2"):
        for _ in range(2):  # a failure is never remembered as a value
            with pytest.raises(LiteralError):
                literal_value(text)
    assert not same_output("foo()", "foo( )") and same_output("1", "1.0")


async def test_the_answers_of_one_induction_task_are_spread_over_jobs(runner):
    # A costly task's answers all in one job would make that job alone set the phase's wall
    # time while the other zygote idles (issue 20): they are dealt one by one.
    task = Task(task_type="induction", program="def f(x):\n    return x + 1\n",
                inputs=["1", "2"], outputs=["2", "3"])  # fmt: skip
    answers = [f"def f(x):\n    return x + {1 if k < 4 else 2}\nK = {k}\n" for k in range(8)]
    units_per_job: list[int] = []
    run = runner.run

    async def recording(code, stdin, **kwargs):
        units_per_job.append(len(spec_of(stdin)["units"]))
        return await run(code, stdin, **kwargs)

    runner.run = recording
    (verdicts,) = await verify_items(runner, [VerifyItem(task=task, answers=answers)],
                                     VerifyOptions())  # fmt: skip
    assert len(units_per_job) >= 2 * runner.parallelism and max(units_per_job) <= 2
    assert [v.verdict for v in verdicts] == [Verdict.CORRECT] * 4 + [Verdict.INCORRECT] * 4
