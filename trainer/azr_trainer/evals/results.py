"""Verdicts, pass@k, the paper-style results table and the JSON dump of a run."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from azr_trainer.evals.benchmarks import CODE_BENCHMARKS, MATH_BENCHMARKS

__all__ = [
    "BenchmarkScore",
    "Sample",
    "pass_at_k",
    "render_table",
    "summarize",
    "write_json",
]


@dataclass
class Sample:
    """One completion of one problem, what was extracted from it, and the verdict."""

    benchmark: str
    problem_id: str
    prompt: str
    completion: str
    extracted: str | None
    correct: bool
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkScore:
    """pass@k (in %) per k for one benchmark, over `n_problems` problems."""

    benchmark: str
    n_problems: int
    n_samples: int
    pass_at: dict[int, float]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `c` correct of `n` samples (Chen et al. 2021).

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4)
    (0.25, 1.0)
    """
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def summarize(samples: Sequence[Sample], ks: Sequence[int] = (1,)) -> list[BenchmarkScore]:
    """Per-benchmark pass@k (in %), in the order benchmarks first appear in `samples`."""
    per: dict[str, dict[str, list[bool]]] = {}
    for s in samples:
        per.setdefault(s.benchmark, {}).setdefault(s.problem_id, []).append(s.correct)
    scores = []
    for bench, problems in per.items():
        n_min = min(len(v) for v in problems.values())
        pass_at = {
            k: 100.0 * sum(pass_at_k(len(v), sum(v), k) for v in problems.values()) / len(problems)
            for k in ks
            if k <= n_min
        }
        scores.append(BenchmarkScore(bench, len(problems), n_min, pass_at))
    return scores


def _avg(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def averages(scores: Sequence[BenchmarkScore], k: int = 1) -> dict[str, float | None]:
    """The paper's rows: code avg, math avg, and total = (code + math) / 2.

    Each average is over the benchmarks of that group present in `scores` (the paper's code
    average has three: HumanEval+, MBPP+, LiveCodeBench; its math average six).
    """
    by = {s.benchmark: s.pass_at[k] for s in scores if k in s.pass_at}
    code = _avg([by[b] for b in CODE_BENCHMARKS if b in by])
    math_ = _avg([by[b] for b in MATH_BENCHMARKS if b in by])
    total = (code + math_) / 2 if code is not None and math_ is not None else None
    return {"code_avg": code, "math_avg": math_, "total_avg": total}


def render_table(scores: Sequence[BenchmarkScore], k: int = 1) -> str:
    """A Markdown table: one row per benchmark, then code avg, math avg and total avg."""
    lines = [f"| benchmark | problems | pass@{k} (%) |", "|---|---:|---:|"]
    for s in scores:
        cell = f"{s.pass_at[k]:.1f}" if k in s.pass_at else "n/a"
        lines.append(f"| {s.benchmark} | {s.n_problems} | {cell} |")
    for name, value in averages(scores, k).items():
        if value is not None:
            lines.append(f"| **{name.replace('_', ' ')}** | | **{value:.1f}** |")
    return "\n".join(lines)


def write_json(
    path: Path, samples: Sequence[Sample], scores: Sequence[BenchmarkScore], config: dict[str, Any]
) -> None:
    """Write the run: its config, the scores, the paper's averages, and every sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ks = sorted({k for s in scores for k in s.pass_at})
    doc = {
        "config": config,
        "scores": [asdict(s) for s in scores],
        "averages": {f"pass@{k}": averages(scores, k) for k in ks},
        "samples": [asdict(s) for s in samples],
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)
