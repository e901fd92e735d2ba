"""The toy learning experiment: held-out metrics before and after self-play, over seeds.

For each seed: build (or reuse) the warm start of that seed, measure it on the fixed held-out
set, run `steps` AZR self-play steps from it with the `toy` preset, and measure the final
model on the same set. Every verdict comes from the executor. The summary gives, per metric,
the mean and the spread (min..max) across seeds, before and after.

    python bench/toy_learning.py --seeds 0 1 2 --steps 20
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr_trainer.toy.heldout import evaluate, make_heldout
from azr_trainer.toy.oracle import Oracle
from azr_trainer.toy.session import judge_session
from azr_trainer.toy.warmstart import WarmstartConfig, ensure_warmstart, load_warmstart

__all__ = ["SeedResult", "run_experiment", "summarize"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedResult:
    """Held-out metrics of one seed before and after self-play, and where the run lies."""

    seed: int
    before: dict[str, float]
    after: dict[str, float]
    run_dir: str
    steps: int
    selfplay_cpu_s: float  # CPU seconds of this process (the trainer) during self-play


def run_experiment(
    out_dir: Path,
    *,
    seeds: list[int],
    steps: int,
    models_dir: Path,
    executor_url: str | None = None,
    overrides: list[str] | None = None,
    n_samples: int = 4,
    n_per_type: int = 32,
    n_proposals: int = 32,
    recipe: Callable[[int], WarmstartConfig] | None = None,
    corpus_oracle: Oracle | None = None,
    warmstart_seed: int | None = None,
) -> list[SeedResult]:
    """Run the experiment for every seed; results are also appended to out_dir/results.jsonl.

    `recipe(seed)` is the warm start of a seed (default: the default recipe); `corpus_oracle`
    computes its corpus (default: the executor). With `warmstart_seed`, every seed starts
    from that seed's warm start and only self-play (and sampling) varies across seeds. `n_per_type` held-out tasks per type are each
    answered `n_samples` times; `n_proposals` proposer prompts per type are validated.
    """
    import torch

    from azr_trainer.config import load_config
    from azr_trainer.train import main as train_main

    # One thread, as the trainer runs on CPU (cpu_threads): the executor needs the other core.
    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[SeedResult] = []
    with judge_session(out_dir / "services", executor_url=executor_url) as s:
        for seed in seeds:
            ws_seed = seed if warmstart_seed is None else warmstart_seed
            config = recipe(ws_seed) if recipe else WarmstartConfig(seed=ws_seed)
            oracle = corpus_oracle or s.oracle()
            heldout = make_heldout(
                oracle,
                n_per_type=n_per_type,
                n_inputs=config.corpus.n_inputs,
                max_steps=config.corpus.max_steps,
                world=config.corpus.world,
            )
            ws = ensure_warmstart(models_dir, config, oracle, exclude=heldout.task_keys())
            model, tok = load_warmstart(ws.path)
            opts: dict[str, Any] = {
                "n_samples": n_samples,
                "n_proposals": n_proposals,
                "n_inputs": config.corpus.n_inputs,
                "seed": seed,
            }
            before = evaluate(model, tok, heldout, s.judge, s.call, **opts)
            run_dir = out_dir / f"seed-{seed}"
            cfg = load_config(
                preset="toy",
                overrides=[
                    f"model={ws.path}",
                    f"output_dir={run_dir}",
                    f"seed={seed}",
                    f"max_steps={steps}",
                    f"n_induction_inputs={config.corpus.n_inputs}",
                    f"executor_urls={s.executor_url}",
                    "live_console=false",
                    "resume=false",
                    *(overrides or []),
                ],
            )
            cpu0 = time.process_time()
            run = train_main(cfg)
            selfplay_cpu_s = time.process_time() - cpu0
            model, tok = load_warmstart(run.output_dir / "final")
            after = evaluate(model, tok, heldout, s.judge, s.call, **opts)
            result = SeedResult(
                seed, before, after, str(run.output_dir), run.steps, round(selfplay_cpu_s, 1)
            )
            with (out_dir / "results.jsonl").open("a") as f:
                f.write(json.dumps(result.__dict__) + "\n")
            logger.info("seed %d: before %s after %s", seed, before, after)
            results.append(result)
    return results


def summarize(results: list[SeedResult]) -> dict[str, dict[str, Any]]:
    """Per metric: mean, min and max across seeds, before and after, and the mean change."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(results[0].before):
        b = [r.before[key] for r in results]
        a = [r.after[key] for r in results]
        out[key] = {
            "before_mean": statistics.fmean(b),
            "before_range": (min(b), max(b)),
            "after_mean": statistics.fmean(a),
            "after_range": (min(a), max(a)),
            "delta_mean": statistics.fmean(y - x for x, y in zip(b, a, strict=True)),
            "improved_seeds": sum(y > x for x, y in zip(b, a, strict=True)),
        }
    return out
