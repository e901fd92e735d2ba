"""One AZR self-play step, written against `TaskJudge`, `TaskStore` and a generator.

For each task type in order (abduction, deduction, induction) the step:

1. builds proposer prompts (K references sampled uniformly from the buffer; induction: one
   program from the abduction and deduction buffers) and generates one proposal per slot;
2. parses and validates the proposals through the executor;
3. estimates each valid task's learnability from `n_learnability` solver rollouts (sampled,
   never trained on) and scores the proposer;
4. inserts the valid tasks into the buffer;
5. solves this step's tasks: the solver batch is drawn from the buffer with `new_first`, which
   now holds the proposals just inserted, filled up with older tasks (the reference's one-step
   lag, where solver tasks are drawn before any proposal, is an option).

It returns one `Sample` per slot, proposer and solver, all six groups: the trainer takes one
update on them. The generator is synchronous (a model); the services are async and are driven
through `call`, normally an anyio blocking portal's `call`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from azr_trainer.lenient import PARSERS
from azr_trainer.parsing import FormatError
from azr_trainer.prompts import (
    DEFAULT_BANNED_WORDS,
    R1_TEMPLATE,
    Snippet,
    propose_induction_prompt,
    propose_io_prompt,
    r1_wrap,
    solve_abduction_prompt,
    solve_deduction_prompt,
    solve_induction_prompt,
)
from azr_trainer.ranks import LocalRanks, Ranks
from azr_trainer.rewards import (
    ExtremeReward,
    SolveOutcome,
    proposer_reward,
    solve_rate,
    solver_reward,
)
from azr_trainer.tasks import (
    ROLES,
    TASK_TYPES,
    ZERO_INPUT,
    ZERO_PROGRAM,
    Proposal,
    SampleStrategy,
    Task,
    TaskJudge,
    TaskStore,
    Verdict,
)

__all__ = [
    "Generated",
    "Generator",
    "Sample",
    "SelfPlay",
    "StepSettings",
    "slot_layout",
    "solver_prompt",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Caller = Callable[..., Any]


@dataclass(frozen=True)
class Generated:
    """One generation: token ids of the prompt and of the completion, and the decoded text."""

    prompt_ids: list[int]
    completion_ids: list[int]
    text: str


class Generator(Protocol):
    """The model side of the step: batch generation and prompt length."""

    def generate(self, prompts: Sequence[str], *, learnability: bool = False) -> list[Generated]:
        """One completion per prompt (R1-wrapped text). `learnability` rollouts use T = 1.0."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def filler(self) -> Generated:
        """A minimal row (one EOS token) for a slot with nothing to train on."""
        ...


@dataclass(frozen=True)
class StepSettings:
    """Knobs of the step; defaults are the paper's (azr-reference.md section 6)."""

    n_references: int = 6
    n_induction_inputs: int = 10
    n_learnability: int = 8
    solve_strategy: SampleStrategy = "new_first"
    one_step_lag: bool = False
    extreme_reward: ExtremeReward = ExtremeReward.PAPER
    max_prompt_tokens: int = 6144
    banned_words: tuple[str, ...] = DEFAULT_BANNED_WORDS
    seed: int = 1
    template: str = R1_TEMPLATE  # prompts.R1_TEMPLATES: "default" or the reference's
    parsing: Literal["strict", "lenient"] = "strict"  # lenient: the reference's fallbacks
    # Every generate call is a collective (HF generate under ZeRO-3 or FSDP, vLLM with tensor
    # parallelism): then every rank makes the same calls with the same number of prompts, the
    # learnability rollouts padded to the largest count over the ranks.
    collective_generation: bool = False


@dataclass
class Sample:
    """One trainable row, with what the metrics need."""

    task_type: str
    role: str
    prompt: str
    generated: Generated
    reward: float | None
    format_error: bool = False
    valid: bool | None = None
    correct: bool | None = None
    learnability: float | None = None
    solve_rate: float | None = None
    judge_error: bool = False
    reason: str = ""
    filler: bool = False

    @property
    def group(self) -> tuple[str, str]:
        return (self.task_type, self.role)


@dataclass
class StepTimings:
    generate_s: float = 0.0
    execute_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def slot_layout(n_slots: int) -> list[tuple[str, str]]:
    """This rank's slots: `n_slots / 6` per (task type, role), types in step order."""
    if n_slots <= 0 or n_slots % 6:
        raise ValueError(f"the slots per rank must be a positive multiple of 6, got {n_slots}")
    per = n_slots // 6
    return [(t, r) for t in TASK_TYPES for r in ROLES for _ in range(per)]


