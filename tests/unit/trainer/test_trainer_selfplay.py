"""The step logic against in-memory fakes: order, rewards, new_first, lag, seeding, budgets."""

from __future__ import annotations

import pytest
from azr_trainer.rewards import ExtremeReward
from azr_trainer.selfplay import slot_layout
from azr_trainer.tasks import Task
from trainer_fakes import GOOD, ans, make, responder, run_sync, seeded


def test_slot_layout_orders_types_and_roles():
    assert slot_layout(6) == [
        ("abduction", "propose"),
        ("abduction", "solve"),
        ("deduction", "propose"),
        ("deduction", "solve"),
        ("induction", "propose"),
        ("induction", "solve"),
    ]
    assert slot_layout(12)[:2] == [("abduction", "propose")] * 2
    with pytest.raises(ValueError):
        slot_layout(8)


def test_step_returns_one_sample_per_slot_in_layout_order():
    sp, _store, _, _ = make(responder())
    seeded(sp)
    samples = sp.step(12, step=1)
    assert [s.group for s in samples] == slot_layout(12)


def test_proposer_reward_is_learnability_and_valid_tasks_enter_buffer_with_step():
    sp, store, _, _ = make(responder(learn_pattern=(True, False)))
    seeded(sp)
    samples = sp.step(6, step=3)
    props = [s for s in samples if s.role == "propose"]
    assert all(s.valid for s in props)
    assert [s.solve_rate for s in props] == [0.5, 0.5, 0.5]
    assert [s.reward for s in props] == [0.5, 0.5, 0.5]
    new = [t for t in store.tasks if t.step == 3]
    assert sorted(t.task_type for t in new) == ["abduction", "deduction", "induction"]


@pytest.mark.parametrize(
    ("extreme", "reward"), [(ExtremeReward.PAPER, 0.0), (ExtremeReward.REFERENCE, -0.5)]
)
def test_always_solved_proposals_get_the_configured_extreme_reward(extreme, reward):
    sp, _, _, _ = make(responder(learn_pattern=(True,)), extreme_reward=extreme)
    seeded(sp)
    props = [s for s in sp.step(6, step=1) if s.role == "propose"]
    assert [s.reward for s in props] == [reward] * 3


def test_learnability_rollouts_are_sampled_but_not_returned():
    sp, _, _, gen = make(responder(), n_learnability=3)
    seeded(sp)
    samples = sp.step(6, step=1)
    assert len(samples) == 6
    learn_calls = [n for n, learn in gen.calls if learn]
    assert learn_calls == [3, 3, 3]  # 1 valid proposal x 3 rollouts per type


def test_solver_solves_this_steps_proposal_first():
    sp, _store, _judge, gen = make(responder())
    seeded(sp)
    sp.step(6, step=1)
    # The deduction solver prompt must show this step's program (input '1'), not the seed's.
    solve_prompts = [p for p in gen.prompts if "Predict the output" in p]
    assert "```input\n1\n```" in solve_prompts[-1]


def test_one_step_lag_solves_tasks_drawn_before_proposals():
    sp, _store, _judge, gen = make(responder(), one_step_lag=True)
    seeded(sp)
    sp.step(6, step=1)
    solve_prompts = [p for p in gen.prompts if "Predict the output" in p]
    assert '```input\n"Hello world"\n```' in solve_prompts[-1]


def test_format_errors_and_invalid_proposals_get_minus_one():
    def respond(prompt, learnability):
        if "Propose a new deduction" in prompt:
            return ans(("python", "def f(x):\n    return bad"), ("input", "1"))
        if "Propose a new abduction" in prompt:
            return "no tags"
        return responder()(prompt, learnability)

    sp, _, _, _ = make(respond)
    seeded(sp)
    samples = sp.step(6, step=1)
    abd, ded = samples[0], samples[2]
    assert abd.format_error and abd.reward == -1.0 and abd.reason == "no </think>"
    assert ded.valid is False and ded.reward == -1.0 and ded.reason == "runtime_error"


def test_solver_rewards_wrong_and_format_error():
    def respond(prompt, learnability):
        if "Predict the output" in prompt and not learnability:
            return ans(("output", "wrong"))
        if "Find an input" in prompt and not learnability:
            return "</think> nothing"
        return responder()(prompt, learnability)

    sp, _, _, _ = make(respond)
    seeded(sp)
    samples = sp.step(6, step=1)
    assert samples[1].reward == -1.0 and samples[1].format_error
    assert samples[3].reward == -0.5 and samples[3].correct is False
    assert samples[5].reward == 1.0 and samples[5].correct


def test_judge_errors_are_left_out_not_scored():
    def respond(prompt, learnability):
        if "Predict the output" in prompt:
            return ans(("output", "flaky"))
        return responder()(prompt, learnability)

    sp, _, _, _ = make(respond)
    seeded(sp)
    samples = sp.step(6, step=1)
    assert samples[3].reward is None and samples[3].judge_error
    # Every learnability rollout of the deduction proposal hit a judge error: unscored too.
    assert samples[2].reward is None and samples[2].judge_error


def test_references_are_dropped_to_fit_the_prompt_budget():
    sp, store, _, gen = make(responder(), n_references=4, max_prompt_tokens=2600)
    gen.budget_chars = 1
    seeded(sp)
    for i in range(4):
        run_sync(
            store.insert,
            [
                Task(
                    "deduction", f"def f(x):\n    # {'c' * 300}\n    return x + {i}", ("1",), ("2",)
                )
            ],
        )
    sp.propose("deduction", 1, step=1)
    prompt = [p for p in gen.prompts if "Propose a new deduction" in p][-1]
    assert len(prompt) <= 2600
    assert 1 <= prompt.count("</snippet_") < 4


def test_solver_slot_with_nothing_that_fits_is_a_filler():
    sp, store, _, gen = make(responder(), max_prompt_tokens=10)
    gen.budget_chars = 1
    run_sync(store.insert, [Task("deduction", GOOD, ("1",), ("o(1)",))])
    samples = sp.solve("deduction", [Task("deduction", GOOD, ("1",), ("o(1)",))], 2)
    assert all(s.filler and s.reward is None for s in samples)


def test_sandbox_error_in_validation_leaves_the_proposer_out():
    """rewards.py: a judge failure is left out of the update (None), never scored -1."""

    def respond(prompt, learnability):
        if "Propose a new deduction" in prompt:
            return ans(("python", "def f(x):\n    return x  # crash"), ("input", "1"))
        return responder()(prompt, learnability)

    sp, _, _, _ = make(respond)
    seeded(sp)
    ded = sp.step(6, step=1)[2]
    assert ded.judge_error and ded.valid is False
    assert ded.reward is None
