"""Builds the warm-start corpus: solver and proposer examples of all three task types.

The mix is the point of the toy world. Solver examples are careful (right) with probability
`careful_fraction` and guesses (wrong) otherwise; proposer examples are valid with probability
`valid_fraction` and otherwise pass an argument of the wrong kind. Tasks of the held-out
evaluation set are never trained on.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from azr_trainer.toy.grammar import WORLDS, World, random_input
from azr_trainer.toy.oracle import Oracle
from azr_trainer.toy.tasks import (
    InductionTask,
    Triplet,
    make_induction_tasks,
    make_triplets,
    task_key,
)
from azr_trainer.toy.texts import (
    Example,
    induction_proposer_example,
    io_proposer_example,
    sample_guess_program,
    solver_example,
)

__all__ = ["CorpusSpec", "build_corpus"]


@dataclass(frozen=True)
class CorpusSpec:
    """How many examples of which kind the warm start trains on."""

    n_solver_per_type: int = 400
    n_proposer_per_type: int = 150
    careful_fraction: float = 0.5
    valid_fraction: float = 0.6
    n_references: int = 2
    n_inputs: int = 6
    # Steps per program (the grammar allows 3): one-step programs are a world narrow enough for
    # a model of 1 M parameters to learn in a few CPU-minutes (RESULTS.md has what 3 gave).
    max_steps: int = 1
    # The grammar's world: "default", or "tiny" (one-line steps on digits and short strings,
    # the CI learning test's world; `WarmstartConfig.tiny`).
    world: World = "default"

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise ValueError(f"unknown toy world {self.world!r}; choose from {WORLDS}")
        if not 0.0 <= self.careful_fraction <= 1.0 or not 0.0 <= self.valid_fraction <= 1.0:
            raise ValueError("careful_fraction and valid_fraction must lie in [0, 1]")
        if self.n_inputs < 2 or self.n_inputs % 2:
            raise ValueError("n_inputs must be an even number >= 2 (half shown, half hidden)")


def _wrong_io(
    rng: random.Random, task_type: str, t: Triplet, pool: list[Triplet], world: World
) -> Triplet:
    """A triplet on the same argument kind whose answer differs from `t`'s."""
    for _ in range(50):
        other = rng.choice(pool)
        if task_type == "deduction" and other.output != t.output:
            return other
        if task_type == "abduction" and other.program.kind == t.program.kind:
            return other
    return Triplet(t.program, random_input(rng, t.program.kind, world), "None", ("None",))


def build_corpus(
    rng: random.Random, spec: CorpusSpec, oracle: Oracle, *, exclude: Iterable[str] = ()
) -> list[Example]:
    """The shuffled warm-start examples; tasks whose `task_key` is in `exclude` are skipped."""
    banned = set(exclude)
    n_io = spec.n_solver_per_type * 2 + spec.n_proposer_per_type * (spec.n_references + 1) * 2
    triplets = [
        t
        for t in make_triplets(
            rng,
            n_io,
            oracle,
            max_steps=spec.max_steps,
            world=spec.world,
            distinct=spec.world == "default",
        )
        if task_key(t.source, t.input) not in banned
    ]
    n_ind = spec.n_solver_per_type + spec.n_proposer_per_type
    induction = [
        t
        for t in make_induction_tasks(
            rng,
            n_ind,
            oracle,
            n_inputs=spec.n_inputs,
            max_steps=min(spec.max_steps, 2),
            world=spec.world,
        )
        if task_key(t.source) not in banned
    ]
    examples: list[Example] = []
    pool = list(triplets)
    for task_type in ("deduction", "abduction"):
        for t in rng.sample(triplets, min(spec.n_solver_per_type, len(triplets))):
            careful = rng.random() < spec.careful_fraction
            guess = None if careful else _wrong_io(rng, task_type, t, pool, spec.world)
            examples.append(
                solver_example(rng, task_type, t, careful=careful, wrong=guess, world=spec.world)
            )
        for _ in range(spec.n_proposer_per_type):
            new, *refs = rng.sample(triplets, spec.n_references + 1)
            valid = rng.random() < spec.valid_fraction
            examples.append(
                io_proposer_example(rng, task_type, new, refs, valid=valid, world=spec.world)
            )
    for task in induction[: spec.n_solver_per_type]:
        careful = rng.random() < spec.careful_fraction
        wrong: InductionTask | None = None
        if not careful:
            wrong_prog = sample_guess_program(rng, task.program, spec.world)
            wrong = InductionTask(wrong_prog, task.inputs, task.outputs, task.n_shown)
        examples.append(solver_example(rng, "induction", task, careful=careful, wrong=wrong))
    for task in induction[spec.n_solver_per_type :]:
        valid = rng.random() < spec.valid_fraction
        examples.append(induction_proposer_example(rng, task, valid=valid, world=spec.world))
    rng.shuffle(examples)
    return examples