def solver_prompt(task: Task) -> str:
    """The (unwrapped) solver prompt for a task."""
    if task.task_type == "deduction":
        return solve_deduction_prompt(task.program, task.inputs[0])
    if task.task_type == "abduction":
        return solve_abduction_prompt(task.program, task.outputs[0])
    return solve_induction_prompt(task.shown_pairs(), task.message)


def _outcome(verdict: Verdict) -> SolveOutcome:
    return {
        Verdict.CORRECT: SolveOutcome.CORRECT,
        Verdict.WRONG: SolveOutcome.WRONG,
        Verdict.JUDGE_ERROR: SolveOutcome.JUDGE_ERROR,
    }[verdict]


class SelfPlay:
    """Runs self-play steps (and, through `azr_trainer.seeding`, seeding) for one rank."""

    def __init__(
        self,
        *,
        judge: TaskJudge,
        store: TaskStore,
        generator: Generator,
        call: Caller,
        settings: StepSettings,
        ranks: Ranks | None = None,
    ) -> None:
        self.judge = judge
        self.store = store
        self.gen = generator
        self._call = call
        self.s = settings
        self.ranks: Ranks = ranks or LocalRanks()
        self.parser = PARSERS[settings.parsing]
        self.timings = StepTimings()

    # ---- plumbing -------------------------------------------------------------------------

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Drive one async service call to completion (timed as execution)."""
        start = time.perf_counter()
        try:
            return self._call(fn, *args)  # type: ignore[no-any-return]
        finally:
            self.timings.execute_s += time.perf_counter() - start

    def _generate(self, prompts: Sequence[str], *, learnability: bool = False) -> list[Generated]:
        if not prompts:
            return []
        start = time.perf_counter()
        try:
            wrapped = [r1_wrap(p, self.s.template) for p in prompts]
            return self.gen.generate(wrapped, learnability=learnability)
        finally:
            self.timings.generate_s += time.perf_counter() - start

    def _fits(self, prompt: str) -> bool:
        return self.gen.count_tokens(r1_wrap(prompt, self.s.template)) <= self.s.max_prompt_tokens

    def _rng(self, step: int, *parts: object) -> random.Random:
        rank = self.ranks.rank
        return random.Random(f"{self.s.seed}:{step}:{rank}:" + ":".join(map(str, parts)))

    async def _sample(
        self, task_type: str, n: int, strategy: SampleStrategy, step: int, seed: int
    ) -> list[Task]:
        if n <= 0:
            return []
        return await self.store.sample(task_type, n, strategy=strategy, step=step, seed=seed)

    # ---- proposer prompts -----------------------------------------------------------------

    def _io_proposer_prompts(self, task_type: str, n: int, step: int) -> list[str]:
        rng = self._rng(step, task_type, "refs")

        async def refs() -> list[list[Task]]:
            return list(
                await asyncio.gather(
                    *(
                        self._sample(
                            task_type, self.s.n_references, "uniform", step, rng.randrange(2**31)
                        )
                        for _ in range(n)
                    )
                )
            )

        prompts = []
        for tasks in self.run(refs):
            snippets = [Snippet(t.program, t.inputs[0], t.outputs[0]) for t in tasks]
            prompt = propose_io_prompt(task_type, snippets, banned_words=self.s.banned_words)
            while snippets and not self._fits(prompt):  # drop references until it fits
                snippets.pop()
                prompt = propose_io_prompt(task_type, snippets, banned_words=self.s.banned_words)
            prompts.append(prompt)
        return prompts

    def _induction_programs(self, n: int, step: int) -> list[str]:
        rng = self._rng(step, "induction", "programs")

        async def pool() -> list[Task]:
            a = await self._sample("abduction", n, "uniform", step, rng.randrange(2**31))
            d = await self._sample("deduction", n, "uniform", step, rng.randrange(2**31))
            return a + d

        candidates = self.run(pool)
        if not candidates:
            raise RuntimeError("the abduction and deduction buffers are empty: seed them first")
        return [rng.choice(candidates).program for _ in range(n)]

    # ---- the step -------------------------------------------------------------------------

    def propose(
        self, task_type: str, n: int, step: int, *, score: bool = True
    ) -> tuple[list[Sample], list[Task]]:
        """Generate, validate and (with `score`) score `n` proposals by their learnability;
        returns the samples and the valid tasks. Seeding does not score: no rollouts."""
        if task_type == "induction":
            programs = self._induction_programs(n, step)
            prompts = [propose_induction_prompt(p, self.s.n_induction_inputs) for p in programs]
        else:
            programs = []
            prompts = self._io_proposer_prompts(task_type, n, step)
        gens = self._generate(prompts)
        samples = [
            Sample(task_type, "propose", p, g, reward=None)
            for p, g in zip(prompts, gens, strict=True)
        ]
        candidates = self._check_proposals(task_type, samples, programs, step)
        if score:
            self._score_learnability(samples, candidates)
        valid = [task for _, task in candidates]
        return samples, valid

    def _check_proposals(
        self, task_type: str, samples: list[Sample], programs: list[str], step: int
    ) -> list[tuple[int, Task]]:
        parsed: list[tuple[int, str, tuple[str, ...], str]] = []
        for i, sample in enumerate(samples):
            if task_type == "induction":
                got_i = self.parser.induction_proposal(
                    sample.generated.text, self.s.n_induction_inputs
                )
                if isinstance(got_i, FormatError):
                    sample.format_error, sample.reason = True, got_i.reason
                    continue
                parsed.append((i, programs[i], got_i.inputs, got_i.message))
            else:
                got = self.parser.io_proposal(sample.generated.text)
                if isinstance(got, FormatError):
                    sample.format_error, sample.reason = True, got.reason
                    continue
                parsed.append((i, got.program, (got.input,), ""))

        proposals = [Proposal(task_type, p, ins, msg) for _, p, ins, msg in parsed]
        checks = self.run(self.judge.check, proposals) if proposals else []
        if len(checks) != len(proposals):
            raise RuntimeError("the judge returned a wrong number of checks")
        candidates: list[tuple[int, Task]] = []
        for (i, program, inputs, message), check in zip(parsed, checks, strict=True):
            sample = samples[i]
            sample.valid, sample.reason = check.valid, check.reason
            sample.judge_error = check.judge_error
            if check.valid:
                task = Task(task_type, program, inputs, check.outputs, message=message, step=step)
                candidates.append((i, task))
        return candidates

    def _score_learnability(
        self, samples: list[Sample], candidates: list[tuple[int, Task]]
    ) -> None:
        k = self.s.n_learnability
        prompts = [solver_prompt(task) for _, task in candidates for _ in range(k)]
        fits = [self._fits(p) for p in prompts]
        todo = [p for p, ok in zip(prompts, fits, strict=True) if ok]
        # Equal counts only where the backend needs them, and only up to the largest count.
        target = self.ranks.max(len(todo)) if self.s.collective_generation else len(todo)
        filler = todo[:1] or [solve_deduction_prompt(ZERO_PROGRAM, ZERO_INPUT)]
        padded = todo + [filler[0]] * (target - len(todo))
        gens = iter(self._generate(padded, learnability=True))
        answers: list[tuple[Task, str | None]] = []
        for (_, task), ok in zip([c for c in candidates for _ in range(k)], fits, strict=True):
            if not ok:
                answers.append((task, None))  # too long for the model: counts as unsolved
                continue
            got = self.parser.solver_answer(next(gens).text, task.task_type)
            answers.append((task, None if isinstance(got, FormatError) else got))
        verdicts = self._verify_many(answers)
        for j, (i, _) in enumerate(candidates):
            rate = solve_rate([_outcome(v) for v in verdicts[j * k : (j + 1) * k]])
            samples[i].solve_rate = rate
            samples[i].learnability = (
                None if rate is None else proposer_reward(format_ok=True, valid=True, rate=rate)
            )
        for sample in samples:
            if sample.judge_error:  # the executor failed on the proposal: no verdict, left out
                sample.reward = None
                continue
            sample.reward = proposer_reward(
                format_ok=not sample.format_error,
                valid=bool(sample.valid),
                rate=sample.solve_rate if sample.valid else None,
                extreme=self.s.extreme_reward,
            )
            if sample.valid and sample.solve_rate is None:
                sample.judge_error = True

    def _verify_many(self, answers: list[tuple[Task, str | None]]) -> list[Verdict]:
        """Verdicts for (task, answer) pairs; a missing answer (format error) is WRONG.

        Answers are grouped per task and de-duplicated, so identical answers run once.
        """
        items: list[tuple[Task, list[str]]] = []
        index: dict[int, int] = {}
        for task, answer in answers:
            if answer is None:
                continue
            if id(task) not in index:
                index[id(task)] = len(items)
                items.append((task, []))
            bucket = items[index[id(task)]][1]
            if answer not in bucket:
                bucket.append(answer)
        results = self.run(self.judge.verify, items) if items else []
        table = {
            (id(task), answer): verdict
            for (task, bucket), verdicts in zip(items, results, strict=True)
            for answer, verdict in zip(bucket, verdicts, strict=True)
        }
        return [
            Verdict.WRONG if answer is None else table[(id(task), answer)]
            for task, answer in answers
        ]

    def solve(self, task_type: str, tasks: list[Task], n: int) -> list[Sample]:
        """Solve `n` slots from `tasks` (cycled when fewer); trained samples with rewards."""
        usable = [t for t in tasks if self._fits(solver_prompt(t))]
        if not usable:
            logger.warning("no %s task fits the prompt budget; %d idle solver slots", task_type, n)
            empty = self.gen.filler()
            return [
                Sample(task_type, "solve", "", empty, reward=None, filler=True) for _ in range(n)
            ]
        chosen = [usable[i % len(usable)] for i in range(n)]
        prompts = [solver_prompt(t) for t in chosen]
        gens = self._generate(prompts)
        samples = []
        answers: list[tuple[Task, str | None]] = []
        for task, prompt, gen in zip(chosen, prompts, gens, strict=True):
            got = self.parser.solver_answer(gen.text, task_type)
            sample = Sample(task_type, "solve", prompt, gen, reward=None)
            if isinstance(got, FormatError):
                sample.format_error, sample.reason = True, got.reason
                answers.append((task, None))
            else:
                answers.append((task, got))
            samples.append(sample)
        verdicts = self._verify_many([(t, a) for t, a in answers])
        for sample, (_, answer), verdict in zip(samples, answers, verdicts, strict=True):
            if answer is None:
                sample.reward = solver_reward(SolveOutcome.FORMAT_ERROR)
                continue
            sample.correct = verdict is Verdict.CORRECT
            sample.judge_error = verdict is Verdict.JUDGE_ERROR
            sample.reward = solver_reward(_outcome(verdict))
        return samples

    def solver_tasks(self, task_type: str, n: int, step: int) -> list[Task]:
        """This rank's `n` solver tasks (a collective: every rank calls it).

        Rank 0 draws once for the global batch (`n` x world tasks with the solve strategy, at
        `step`), keeps those whose prompt fits the budget and shares them; rank r takes the r-th
        slice. The ranks' tasks are disjoint when the buffer holds enough, and every rank gets
        none (and so generates nothing) exactly when no drawn task fits.
        """
        drawn: list[Task] | None = None
        if self.ranks.rank == 0:
            seed = self._rng(step, task_type, "solve").randrange(2**31)
            strategy = self.s.solve_strategy
            total = n * self.ranks.world
            tasks = self.run(self._sample, task_type, total, strategy, step, seed)
            drawn = [t for t in tasks if self._fits(solver_prompt(t))]
        usable = self.ranks.broadcast(drawn) or []
        if not usable:
            return []
        start = self.ranks.rank * n
        return [usable[(start + i) % len(usable)] for i in range(n)]

    def step(self, n_slots: int, step: int) -> list[Sample]:
        """One self-play step on this rank; samples in `slot_layout(n_slots)` order."""
        self.timings = StepTimings()
        per = len(slot_layout(n_slots)) // 6
        lagged: dict[str, list[Task]] = {}
        if self.s.one_step_lag:
            lagged = {t: self.solver_tasks(t, per, step - 1) for t in TASK_TYPES}
        samples: list[Sample] = []
        for task_type in TASK_TYPES:
            proposals, valid = self.propose(task_type, per, step)
            if valid:
                self.run(self.store.insert, valid)
            self.ranks.barrier()  # every rank's proposals are in the buffer before the draw
            tasks = lagged.get(task_type)
            if tasks is None:
                tasks = self.solver_tasks(task_type, per, step)
            samples += proposals + self.solve(task_type, tasks, per)
        return samples
