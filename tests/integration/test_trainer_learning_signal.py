"""The trainer learns: with a reward a tiny model can reach, the mean reward rises.

This runs real optimizer steps of `AZRTrainer` (TRL loss, TRR++ advantage override, the
rollout-function path) with a rollout whose reward is the share of completion tokens equal
to one target token. If the sign of the advantages, the group normalisation or the wiring of
the loss were wrong, the reward would not rise.
"""

from __future__ import annotations

import pytest
import torch
from azr_trainer.models import load_model_and_tokenizer
from azr_trainer.selfplay import Generated
from azr_trainer.trainer import AZRTrainer, TrainerGenerator, azr_reward
from datasets import Dataset
from trainer_support import tiny_model_dir

pytestmark = [
    pytest.mark.slow,
    # TRL 1.16 itself still calls transformers' deprecated gradient-checkpointing aliases.
    pytest.mark.filterwarnings("ignore:.*deprecated and will be removed in v6:FutureWarning"),
]

GROUPS = [("deduction", "solve"), ("abduction", "propose")]


class TargetTokenRollout:
    def __init__(self, generator: TrainerGenerator, target: int) -> None:
        self.generator = generator
        self.target = target
        self.history: list[float] = []

    def __call__(self, prompts, trainer):
        self.generator.trainer = trainer
        gens: list[Generated] = self.generator.generate(["Say something:"] * len(prompts))
        rows = []
        for i, g in enumerate(gens):
            reward = sum(t == self.target for t in g.completion_ids) / len(g.completion_ids)
            t, r = GROUPS[i % 2]
            rows.append(
                {"task_type": t, "role": r, "reward": reward, "length": len(g.completion_ids)}
            )
        self.history.append(sum(row["reward"] for row in rows) / len(rows))
        return {
            "prompt_ids": [g.prompt_ids for g in gens],
            "completion_ids": [g.completion_ids for g in gens],
            "logprobs": None,
            "azr_row": rows,
        }


def test_mean_reward_rises_over_real_training_steps(tmp_path_factory):
    from trl.trainer.grpo_config import GRPOConfig

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model_dir = tiny_model_dir(tmp_path_factory.mktemp("models"))
    model, tok = load_model_and_tokenizer(str(model_dir))
    target = tok.convert_tokens_to_ids("f")
    rollout = TargetTokenRollout(TrainerGenerator(tok), target)
    args = GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("signal")),
        max_steps=14,
        learning_rate=3e-2,
        lr_scheduler_type="constant",
        per_device_train_batch_size=16,
        gradient_accumulation_steps=1,
        num_generations=2,
        max_completion_length=6,
        beta=0.0,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=100,
        seed=0,
        shuffle_dataset=False,
        disable_tqdm=True,
    )
    trainer = AZRTrainer(
        model=model,
        processing_class=tok,
        reward_funcs=[azr_reward],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": [f"x{i}" for i in range(16)]}),
        rollout_func=rollout,
    )
    trainer.train()
    first, last = rollout.history[:3], rollout.history[-3:]
    assert len(rollout.history) == 14
    assert sum(last) / 3 > sum(first) / 3 + 0.2, rollout.history
    # Advantages were the TRR++ ones: zero mean within each group of the last batch.
    adv = trainer.azr_advantages
    assert abs(float(adv[0::2].mean())) < 1e-4 and abs(float(adv[1::2].mean())) < 1e-4
