"""Wire models of the buffer service: runs, tasks, sampling, outcomes, statistics.

The export format (JSON Lines) lives in `azr_proto.buffer_export`; what text and metadata may hold
in `azr_proto.buffer_values`.

A task is stored once per (run, type, content hash): `content_hash` is the sha256 of the canonical
JSON of (type, program, inputs, outputs, message), see `task_content_hash`. Inserting the same task
again (a retried request, another trainer process) reports it as a duplicate with the stored id.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from azr_proto.buffer_values import MAX_METADATA_BYTES, MAX_METADATA_DEPTH, Metadata, Text
from azr_proto.tasks import TaskType

__all__ = [
    "MAX_COUNT",
    "RUN_NAME_PATTERN",
    "EvictionPolicy",
    "InsertResponse",
    "InsertedTask",
    "OutcomeRecord",
    "OutcomesRequest",
    "OutcomesResponse",
    "Run",
    "RunCreate",
    "RunStats",
    "SampleRequest",
    "SampleResponse",
    "SampleStrategy",
    "StepCount",
    "Task",
    "TaskIn",
    "TaskInsertRequest",
    "TaskSource",
    "TruncateRequest",
    "TruncateResponse",
    "TypeStats",
    "task_content_hash",
]

RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_BATCH = 4096
MAX_SAMPLE_K = 1024
MAX_EXCLUDE = 65536
MAX_ID = 2**63 - 1  # ids are 64-bit in the database
MAX_STEP = 2**31 - 1
# A task's solve counts never pass this (outcomes that would are refused): exact in any JSON
# reader, and the sums of a run's counts stay far from 64-bit overflow.
MAX_COUNT = 2**53


class EvictionPolicy(StrEnum):
    """What happens when a (run, type) pool is at capacity."""

    FIFO = "fifo"  # the oldest tasks are evicted first: the pool keeps the newest
    RESERVOIR = "reservoir"  # Algorithm R: the pool stays a uniform sample of all tasks offered


class TaskSource(StrEnum):
    """Where a task came from."""

    SEED = "seed"
    PROPOSED = "proposed"


class SampleStrategy(StrEnum):
    """How `sample` picks its k tasks (always without replacement)."""

    UNIFORM = "uniform"  # uniformly from the whole pool of the type
    RECENT = "recent"  # uniformly among tasks with step in (step - window, step]
    NEW_FIRST = "new_first"  # tasks of this step first (at random), filled up uniformly


class RunCreate(BaseModel):
    """Create a run: one namespace per training run."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=RUN_NAME_PATTERN, description="unique run name")
    capacity: int | None = Field(
        default=None,
        ge=1,
        le=MAX_STEP,
        description="most tasks kept per task type; null: unlimited",
    )
    eviction: EvictionPolicy = EvictionPolicy.FIFO


class Run(BaseModel):
    """A run as stored."""

    name: str
    capacity: int | None
    eviction: EvictionPolicy
    created_at: datetime


class TaskIn(BaseModel):
    """A task to insert. Deduction and abduction carry exactly one input/output pair; induction
    carries one or more pairs and a message (the hint shown to the solver)."""

    model_config = ConfigDict(extra="forbid")

    type: TaskType
    program: Text = Field(min_length=1, max_length=65536)
    inputs: list[Text] = Field(min_length=1, max_length=256)
    outputs: list[Text] = Field(min_length=1, max_length=256)
    message: Text | None = Field(default=None, max_length=65536)
    step: int = Field(
        default=0, ge=0, le=MAX_STEP, description="the training step that added the task"
    )
    source: TaskSource = TaskSource.PROPOSED
    metadata: Metadata = Field(
        default_factory=dict,
        description=f"free-form JSON, e.g. learnability: finite numbers, at most "
        f"{MAX_METADATA_DEPTH} levels deep and {MAX_METADATA_BYTES // 1024} KiB",
    )

    @model_validator(mode="after")
    def _check_shape(self) -> TaskIn:
        # PostgreSQL text cannot hold NUL; refuse it on every backend so both behave alike.
        if "\x00" in self.program or (self.message is not None and "\x00" in self.message):
            raise ValueError("program and message must not contain NUL characters")
        if len(self.inputs) != len(self.outputs):
            raise ValueError(
                f"inputs and outputs differ in length ({len(self.inputs)} vs {len(self.outputs)})"
            )
        if self.type is TaskType.INDUCTION:
            if self.message is None:
                raise ValueError("an induction task needs a message")
        elif len(self.inputs) != 1:
            raise ValueError(f"a {self.type} task has exactly one input and one output")
        return self

    def compute_hash(self) -> str:
        """The deduplication key of this task (see `task_content_hash`)."""
        return task_content_hash(self.type, self.program, self.inputs, self.outputs, self.message)


