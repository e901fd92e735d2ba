"""Runs an evaluation: load benchmarks, render prompts, generate, score, summarize, write.

`run_eval` is what `azr eval` and the trainer's periodic evaluation call. Generation happens
first (it holds the accelerator); scoring then runs concurrently against the executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from azr_trainer.evals.benchmarks import BENCHMARKS, Problem, load_benchmark
from azr_trainer.evals.generation import Generator, SamplingParams
from azr_trainer.evals.results import BenchmarkScore, Sample, summarize
from azr_trainer.evals.scoring import Judge, TestRunner
from azr_trainer.evals.templates import Template, render_prompt

__all__ = ["EvalConfig", "EvalReport", "run_async", "run_eval", "score_completions"]

logger = logging.getLogger(__name__)

DEFAULT_BENCHMARKS = tuple(b for b in BENCHMARKS if b != "livecodebench")

T = TypeVar("T")


@dataclass
class EvalConfig:
    """What to evaluate and how. `limit` keeps the first N problems of each benchmark."""

    benchmarks: tuple[str, ...] = DEFAULT_BENCHMARKS
    template: Template = "azr"
    limit: int | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    ks: tuple[int, ...] = (1,)
    data_dir: Path | None = None
    livecodebench_path: Path | None = None

    def __post_init__(self) -> None:
        if not self.benchmarks:
            raise ValueError("no benchmark selected")
        unknown = [b for b in self.benchmarks if b not in BENCHMARKS]
        if unknown:
            raise ValueError(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)}")
        too_big = [k for k in self.ks if k > self.sampling.n]
        if too_big:
            raise ValueError(f"pass@{too_big[0]} needs --n >= {too_big[0]} samples per problem")


@dataclass
class EvalReport:
    """Every sample and the per-benchmark scores of one evaluation."""

    samples: list[Sample]
    scores: list[BenchmarkScore]
    seconds: dict[str, float]


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when a loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()  # type: ignore[arg-type]


async def score_completions(
    items: Sequence[tuple[Problem, str, str]], runner: TestRunner | None, **judge_kwargs: Any
) -> list[Sample]:
    """Score (problem, prompt, completion) triples concurrently; order is kept."""
    judge = Judge(runner, **judge_kwargs)
    verdicts = await asyncio.gather(*(judge.score(p, c) for p, _, c in items))
    return [
        Sample(p.benchmark, p.id, prompt, c, v.extracted, v.correct, v.detail)
        for (p, prompt, c), v in zip(items, verdicts, strict=True)
    ]


def run_eval(
    generator: Generator,
    runner_factory: Callable[[], Any] | None,
    cfg: EvalConfig,
) -> EvalReport:
    """Generate and score every selected benchmark.

    `runner_factory` returns an async context manager yielding a `TestRunner` (it is entered
    inside the scoring event loop, so its HTTP client lives there); None for math-only runs.
    """
    seconds: dict[str, float] = {}
    items: list[tuple[Problem, str, str]] = []
    for name in cfg.benchmarks:
        problems = load_benchmark(
            name, data_dir=cfg.data_dir, limit=cfg.limit, livecodebench_path=cfg.livecodebench_path
        )
        prompts = [render_prompt(p, cfg.template) for p in problems]
        logger.info("%s: generating for %d problems", name, len(prompts))
        t0 = time.perf_counter()
        completions = generator.generate(prompts, cfg.sampling)
        seconds[f"generate/{name}"] = time.perf_counter() - t0
        logger.info("generated %d x %d completions for %s", len(prompts), cfg.sampling.n, name)
        for problem, prompt, outs in zip(problems, prompts, completions, strict=True):
            items.extend((problem, prompt, c) for c in outs)

    needs_runner = any(p.kind != "math" for p, _, _ in items)
    if needs_runner and runner_factory is None:
        raise ValueError("code and CRUXEval benchmarks need an executor (--executor-url)")

    async def _score() -> list[Sample]:
        if not needs_runner or runner_factory is None:
            return await score_completions(items, None)
        async with runner_factory() as runner:
            return await score_completions(items, runner)

    t0 = time.perf_counter()
    samples = run_async(_score)
    seconds["score"] = time.perf_counter() - t0
    return EvalReport(samples, summarize(samples, cfg.ks), seconds)


def config_dict(cfg: EvalConfig, **extra: Any) -> dict[str, Any]:
    """A JSON-able view of `cfg` for the results file."""
    doc = asdict(cfg)
    doc.update(extra)
    return doc
