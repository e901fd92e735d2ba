"""Learnability of proposed tasks: grade K solver answers per task, reward middling difficulty.

The paper's proposer reward (arXiv 2505.03335, Eq. 4): with solve rate `s` over K rollouts,
`r = 1 - s` when `0 < s < 1`, else 0. The reference trainer maps the else-branch to -0.5;
`extreme_reward` keeps that a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

from azr_proto.azr import (
    AnswerVerdict,
    LearnabilityItem,
    LearnabilityOptions,
    LearnabilityResult,
    Verdict,
)

from azr_executor.azr.jobs import JobRunner
from azr_executor.azr.verify import verify_items

__all__ = ["learnability_reward", "score_learnability", "summarize"]


def learnability_reward(solve_rate: float, extreme_reward: float = 0.0) -> float:
    """`1 - s` for a task solved sometimes, `extreme_reward` for one solved always or never."""
    return 1.0 - solve_rate if 0.0 < solve_rate < 1.0 else extreme_reward


def summarize(verdicts: list[AnswerVerdict], extreme_reward: float) -> LearnabilityResult:
    """Solve rate and reward of one task; both null if any answer met a sandbox error."""
    if any(v.verdict is Verdict.SANDBOX_ERROR for v in verdicts):
        return LearnabilityResult(verdicts=verdicts, solve_rate=None, reward=None)
    solve_rate = sum(v.score for v in verdicts) / len(verdicts)
    return LearnabilityResult(
        verdicts=verdicts,
        solve_rate=solve_rate,
        reward=learnability_reward(solve_rate, extreme_reward),
    )


async def score_learnability(
    runner: JobRunner, items: Sequence[LearnabilityItem], options: LearnabilityOptions
) -> list[LearnabilityResult]:
    """Grade every item's answers (as `verify_items` does) and summarize each item."""
    graded = await verify_items(runner, items, options)
    return [summarize(verdicts, options.extreme_reward) for verdicts in graded]
