"""TRL integration: a GRPOTrainer subclass whose rollout is one AZR step and whose advantages are
Task-Relative REINFORCE++ over the global batch.

Shape (trainer-on-trl.md section 1.3): the dataset is placeholder rows; `rollout_func` ignores
their text and runs `SelfPlay.step` for this rank's slots, returning one trainable sample per row
plus an `azr_row` record; the reward function passes `azr_row["reward"]` through (None -> NaN);
`_generate_and_score_completions` is overridden to replace TRL's group advantages by TRR++
computed on every rank's rows (gathered in rank order, so each rank slices its own part).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from accelerate.utils import gather_object
from transformers import TrainerCallback
from trl.trainer.grpo_trainer import GRPOTrainer

from azr_trainer.advantages import group_index, trr_advantages
from azr_trainer.selfplay import Generated, Sample, SelfPlay
from azr_trainer.trl_adapter import generate_completion_ids

__all__ = [
    "AZRTrainer",
    "SelfPlayRollout",
    "TrainerGenerator",
    "azr_reward",
    "sample_row",
]

logger = logging.getLogger(__name__)

LEARNABILITY_TEMPERATURE = 1.0


def azr_reward(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """TRL reward function: the reward the rollout already computed (None: left out)."""
    rows: list[dict[str, Any]] = kwargs["azr_row"]
    return [row["reward"] for row in rows]


def sample_row(sample: Sample) -> dict[str, Any]:
    """The plain record of a sample that travels with its row (and is gathered across ranks)."""
    return {
        "task_type": sample.task_type,
        "role": sample.role,
        "reward": sample.reward,
        "format_error": sample.format_error,
        "valid": sample.valid,
        "correct": sample.correct,
        "learnability": sample.learnability,
        "solve_rate": sample.solve_rate,
        "judge_error": sample.judge_error,
        "filler": sample.filler,
        "length": len(sample.generated.completion_ids),
    }


class TrainerGenerator:
    """`selfplay.Generator` backed by the trainer's generation backend and tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.trainer: Any = None

    def _eos(self) -> int:
        return int(self.tokenizer.eos_token_id)

    def generate(self, prompts: Sequence[str], *, learnability: bool = False) -> list[Generated]:
        if self.trainer is None:
            raise RuntimeError("TrainerGenerator.trainer is not set")
        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        temperature = LEARNABILITY_TEMPERATURE if learnability else None
        completion_ids = generate_completion_ids(self.trainer, prompt_ids, temperature=temperature)
        texts = self.tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        out = []
        for p, c, text in zip(prompt_ids, completion_ids, texts, strict=True):
            out.append(Generated(list(p), c or [self._eos()], text))
        return out

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def filler(self) -> Generated:
        return Generated([self._eos()], [self._eos()], "")


class SelfPlayRollout:
    """TRL `rollout_func`: one AZR step for this rank's rows."""

    def __init__(self, selfplay: SelfPlay, generator: TrainerGenerator, *, updates_per_step: int):
        self.selfplay = selfplay
        self.generator = generator
        self.updates_per_step = updates_per_step
        self.last_rollout_s = 0.0

    def azr_step(self, trainer: Any) -> int:
        """The AZR step being generated (1-based; the seeds are step 0)."""
        return int(trainer.state.global_step) // self.updates_per_step + 1

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        start = time.perf_counter()
        self.generator.trainer = trainer
        samples = self.selfplay.step(len(prompts), self.azr_step(trainer))
        self.last_rollout_s = time.perf_counter() - start
        return {
            "prompt_ids": [s.generated.prompt_ids for s in samples],
            "completion_ids": [s.generated.completion_ids for s in samples],
            "logprobs": None,
            "azr_row": [sample_row(s) for s in samples],
        }


class AZRTrainer(GRPOTrainer):
    """GRPOTrainer with TRR++ advantages over the global batch, per (task type x role)."""

    def __init__(
        self,
        *args: Any,
        token_weighted_advantages: bool = False,
        on_batch: Callable[[AZRTrainer, list[dict[str, Any]]], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.token_weighted_advantages = token_weighted_advantages
        self.on_batch = on_batch
        self.azr_rows: list[dict[str, Any]] = []
        self.azr_advantages = torch.zeros(0)
        self.azr_train_s = 0.0

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        start = time.perf_counter()
        try:
            return super().training_step(model, inputs, num_items_in_batch)  # type: ignore[no-untyped-call]
        finally:
            self.azr_train_s += time.perf_counter() - start

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        local = [row["azr_row"] for row in inputs]
        rows: list[dict[str, Any]] = gather_object(local)
        advantages = self.global_advantages(rows)
        n = len(local)
        rank = self.accelerator.process_index
        output["advantages"] = advantages[rank * n : (rank + 1) * n].to(self.accelerator.device)
        self.azr_rows, self.azr_advantages = rows, advantages
        if self.on_batch is not None:
            self.on_batch(self, rows)
        return output

    def global_advantages(self, rows: list[dict[str, Any]]) -> torch.Tensor:
        """TRR++ over every rank's rows; fillers and judge errors (reward None) get 0."""
        rewards = torch.tensor(
            [float("nan") if r["reward"] is None else float(r["reward"]) for r in rows]
        )
        groups, _ = group_index([(r["task_type"], r["role"]) for r in rows])
        lengths = torch.tensor([float(r["length"]) for r in rows])
        return trr_advantages(
            rewards, groups, lengths, token_weighted=self.token_weighted_advantages
        )


class StepEndCallback(TrainerCallback):
    """Calls `fn(azr_step)` after the last optimizer step of each AZR step."""

    def __init__(self, updates_per_step: int, fn: Callable[[int], None]) -> None:
        self.updates_per_step = updates_per_step
        self.fn = fn

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.updates_per_step == 0:
            self.fn(state.global_step // self.updates_per_step)
