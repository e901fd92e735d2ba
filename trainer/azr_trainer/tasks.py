"""The trainer's view of tasks and of the two services it depends on.

`TaskJudge` (the executor) and `TaskStore` (the buffer) are small Protocols: the step logic in
`selfplay.py` is written against them, the HTTP adapters in `remote.py` implement them with the
proto clients, and the unit tests implement them in memory. Judges never run code in the trainer
process; every verdict comes from the executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

__all__ = [
    "ROLES",
    "TASK_TYPES",
    "Check",
    "Proposal",
    "Role",
    "SampleStrategy",
    "Task",
    "TaskJudge",
    "TaskStore",
    "Verdict",
    "zero_tasks",
]

TASK_TYPES: tuple[str, str, str] = ("abduction", "deduction", "induction")  # the step's order
ROLES: tuple[str, str] = ("propose", "solve")
Role = Literal["propose", "solve"]
SampleStrategy = Literal["uniform", "recent", "new_first"]


@dataclass(frozen=True)
class Task:
    """One validated task. Deduction/abduction carry one pair; induction carries N pairs.

    `inputs` are argument lists as written inside `f(...)`; `outputs` are reprs, computed by
    the executor. `step` is the self-play step that added it (0 for seeds).
    """

    task_type: str
    program: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    message: str = ""
    step: int = 0
    id: str | None = field(default=None, compare=False)

    def shown_pairs(self) -> list[tuple[str, str]]:
        """Induction: the first half of the pairs, shown to the solver."""
        half = len(self.inputs) // 2
        return list(zip(self.inputs[:half], self.outputs[:half], strict=True))

    def hidden_pairs(self) -> list[tuple[str, str]]:
        """Induction: the second half of the pairs, used to grade the solver's program."""
        half = len(self.inputs) // 2
        return list(zip(self.inputs[half:], self.outputs[half:], strict=True))


class Verdict(StrEnum):
    """The executor's judgement of one solver answer."""

    CORRECT = "correct"
    WRONG = "wrong"
    JUDGE_ERROR = "judge_error"  # sandbox_error after retries: never scored


@dataclass(frozen=True)
class Proposal:
    """A parsed proposal to validate: one input (deduction/abduction) or N (induction)."""

    task_type: str
    program: str
    inputs: tuple[str, ...]
    message: str = ""


@dataclass(frozen=True)
class Check:
    """The executor's validation of a proposal: valid with one output per input, or a reason.

    `judge_error` means the executor failed (sandbox_error): no verdict on the proposal.
    """

    valid: bool
    outputs: tuple[str, ...] = ()
    reason: str = ""
    judge_error: bool = False


class TaskJudge(Protocol):
    """What the step needs from the executor; batch calls, one result per item, in order."""

    async def check(self, proposals: Sequence[Proposal]) -> list[Check]: ...

    async def verify(self, items: Sequence[tuple[Task, Sequence[str]]]) -> list[list[Verdict]]:
        """One verdict per answer of each (task, answers) item."""
        ...


class TaskStore(Protocol):
    """What the step needs from the buffer."""

    async def insert(self, tasks: Sequence[Task]) -> None: ...

    async def sample(
        self, task_type: str, n: int, *, strategy: SampleStrategy, step: int, seed: int
    ) -> list[Task]:
        """Up to `n` distinct tasks; `new_first` puts tasks of `step` first."""
        ...

    async def sizes(self) -> dict[str, int]: ...

    async def truncate(self, step: int) -> None: ...


ZERO_PROGRAM = "def f(a):\n    return a"
ZERO_INPUT = '"Hello world"'
# The reference's induction zero entry: six inputs of different types, each its own output.
ZERO_INDUCTION_INPUTS: tuple[str, ...] = (
    '"Hello world"',
    "1",
    "dict(a=1, b=2)",
    "(1.1, 1.2, 1.3)",
    '"[[1, 0, 0], [0, 0, 0], [0, 0, 0]]"',
    "1001101100010001",
)
ZERO_MESSAGE = "Write a function that returns whatever you input."


def zero_tasks() -> list[tuple[str, str, tuple[str, ...], str]]:
    """The zero triplet per type, as (task type, program, inputs, message), before checking."""
    return [
        ("abduction", ZERO_PROGRAM, (ZERO_INPUT,), ""),
        ("deduction", ZERO_PROGRAM, (ZERO_INPUT,), ""),
        ("induction", ZERO_PROGRAM, ZERO_INDUCTION_INPUTS, ZERO_MESSAGE),
    ]
