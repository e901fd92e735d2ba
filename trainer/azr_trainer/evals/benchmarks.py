"""Loads the paper's evaluation benchmarks from the vendored `data/` folder into `Problem`s.

Every benchmark becomes a list of `Problem`s of one `kind`:

- ``math``: the problem text and its gold answers (graded with math-verify);
- ``code``: an EvalPlus problem (HumanEval+, MBPP+) with its canonical solution and test inputs,
  or a LiveCodeBench problem from a local file (LiveCodeBench is not vendored: see the README);
- ``cruxeval_o`` (deduction: predict the output) and ``cruxeval_i`` (abduction: find an input).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import logging
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

__all__ = [
    "BENCHMARKS",
    "CODE_BENCHMARKS",
    "MATH_BENCHMARKS",
    "Problem",
    "default_data_dir",
    "load_benchmark",
]

Kind = Literal["math", "code", "cruxeval_o", "cruxeval_i"]

MATH_BENCHMARKS = ("aime24", "aime25", "amc23", "math500", "minerva_math", "olympiadbench")
CODE_BENCHMARKS = ("humanevalplus", "mbppplus", "livecodebench")
CRUXEVAL_BENCHMARKS = ("cruxeval_o", "cruxeval_i")
BENCHMARKS = CRUXEVAL_BENCHMARKS + CODE_BENCHMARKS[:2] + MATH_BENCHMARKS + CODE_BENCHMARKS[2:]


@dataclass(frozen=True)
class Problem:
    """One benchmark item, with what the prompt shows and what the grader needs.

    `question` is the text put into the template. `gold` holds the reference answers: math answers
    (any one may match), the CRUXEval output or input, or the canonical solution of a code problem.
    `tests` holds the argument lists (Python values) of a code problem; `meta` anything else.
    """

    benchmark: str
    id: str
    kind: Kind
    question: str
    gold: tuple[str, ...]
    entry_point: str = ""
    tests: tuple[tuple[Any, ...], ...] = ()
    atol: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


def default_data_dir() -> Path:
    """`$AZR_DATA_DIR`, else the `data/` folder of this checkout, else `./data`."""
    env = os.environ.get("AZR_DATA_DIR")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[3] / "data"
    return checkout if checkout.is_dir() else Path("data")


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _fmt_number(value: Any) -> str:
    """AMC23 stores answers as floats (27.0): write integral ones as integers."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _math(name: str, data_dir: Path) -> list[Problem]:
    out = []
    for i, row in enumerate(_jsonl(data_dir / "math" / name / "test.jsonl")):
        if name == "olympiadbench":
            question, gold = row["question"], tuple(row["final_answer"])
            # Each listed answer may itself be "a, b"; several listed answers form one tuple.
            if row.get("is_multiple_answer") and len(gold) > 1:
                gold = (", ".join(gold),)
            meta = {"unit": row.get("unit"), "answer_type": row.get("answer_type")}
        elif name == "minerva_math":
            from azr_trainer.evals.extraction import last_boxed

            question, meta = row["problem"], {"type": row["type"]}
            boxed = last_boxed(row["solution"])
            gold = (boxed,) if boxed is not None else ()
        else:
            question, gold, meta = row["problem"], (_fmt_number(row["answer"]),), {}
        pid = str(row.get("id", row.get("unique_id", row.get("idx", i))))
        out.append(Problem(name, pid, "math", question, gold, meta=meta))
    return out


def _cruxeval(name: str, data_dir: Path) -> list[Problem]:
    kind: Kind = "cruxeval_o" if name == "cruxeval_o" else "cruxeval_i"
    out = []
    for row in _jsonl(data_dir / "cruxeval" / "cruxeval.jsonl"):
        gold = row["output"] if kind == "cruxeval_o" else row["input"]
        meta = {"code": row["code"], "input": row["input"], "output": row["output"]}
        out.append(Problem(name, row["id"], kind, row["code"], (gold,), entry_point="f", meta=meta))
    return out


