"""AZR task semantics on top of the sandbox: proposal validation, answer verification and
learnability scoring (the `/v1/azr/*` routes)."""

from __future__ import annotations

from azr_executor.azr import inputs
from azr_executor.azr.jobs import JobOutcome, JobRunner
from azr_executor.azr.learnability import score_learnability
from azr_executor.azr.validate import validate_proposals
from azr_executor.azr.verify import verify_items
from azr_executor.errors import BadTask

__all__ = [
    "BadTask",
    "JobOutcome",
    "JobRunner",
    "forget_remembered",
    "score_learnability",
    "validate_proposals",
    "verify_items",
]


def forget_remembered() -> None:
    """Drop the program checks, inputs and literal outputs remembered across requests (benchmarks use
    it so that every measured step sees its proposals as new, as a real training step does)."""
    inputs.forget_checked()
