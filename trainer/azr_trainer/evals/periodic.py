"""In-training validation: CRUXEval-O (deduction) and CRUXEval-I (abduction), as the reference
logs `val/test_score/cruxeval_{o,i}` every N steps.

`evaluate_cruxeval(model, tokenizer, executor_url, n_items=..., ranks=...)` is a collective:
every training process calls it. Under ZeRO-3 or FSDP the weights are sharded, so generation
needs every rank (`unwrap` gathers them, as TRL's `unwrap_model_for_generation` does). Each rank
generates an equal share of the prompts (padded, so that every rank makes the same generate
calls), the completions are gathered, rank 0 scores them with the executor, and every rank
returns rank 0's metrics, ready to log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from azr_trainer.evals.benchmarks import load_benchmark
from azr_trainer.evals.executor_runner import executor_runner
from azr_trainer.evals.generation import HFGenerator, SamplingParams
from azr_trainer.evals.results import Sample, summarize
from azr_trainer.evals.runner import run_async, score_completions
from azr_trainer.evals.templates import render_prompt
from azr_trainer.ranks import LocalRanks, Ranks

__all__ = ["BENCHMARKS", "evaluate_cruxeval", "sharded_generate"]

BENCHMARKS = ("cruxeval_o", "cruxeval_i")


def sharded_generate(
    generate: Callable[[list[str]], list[list[str]]], prompts: Sequence[str], ranks: Ranks
) -> list[list[str]]:
    """`generate(prompts)` split over the ranks; every rank gets every completion, in order.

    Each rank takes a contiguous share of ceil(n / world) prompts, padded with the first prompt,
    so that the generate calls (collectives under ZeRO-3 and FSDP) are the same on every rank.
    """
    share = math.ceil(len(prompts) / ranks.world) if prompts else 0
    mine = list(prompts[ranks.rank * share : (ranks.rank + 1) * share])
    padded = mine + [prompts[0]] * (share - len(mine)) if share else []
    outs = generate(padded) if padded else []
    gathered = ranks.gather(outs[: len(mine)])
    return [out for part in gathered for out in part]


def evaluate_cruxeval(
    model: Any,
    tokenizer: Any,
    executor_url: str,
    *,
    n_items: int | None = 64,
    max_new_tokens: int = 1024,
    batch_size: int = 8,
    ranks: Ranks | None = None,
    unwrap: Callable[[], AbstractContextManager[Any]] | None = None,
) -> dict[str, float]:
    """Greedy pass@1 (%) on the first `n_items` of CRUXEval-O and CRUXEval-I (a collective).

    Returns `{"val/test_score/cruxeval_o": ..., "val/test_score/cruxeval_i": ...}` on every
    rank. `unwrap()` yields the model to generate with (default: `model` itself). The model is
    put in eval mode for the call and back in train mode afterwards if it was training.
    """
    ranks = ranks or LocalRanks()
    sampling = SamplingParams(max_new_tokens=max_new_tokens)
    was_training = bool(getattr(model, "training", False))
    model.eval()
    items: list[tuple[Any, str, str]] = []
    try:
        with unwrap() if unwrap is not None else nullcontext(model) as generating:
            generator = HFGenerator(generating, tokenizer, batch_size=batch_size)
            for name in BENCHMARKS:
                problems = load_benchmark(name, limit=n_items)
                prompts = [render_prompt(p, "azr") for p in problems]
                outs = sharded_generate(lambda ps: generator.generate(ps, sampling), prompts, ranks)
                for problem, prompt, completions in zip(problems, prompts, outs, strict=True):
                    items.extend((problem, prompt, c) for c in completions)
    finally:
        if was_training:
            model.train()
    metrics: dict[str, float] | None = None
    if ranks.rank == 0:

        async def score() -> list[Sample]:
            async with executor_runner(executor_url) as runner:
                return await score_completions(items, runner)

        scores = summarize(run_async(score))
        metrics = {f"val/test_score/{s.benchmark}": s.pass_at[1] for s in scores}
    return ranks.broadcast(metrics) or {}
