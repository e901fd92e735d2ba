"""Composite rewards: the paper's table, the reference option, judge failures left out."""

from __future__ import annotations

import pytest
from azr_trainer.rewards import (
    ExtremeReward,
    SolveOutcome,
    learnability,
    proposer_reward,
    solve_rate,
    solver_reward,
)


@pytest.mark.parametrize(
    ("outcome", "reward"),
    [
        (SolveOutcome.CORRECT, 1.0),
        (SolveOutcome.WRONG, -0.5),
        (SolveOutcome.FORMAT_ERROR, -1.0),
        (SolveOutcome.JUDGE_ERROR, None),
    ],
)
def test_solver_composite_reward(outcome, reward):
    assert solver_reward(outcome) == reward


def test_solve_rate_counts_format_errors_as_unsolved_and_skips_judge_errors():
    c, w, f, j = (
        SolveOutcome.CORRECT,
        SolveOutcome.WRONG,
        SolveOutcome.FORMAT_ERROR,
        SolveOutcome.JUDGE_ERROR,
    )
    assert solve_rate([c, w, f, j]) == pytest.approx(1 / 3)
    assert solve_rate([j, j]) is None
    assert solve_rate([c] * 8) == 1.0


@pytest.mark.parametrize(("rate", "value"), [(0.0, 0.0), (1.0, 0.0), (0.25, 0.75), (0.875, 0.125)])
def test_learnability_is_one_minus_rate_except_extremes(rate, value):
    assert learnability(rate) == pytest.approx(value)


def test_learnability_rejects_rates_outside_unit_interval():
    with pytest.raises(ValueError):
        learnability(1.5)


def test_proposer_reward_table():
    assert proposer_reward(format_ok=False, valid=False, rate=None) == -1.0
    assert proposer_reward(format_ok=True, valid=False, rate=None) == -1.0
    assert proposer_reward(format_ok=True, valid=True, rate=0.5) == 0.5
    assert proposer_reward(format_ok=True, valid=True, rate=1.0) == 0.0
    assert proposer_reward(format_ok=True, valid=True, rate=0.0) == 0.0
    assert proposer_reward(format_ok=True, valid=True, rate=None) is None


def test_proposer_reward_reference_option_maps_extremes_to_minus_half():
    ref = ExtremeReward.REFERENCE
    assert proposer_reward(format_ok=True, valid=True, rate=1.0, extreme=ref) == -0.5
    assert proposer_reward(format_ok=True, valid=True, rate=0.0, extreme=ref) == -0.5
    assert proposer_reward(format_ok=True, valid=True, rate=0.25, extreme=ref) == 0.75
