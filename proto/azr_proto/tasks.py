"""The three AZR task types, shared by every part that names one (buffer, executor, trainer)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TaskType"]


class TaskType(StrEnum):
    """What the solver is given and what it must produce, for one (program, input, output) triplet."""

    DEDUCTION = "deduction"  # given program and input, predict the output
    ABDUCTION = "abduction"  # given program and output, find an input
    INDUCTION = "induction"  # given input/output pairs and a message, write the program