def _evalplus(name: str, data_dir: Path) -> list[Problem]:
    from azr_trainer.evals.evalplus import deserialize_mbpp_inputs

    path = (
        data_dir / "humanevalplus" / "HumanEvalPlus.jsonl.gz"
        if name == "humanevalplus"
        else data_dir / "mbppplus" / "MbppPlus.jsonl.gz"
    )
    out = []
    for row in _jsonl(path):
        inputs = list(row["base_input"]) + list(row["plus_input"] or [])
        if name == "mbppplus":
            inputs = deserialize_mbpp_inputs(row["task_id"], inputs)
            solution = row["canonical_solution"]
        else:
            solution = row["prompt"] + row["canonical_solution"]
        out.append(
            Problem(
                name,
                row["task_id"],
                "code",
                row["prompt"].strip(),
                (solution,),
                entry_point=row["entry_point"],
                tests=tuple(tuple(args) for args in inputs),
                atol=float(row["atol"] or 0.0),
                meta={"n_base": len(row["base_input"])},
            )
        )
    return out


class _StrOnlyUnpickler(pickle.Unpickler):
    """Refuses every global: a packed LiveCodeBench test field may only hold plain data."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from test data")


def _unpickle_str(blob: bytes) -> str:
    value = _StrOnlyUnpickler(io.BytesIO(blob)).load()
    if not isinstance(value, str):
        raise ValueError("packed LiveCodeBench test cases are not a JSON string")
    return value


def _livecodebench(path: Path) -> list[Problem]:
    """LiveCodeBench code generation from a local JSONL (the HF `code_generation_lite` rows).

    Only stdin/stdout problems are scored here (the reference also scores functional ones);
    public and private test cases are both used; private ones may be base64/zlib-packed JSON.
    """
    import base64
    import zlib

    out = []
    skipped = 0
    for row in _jsonl(path):
        cases = json.loads(row["public_test_cases"]) if row.get("public_test_cases") else []
        private = row.get("private_test_cases") or ""
        if private:
            try:
                cases += json.loads(private)
            except json.JSONDecodeError:
                # The published files pack private cases as base64(zlib(pickle(json str))).
                # The pickle holds only a str; it comes from the user's own local copy.
                cases += json.loads(_unpickle_str(zlib.decompress(base64.b64decode(private))))
        stdin_cases = [c for c in cases if c.get("testtype", "stdin") == "stdin"]
        if not stdin_cases:
            skipped += 1
            continue
        tests = tuple((c["input"], c["output"]) for c in stdin_cases)
        question = row["question_content"]
        if row.get("starter_code"):
            question += "\n\n" + row["starter_code"]
        out.append(
            Problem(
                "livecodebench",
                str(row["question_id"]),
                "code",
                question,
                (),
                tests=tests,
                meta={"io": "stdin", "contest_date": row.get("contest_date")},
            )
        )
    if skipped:
        logger.info("livecodebench: skipped %d functional-style problems (stdin only)", skipped)
    return out


@functools.lru_cache(maxsize=16)
def _load_all(name: str, data_dir: Path, livecodebench_path: Path | None) -> tuple[Problem, ...]:
    if name in MATH_BENCHMARKS:
        return tuple(_math(name, data_dir))
    if name in CRUXEVAL_BENCHMARKS:
        return tuple(_cruxeval(name, data_dir))
    if name in ("humanevalplus", "mbppplus"):
        return tuple(_evalplus(name, data_dir))
    if name == "livecodebench":
        if livecodebench_path is None:
            raise ValueError(
                "LiveCodeBench is not vendored (no offline copy); pass --livecodebench PATH "
                "to a local JSONL of its code_generation_lite release"
            )
        return tuple(_livecodebench(livecodebench_path))
    raise ValueError(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")


def load_benchmark(
    name: str,
    *,
    data_dir: Path | None = None,
    limit: int | None = None,
    livecodebench_path: Path | None = None,
) -> list[Problem]:
    """Load the `limit` first problems of benchmark `name` (one of `BENCHMARKS`).

    >>> load_benchmark("aime24", limit=1)[0].gold
    ('204',)
    """
    problems = _load_all(name, (data_dir or default_data_dir()).resolve(), livecodebench_path)
    return list(problems[:limit] if limit is not None else problems)
