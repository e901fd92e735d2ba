"""The private TRL surface this project relies on, and the advantage override."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from azr_trainer.trainer import AZRTrainer, azr_reward
from azr_trainer.trl_adapter import PRIVATE_SIGNATURES, check_trl_signatures, sampling_temperature


def test_installed_trl_matches_the_private_signatures_we_use():
    assert check_trl_signatures() == []


def test_signature_check_reports_drift(monkeypatch):
    monkeypatch.setitem(PRIVATE_SIGNATURES, "_generate_single_turn", ["self", "prompt_ids"])
    problems = check_trl_signatures()
    assert len(problems) == 1 and "_generate_single_turn" in problems[0]


def test_sampling_temperature_is_restored():
    trainer = SimpleNamespace(
        generation_config=SimpleNamespace(temperature=0.3, do_sample=False), use_vllm=False
    )
    with sampling_temperature(trainer, 1.0):
        assert trainer.generation_config.temperature == 1.0
        assert trainer.generation_config.do_sample is True
    assert trainer.generation_config.temperature == 0.3
    assert trainer.generation_config.do_sample is False


def row(t, r, reward, length=4):
    return {"task_type": t, "role": r, "reward": reward, "length": length}


def test_global_advantages_normalise_per_group_over_all_ranks():
    trainer = object.__new__(AZRTrainer)
    trainer.token_weighted_advantages = False
    # rank 0 holds the first two rows, rank 1 the last two: each group spans both ranks.
    rows = [
        row("deduction", "solve", 1.0),
        row("deduction", "propose", 0.5),
        row("deduction", "solve", -0.5),
        row("deduction", "propose", None),
    ]
    adv = trainer.global_advantages(rows)
    s = 1 / math.sqrt(2)
    assert adv.tolist() == pytest.approx([s, 0.0, -s, 0.0], abs=1e-4)


def test_reward_passthrough_keeps_none():
    rows = [{"reward": 1.0}, {"reward": None}]
    assert azr_reward(["a", "b"], azr_row=rows) == [1.0, None]


def test_token_weighted_option_changes_the_statistics():
    trainer = object.__new__(AZRTrainer)
    trainer.token_weighted_advantages = True
    rows = [row("induction", "solve", 1.0, 3), row("induction", "solve", 0.0, 1)]
    assert trainer.global_advantages(rows).tolist() == pytest.approx([0.5, -1.5], abs=1e-4)
    assert torch.is_tensor(trainer.global_advantages(rows))


def test_generation_is_collective_under_sharding_and_vllm_tensor_parallelism():
    from azr_trainer.trl_adapter import collective_generation

    def trainer(world=2, zero3=False, fsdp=False, vllm=False, tp=1):
        return SimpleNamespace(
            accelerator=SimpleNamespace(num_processes=world),
            _dist=SimpleNamespace(is_zero3=zero3, is_fsdp=fsdp),
            use_vllm=vllm,
            args=SimpleNamespace(vllm_tensor_parallel_size=tp),
        )

    assert not collective_generation(trainer(world=1, zero3=True))
    assert not collective_generation(trainer())  # DDP: every rank generates on its own
    assert not collective_generation(trainer(vllm=True))
    assert collective_generation(trainer(zero3=True))
    assert collective_generation(trainer(fsdp=True))
    assert collective_generation(trainer(vllm=True, tp=2))
    # The private attribute it reads is still where TRL 1.16 builds it.
    import inspect

    from trl.trainer.grpo_trainer import GRPOTrainer

    assert "self._dist = DistributedBackend(" in inspect.getsource(GRPOTrainer.__init__)
