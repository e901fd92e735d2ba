"""Run by `torchrun --nproc_per_node 2` from test_trainer_ddp.py: two AZR steps, gloo, CPU,
and the in-training CRUXEval evaluation after the second.

Each rank writes what the test checks to `<out>/rank<k>.json`.

A random tiny model only writes format errors, so every real reward would be -1 and every
advantage 0, which cannot tell global normalization from per-rank normalization. The rewards are
therefore replaced by known values that differ between the ranks (`_scripted_reward`); everything
else (generation, judging, the gather, TRR++, the update) is the real code path.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import azr_trainer.trainer as trainer_mod
import torch
from azr_trainer.config import load_config
from azr_trainer.evals.generation import HFGenerator
from azr_trainer.train import main

LOCAL_ADVANTAGES: list[list[float]] = []


def _scripted_reward(rank: int, index: int) -> float:
    """Rank 0 scores low and rank 1 high, varying by row, so the groups span both ranks."""
    return (-1.0 + 0.1 * index) if rank == 0 else (0.5 + 0.2 * index)


def _patch() -> None:
    rank = int(os.environ["RANK"])
    real_row = trainer_mod.sample_row
    counter = iter(range(10**6))

    def scripted_row(sample: Any) -> dict[str, Any]:
        row = real_row(sample)
        row["reward"] = _scripted_reward(rank, next(counter) % 6)
        return row

    real_score = trainer_mod.AZRTrainer._generate_and_score_completions

    def recording_score(self: Any, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = real_score(self, inputs)
        LOCAL_ADVANTAGES.append(output["advantages"].tolist())
        return output

    # In-training evaluation generates with every rank: make its generate a collective, as it is
    # under ZeRO-3 (gathered weights, synced decoding), so a rank-0-only evaluation fails here.
    real_generate = HFGenerator.generate

    def collective_generate(self: Any, prompts: Any, params: Any) -> Any:
        tags: list[Any] = [None, None]
        torch.distributed.all_gather_object(tags, ("eval-generate", len(prompts)))
        if len(set(tags)) != 1:
            raise RuntimeError(f"evaluation generate calls differ across ranks: {tags}")
        return real_generate(self, prompts, params)

    HFGenerator.generate = collective_generate  # type: ignore[method-assign]
    trainer_mod.sample_row = scripted_row  # type: ignore[assignment]
    trainer_mod.AZRTrainer._generate_and_score_completions = recording_score  # type: ignore[method-assign]


def run() -> None:
    _patch()
    out = Path(sys.argv[1])
    cfg = load_config(
        preset="tiny-cpu",
        overrides=[
            f"output_dir={out}",
            f"executor_urls={os.environ['AZR_TEST_EXECUTOR_URL']}",
            f"buffer_url={os.environ['AZR_TEST_BUFFER_URL']}",
            "run_name=ddp",
            "max_steps=2",
            "max_completion_tokens=8",
            "n_references=1",
            "save_steps=10",
            "live_console=false",
            "eval_steps=2",  # CRUXEval after the last step, on both ranks
            "eval_items=1",
            "eval_max_new_tokens=4",
        ],
    )
    result = main(cfg)
    rank = int(os.environ["RANK"])
    (out / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "rows": result.last_rows,
                "advantages": result.last_advantages,
                "buffer": result.buffer_sizes,
                "local_advantages": LOCAL_ADVANTAGES[-1],
                "val": sorted(k for k in result.last_metrics if k.startswith("val/")),
            }
        )
    )


if __name__ == "__main__":
    run()