def task_content_hash(
    type: TaskType, program: str, inputs: list[str], outputs: list[str], message: str | None
) -> str:
    """sha256 (hex) of the canonical JSON of the task content; step, source, metadata excluded.

    >>> task_content_hash(TaskType.DEDUCTION, "def f(a):\\n    return a", ["1"], ["1"], None)[:12]
    'e0c446ee38ed'
    """
    canonical = json.dumps(
        {
            "type": str(type),
            "program": program,
            "inputs": inputs,
            "outputs": outputs,
            "message": message,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Task(BaseModel):
    """A stored task. `solve_rate` is n_solved / n_attempts (null before any attempt)."""

    id: int
    type: TaskType
    program: str
    inputs: list[str]
    outputs: list[str]
    message: str | None
    step: int
    source: TaskSource
    metadata: dict[str, Any]
    content_hash: str
    n_attempts: int
    n_solved: int
    solve_rate: float | None
    created_at: datetime


class TaskInsertRequest(BaseModel):
    """A batch of tasks, inserted all-or-nothing in one transaction."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskIn] = Field(min_length=1, max_length=MAX_BATCH)


class InsertedTask(BaseModel):
    """One task of a batch: its position in the request and the id it is stored under."""

    index: int
    id: int


class InsertResponse(BaseModel):
    """Outcome of a batch insert. Every request index appears in exactly one list.

    - `inserted`: newly stored;
    - `duplicates`: already stored (or repeated earlier in the batch), with the stored id;
    - `discarded`: not stored because the pool is full and reservoir sampling rejected it.
    `evicted` counts older tasks removed to make room.
    """

    inserted: list[InsertedTask]
    duplicates: list[InsertedTask]
    discarded: list[int]
    evicted: int


class SampleRequest(BaseModel):
    """Sample up to k distinct tasks of one type. Fewer come back when the pool holds fewer."""

    model_config = ConfigDict(extra="forbid")

    type: TaskType
    k: int = Field(ge=1, le=MAX_SAMPLE_K)
    strategy: SampleStrategy = SampleStrategy.UNIFORM
    step: int | None = Field(
        default=None,
        ge=0,
        le=MAX_STEP,
        description="the current step; required by recent and new_first",
    )
    window: int = Field(
        default=1, ge=1, le=MAX_STEP, description="recent: steps in (step - window, step]"
    )
    exclude: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        default_factory=list, max_length=MAX_EXCLUDE
    )

    @model_validator(mode="after")
    def _check_step(self) -> SampleRequest:
        if self.strategy is not SampleStrategy.UNIFORM and self.step is None:
            raise ValueError(f"strategy {self.strategy} needs the current step")
        return self


class SampleResponse(BaseModel):
    """The sampled tasks, in random order."""

    tasks: list[Task]


class OutcomeRecord(BaseModel):
    """Solve attempts on one task since the last report."""

    model_config = ConfigDict(extra="forbid")

    task_id: int = Field(ge=1, le=MAX_ID)
    n_attempts: int = Field(ge=1, le=MAX_STEP)
    n_solved: int = Field(ge=0, le=MAX_STEP)

    @model_validator(mode="after")
    def _check_counts(self) -> OutcomeRecord:
        if self.n_solved > self.n_attempts:
            raise ValueError("n_solved is larger than n_attempts")
        return self


class OutcomesRequest(BaseModel):
    """Solve outcomes to add to the running counts, all in one transaction."""

    model_config = ConfigDict(extra="forbid")

    outcomes: list[OutcomeRecord] = Field(min_length=1, max_length=MAX_BATCH)


class OutcomesResponse(BaseModel):
    """`missing`: task ids not in the run (evicted or never stored); their outcomes are dropped."""

    updated: int
    missing: list[int]


class StepCount(BaseModel):
    """Tasks of one type added at one step."""

    step: int
    type: TaskType
    count: int


class TypeStats(BaseModel):
    """Statistics of one task type in a run."""

    count: int
    distinct_programs: int
    n_attempts: int
    n_solved: int


class RunStats(BaseModel):
    """Statistics of a run: per type and per (step, type)."""

    run: str
    total: int
    by_type: dict[TaskType, TypeStats]
    by_step: list[StepCount]


class TruncateRequest(BaseModel):
    """Keep only the tasks added at or before `step` (resume from a checkpoint at that step)."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=0, le=MAX_STEP)


class TruncateResponse(BaseModel):
    """How many tasks the truncation removed."""

    deleted: int
