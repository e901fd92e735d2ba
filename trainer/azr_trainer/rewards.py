"""AZR rewards: the solver's format-aware composite and the proposer's learnability.

Paper Eq. (4) and (6), with the reference's choice as an option (design.md):

| role     | outcome                                         | reward                       |
|----------|-------------------------------------------------|------------------------------|
| solver   | format error                                    | -1                           |
| solver   | well-formed, wrong                              | -0.5                         |
| solver   | correct                                         | +1                           |
| proposer | format error or invalid task                    | -1                           |
| proposer | valid, solve rate r in (0, 1)                   | 1 - r (learnability)         |
| proposer | valid, solve rate r in {0, 1}                   | 0 (paper) or -0.5 (reference)|
| any      | the judge failed (`sandbox_error`)              | None: left out of the update |

`None` is not a zero: such a sample gets advantage 0 and is excluded from every baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

__all__ = [
    "FORMAT_ERROR_REWARD",
    "WRONG_REWARD",
    "ExtremeReward",
    "SolveOutcome",
    "learnability",
    "proposer_reward",
    "solve_rate",
    "solver_reward",
]

FORMAT_ERROR_REWARD = -1.0
WRONG_REWARD = -0.5
CORRECT_REWARD = 1.0


class SolveOutcome(StrEnum):
    """What happened to one solver answer."""

    CORRECT = "correct"
    WRONG = "wrong"
    FORMAT_ERROR = "format_error"
    JUDGE_ERROR = "judge_error"  # sandbox_error or similar: our fault, never scored


class ExtremeReward(StrEnum):
    """Proposer reward for a valid task that is always or never solved."""

    PAPER = "paper"  # 0, paper Eq. (4)
    REFERENCE = "reference"  # -0.5, what the reference code does (issue #37)


def solver_reward(outcome: SolveOutcome) -> float | None:
    """The composite solver reward; `None` for a judge failure (excluded from the update)."""
    if outcome is SolveOutcome.CORRECT:
        return CORRECT_REWARD
    if outcome is SolveOutcome.WRONG:
        return WRONG_REWARD
    if outcome is SolveOutcome.FORMAT_ERROR:
        return FORMAT_ERROR_REWARD
    return None


def solve_rate(outcomes: Sequence[SolveOutcome]) -> float | None:
    """Mean correctness of the learnability rollouts, ignoring judge failures.

    A format error counts as unsolved. `None` when every rollout hit a judge failure.
    """
    scored = [o for o in outcomes if o is not SolveOutcome.JUDGE_ERROR]
    if not scored:
        return None
    return sum(o is SolveOutcome.CORRECT for o in scored) / len(scored)


def learnability(rate: float) -> float:
    """Paper Eq. (4): `1 - rate` for a task solved sometimes, 0 if always or never solved."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"solve rate must lie in [0, 1], got {rate}")
    if rate in (0.0, 1.0):
        return 0.0
    return 1.0 - rate


def proposer_reward(
    *,
    format_ok: bool,
    valid: bool,
    rate: float | None,
    extreme: ExtremeReward = ExtremeReward.PAPER,
) -> float | None:
    """The composite proposer reward.

    `valid` is the executor's verdict on the proposal (False when it was never checked because
    of a format error); `rate` is the learnability rollouts' solve rate, `None` when they all
    hit a judge failure (then the proposal is not scored either).
    """
    if not format_ok or not valid:
        return FORMAT_ERROR_REWARD
    if rate is None:
        return None
    value = learnability(rate)
    if value == 0.0 and extreme is ExtremeReward.REFERENCE:
        return WRONG_REWARD
    return value
