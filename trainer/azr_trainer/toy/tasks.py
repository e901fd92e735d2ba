"""Turns grammar programs into checked triplets and tasks of the three AZR types.

A `Triplet` is a program with one input whose output (and intermediate values) the oracle
computed. An `InductionTask` is a program with several checked input/output pairs and a message.
Programs whose calls fail or whose output is too long are dropped here, so every task the
generator emits is valid.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass

from azr_trainer.toy.grammar import ToyProgram, World, random_input, sample_program
from azr_trainer.toy.oracle import Job, Oracle

__all__ = [
    "InductionTask",
    "Triplet",
    "make_induction_tasks",
    "make_triplets",
    "task_key",
]

MAX_OUTPUT_CHARS = 60


def task_key(source: str, input: str | None = None) -> str:
    """What identifies a task for held-out exclusion: a program on one input, or a program.

    Deduction and abduction tasks are a program *on an input*: the toy world's programs are
    few, so the same program on another input is another task. An induction task is its program.
    """
    return source if input is None else f"{source}\0{input}"


@dataclass(frozen=True)
class Triplet:
    """A program, one input, its output, and the value after each step (reprs)."""

    program: ToyProgram
    input: str
    output: str
    trace: tuple[str, ...]

    @property
    def source(self) -> str:
        return self.program.source()


@dataclass(frozen=True)
class InductionTask:
    """A program with checked pairs: the first `n_shown` are shown, the rest are hidden."""

    program: ToyProgram
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    n_shown: int

    @property
    def message(self) -> str:
        return self.program.message

    @property
    def source(self) -> str:
        return self.program.source()


def _trace_values(result: str) -> tuple[str, ...] | None:
    """Split the trace twin's list repr into the repr of each step's value."""
    try:
        values = ast.literal_eval(result)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(values, list):
        return None
    return tuple(repr(v) for v in values)


def _run_traces(
    oracle: Oracle, programs: list[ToyProgram], inputs: list[list[str]]
) -> list[list[tuple[str, ...] | None]]:
    jobs = [Job(p.source(trace=True), tuple(ins)) for p, ins in zip(programs, inputs, strict=True)]
    out: list[list[tuple[str, ...] | None]] = []
    for results in oracle.run(jobs):
        row: list[tuple[str, ...] | None] = []
        for r in results:
            trace = _trace_values(r.output) if r.ok else None
            if trace is not None and len(trace[-1]) > MAX_OUTPUT_CHARS:
                trace = None
            row.append(trace)
        out.append(row)
    return out


def make_triplets(
    rng: random.Random,
    n: int,
    oracle: Oracle,
    *,
    max_steps: int = 3,
    world: World = "default",
    distinct: bool = True,
) -> list[Triplet]:
    """`n` valid triplets, distinct by (program, input) unless `distinct=False` (a world too
    small to hold `n` distinct ones, such as the tiny world's corpus); outputs from `oracle`."""
    triplets: list[Triplet] = []
    seen: set[tuple[str, str]] = set()
    while len(triplets) < n:
        want = max(8, (n - len(triplets)) * 2)
        programs = [sample_program(rng, max_steps=max_steps, world=world) for _ in range(want)]
        inputs = [[random_input(rng, p.kind, world)] for p in programs]
        for prog, ins, traces in zip(
            programs, inputs, _run_traces(oracle, programs, inputs), strict=True
        ):
            trace = traces[0]
            key = (prog.source(), ins[0])
            if trace is None or (distinct and key in seen):
                continue
            seen.add(key)
            triplets.append(Triplet(prog, ins[0], trace[-1], trace))
            if len(triplets) == n:
                break
    return triplets


def make_induction_tasks(
    rng: random.Random,
    n: int,
    oracle: Oracle,
    *,
    n_inputs: int = 6,
    max_steps: int = 2,
    world: World = "default",
) -> list[InductionTask]:
    """`n` induction tasks with `n_inputs` distinct, valid pairs each (half shown, half hidden)."""
    tasks: list[InductionTask] = []
    while len(tasks) < n:
        want = max(8, (n - len(tasks)) * 2)
        programs = [sample_program(rng, max_steps=max_steps, world=world) for _ in range(want)]
        inputs = [
            list(dict.fromkeys(random_input(rng, p.kind, world) for _ in range(n_inputs * 2)))
            for p in programs
        ]
        for prog, ins, traces in zip(
            programs, inputs, _run_traces(oracle, programs, inputs), strict=True
        ):
            pairs = [(i, t[-1]) for i, t in zip(ins, traces, strict=True) if t is not None]
            # A task whose outputs are all the same teaches nothing about the program.
            if len(pairs) < n_inputs or len({o for _, o in pairs[:n_inputs]}) < 2:
                continue
            pairs = pairs[:n_inputs]
            tasks.append(
                InductionTask(
                    prog,
                    tuple(i for i, _ in pairs),
                    tuple(o for _, o in pairs),
                    n_shown=n_inputs // 2,
                )
            )
            if len(tasks) == n:
                break
    return tasks
