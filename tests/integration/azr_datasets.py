"""The vendored benchmark data as AZR proposals and tasks (shared by the AZR integration tests)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from azr_proto.azr import Proposal
from azr_trainer.evals.evalplus import to_source

DATA = Path(__file__).resolve().parents[2] / "data"
WRONG_PROGRAM = "def f(*args):\n    return None\n"


def cruxeval() -> list[dict[str, str]]:
    """The 700 CRUXEval samples: `code` (entry `f`), `input`, `output`, `id`."""
    with (DATA / "cruxeval" / "cruxeval.jsonl").open() as fh:
        return [json.loads(line) for line in fh]


def evalplus(name: str) -> list[dict[str, Any]]:
    """HumanEval+ (`humanevalplus`) or MBPP+ (`mbppplus`) records."""
    file = {"humanevalplus": "HumanEvalPlus.jsonl.gz", "mbppplus": "MbppPlus.jsonl.gz"}[name]
    with gzip.open(DATA / name / file, "rt") as fh:
        return [json.loads(line) for line in fh]


def induction_proposal(record: dict[str, Any], n_inputs: int = 10) -> Proposal:
    """An induction proposal from a canonical solution and the dataset's first inputs.

    The canonical entry keeps its name; a wrapper `def f(*args)` calls it, so the program's
    entry is `f` as AZR expects.
    """
    solution = record["canonical_solution"]
    if f"def {record['entry_point']}" not in solution:  # HumanEval: the body only
        solution = record["prompt"] + solution
    program = f"{solution}\n\ndef f(*args):\n    return {record['entry_point']}(*args)\n"
    inputs = [
        ", ".join(to_source(arg) for arg in args)
        for args in (record["base_input"] + list(record["plus_input"] or []))[:n_inputs]
    ]
    return Proposal(
        task_type="induction", program=program, inputs=inputs, message=record["task_id"]
    )
