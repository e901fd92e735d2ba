"""AZR semantics on public data: CRUXEval as deduction/abduction, HumanEval+ and MBPP+ as
induction, through the real executor over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azr_datasets import WRONG_PROGRAM, cruxeval, evalplus, induction_proposal
from azr_executor.azr.validate import same_output
from azr_proto.azr import (
    Proposal,
    Task,
    ValidateRequest,
    Verdict,
    VerifyItem,
    VerifyRequest,
)
from azr_proto.executor_client import ExecutorClient
from azr_proto.literals import LiteralError, parse_arguments, parse_literal
from azr_trainer.evals.evalplus import to_source

pytestmark = pytest.mark.slow
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cruxeval_invalid.json"


def test_the_literal_grammar_reads_the_benchmarks_inputs_and_outputs():
    """The measurement behind proto/README.md's table: which real inputs and outputs are data."""
    rejected = {}
    for s in cruxeval():
        for kind, text, read in (
            ("input", s["input"], parse_arguments),
            ("output", s["output"], parse_literal),
        ):
            try:
                read(text)
            except LiteralError as exc:
                rejected[(s["id"], kind)] = str(exc)
    assert sorted(rejected) == [
        (sid, "input") for sid in ("sample_258", "sample_344", "sample_364", "sample_522",
                                   "sample_720", "sample_770")
    ]  # fmt: skip
    for name, n_inputs in (("humanevalplus", 124_253), ("mbppplus", 41_015)):
        sources = [", ".join(to_source(a) for a in args)
                   for r in evalplus(name) for args in r["base_input"] + list(r["plus_input"] or [])]  # fmt: skip
        assert len(sources) == n_inputs
        for source in sources:
            parse_arguments(source)  # every one is data (non-finite floats as float('inf'))


async def test_cruxeval_validates_as_deduction_with_the_dataset_outputs(executor_server):
    samples = cruxeval()
    assert len(samples) == 700
    proposals = [
        Proposal(task_type="deduction", program=s["code"], inputs=[s["input"]]) for s in samples
    ]
    async with ExecutorClient(executor_server.url, timeout_s=600) as client:
        resp = await client.azr_validate(ValidateRequest(proposals=proposals))
    invalid = {s["id"]: r.reason for s, r in zip(samples, resp.results, strict=True) if not r.valid}
    expected = json.loads(FIXTURE.read_text())
    expected.pop("_comment")
    assert invalid == {sid: entry["reason"] for sid, entry in expected.items()}
    valid = [(s, r) for s, r in zip(samples, resp.results, strict=True) if r.valid]
    assert len(valid) == 693
    mismatched = [s["id"] for s, r in valid if not same_output(r.outputs[0], s["output"])]
    assert mismatched == []


def _perturb_output(output: str) -> str:
    return f"[{output}, 0]"  # a literal that never equals the original value


async def test_cruxeval_answers_verify(executor_server):
    invalid = set(json.loads(FIXTURE.read_text()))
    samples = [s for s in cruxeval() if s["id"] not in invalid]
    items = []
    for s in samples:
        args = dict(program=s["code"], inputs=[s["input"]], outputs=[s["output"]])
        items.append(
            VerifyItem(
                task=Task(task_type="deduction", **args),
                answers=[s["output"], _perturb_output(s["output"])],
            )
        )
        # a perturbed input: the dataset's arguments plus one extra, or a different first value
        items.append(
            VerifyItem(
                task=Task(task_type="abduction", **args),
                answers=[s["input"], f"{s['input']}, None"],
            )
        )
    async with ExecutorClient(executor_server.url, timeout_s=600) as client:
        resp = await client.azr_verify(VerifyRequest(items=items))
    right = [r.verdicts[0].verdict for r in resp.results]
    wrong = [r.verdicts[1].verdict for r in resp.results]
    assert right.count(Verdict.CORRECT) == len(items)
    assert Verdict.CORRECT not in wrong
    assert Verdict.SANDBOX_ERROR not in wrong


@pytest.mark.parametrize("dataset", ["humanevalplus", "mbppplus"])
async def test_evalplus_canonical_solutions_verify_as_induction(executor_server, dataset):
    records = evalplus(dataset)[::12]  # a sample: every 12th task keeps the suite fast
    proposals = [induction_proposal(r) for r in records]
    async with ExecutorClient(executor_server.url, timeout_s=600) as client:
        validated = await client.azr_validate(ValidateRequest(proposals=proposals))
        tasks = [
            Task(task_type="induction", program=p.program, inputs=p.inputs, outputs=r.outputs or [], message=p.message)
            for p, r in zip(proposals, validated.results, strict=True)
            if r.valid
        ]  # fmt: skip
        invalid = [
            (p.message, r.reason)
            for p, r in zip(proposals, validated.results, strict=True)
            if not r.valid
        ]
        assert len(tasks) >= 0.75 * len(proposals), invalid
        canonical = [VerifyItem(task=t, answers=[t.program, WRONG_PROGRAM]) for t in tasks]
        verified = await client.azr_verify(VerifyRequest(items=canonical))
    assert [r.verdicts[0].verdict for r in verified.results] == [Verdict.CORRECT] * len(tasks)
    assert [r.verdicts[1].verdict for r in verified.results] == [Verdict.INCORRECT] * len(tasks)
