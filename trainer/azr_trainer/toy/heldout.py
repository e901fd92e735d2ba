"""The fixed held-out set of the toy world, and the measurement of a model on it.

The set is drawn from the grammar with its own seed (`HELDOUT_SEED`), so it is the same on
every machine and for every run, and the warm start never trains on its programs. A model is
measured by sampling answers at temperature 1.0 (as self-play does) and checking each one with
the oracle: solver accuracy per task type, and the rate of valid proposals per task type.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from azr_trainer import parsing, prompts
from azr_trainer.tasks import Check, Proposal, Task, TaskJudge, Verdict
from azr_trainer.toy.grammar import World
from azr_trainer.toy.oracle import Oracle
from azr_trainer.toy.tasks import (
    InductionTask,
    Triplet,
    make_induction_tasks,
    make_triplets,
    task_key,
)
from azr_trainer.toy.texts import induction_solver_prompt, io_solver_prompt, snippet

__all__ = ["HELDOUT_SEED", "HeldoutSet", "evaluate", "make_heldout", "probe_for"]

logger = logging.getLogger(__name__)

Caller = Callable[[Callable[[], Awaitable[Any]]], Any]

HELDOUT_SEED = 20_250_503


@dataclass(frozen=True)
class HeldoutSet:
    """Solver tasks per type, plus the material for proposer prompts."""

    deduction: tuple[Triplet, ...]
    abduction: tuple[Triplet, ...]
    induction: tuple[InductionTask, ...]
    references: tuple[Triplet, ...]
    n_references: int
    world: World = "default"

    def sources(self) -> set[str]:
        """Every program source in the set (the warm start excludes them)."""
        out = {t.source for t in (*self.deduction, *self.abduction, *self.references)}
        return out | {t.source for t in self.induction}

    def task_keys(self) -> set[str]:
        """The `task_key` of every task in the set (what the warm start never trains on).

        Empty in the tiny world: it holds 27 deduction and abduction tasks (3 programs on 1..9)
        and 3 induction programs, so nothing could be kept out. There the set measures solving
        *within* the world, which is what self-play must improve.
        """
        if self.world == "tiny":
            return set()
        out = {task_key(t.source, t.input) for t in (*self.deduction, *self.abduction)}
        out |= {task_key(t.source, t.input) for t in self.references}
        return out | {task_key(t.source) for t in self.induction}


def make_heldout(
    oracle: Oracle,
    *,
    n_per_type: int = 32,
    n_inputs: int = 6,
    n_references: int = 2,
    max_steps: int = 1,
    world: World = "default",
) -> HeldoutSet:
    """The held-out set: the same for the same arguments, on any machine.

    `max_steps` and `world` are the warm start's (`CorpusSpec.max_steps`, `CorpusSpec.world`).
    """
    rng = random.Random(HELDOUT_SEED)
    io = make_triplets(
        rng,
        2 * n_per_type + 4 * n_references,
        oracle,
        max_steps=max_steps,
        world=world,
        distinct=world == "default",  # the tiny world holds 27 triplets: tasks repeat
    )
    ind = make_induction_tasks(
        rng, n_per_type, oracle, n_inputs=n_inputs, max_steps=min(max_steps, 2), world=world
    )
    return HeldoutSet(
        deduction=tuple(io[:n_per_type]),
        abduction=tuple(io[n_per_type : 2 * n_per_type]),
        induction=tuple(ind),
        references=tuple(io[2 * n_per_type :]),
        n_references=n_references,
        world=world,
    )


def _sample(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float,
    batch_size: int = 64,
) -> list[str]:
    import torch

    out: list[str] = []
    model.eval()
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        enc = tokenizer(chunk, return_tensors="pt", padding=True)
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new = gen[:, enc["input_ids"].shape[1] :]
        out += tokenizer.batch_decode(new, skip_special_tokens=True)
    return out


def _as_task(task_type: str, t: Triplet | InductionTask) -> Task:
    if isinstance(t, InductionTask):
        return Task("induction", t.source, t.inputs, t.outputs, message=t.message)
    return Task(task_type, t.source, (t.input,), (t.output,))


def _check_solutions(
    task_type: str,
    tasks: Sequence[Triplet | InductionTask],
    answers: list[str],
    judge: TaskJudge,
    call: Caller,
) -> list[bool]:
    """One verdict per answer; `answers` holds each task's samples in a row."""
    k = len(answers) // len(tasks)
    items: list[tuple[Task, list[str]]] = []
    owners: list[list[int]] = []
    for n, t in enumerate(tasks):
        parsed = [
            (m, parsing.parse_solver_answer(answers[m], task_type)) for m in range(n * k, n * k + k)
        ]
        ok = [(m, p) for m, p in parsed if isinstance(p, str)]
        if ok:
            items.append((_as_task(task_type, t), [p for _, p in ok]))
            owners.append([m for m, _ in ok])
    verdicts = [False] * len(answers)
    if not items:
        return verdicts

    async def verify() -> list[list[Verdict]]:
        return await judge.verify(items)

    for ms, row in zip(owners, call(verify), strict=True):
        if any(v is Verdict.JUDGE_ERROR for v in row):
            raise RuntimeError("the executor failed to verify held-out answers (judge_error)")
        for m, v in zip(ms, row, strict=True):
            verdicts[m] = v is Verdict.CORRECT
    return verdicts


def _check_proposals(
    task_type: str,
    completions: list[str],
    programs: Sequence[str],
    n_inputs: int,
    judge: TaskJudge,
    call: Caller,
) -> list[bool]:
    """Valid = parses, and the executor validates it (every call returns, deterministically)."""
    proposals: list[Proposal] = []
    owners: list[int] = []
    for n, c in enumerate(completions):
        if task_type == "induction":
            p = parsing.parse_induction_proposal(c, n_inputs)
            if isinstance(p, parsing.InductionProposal):
                proposals.append(Proposal("induction", programs[n], p.inputs, p.message))
                owners.append(n)
        else:
            q = parsing.parse_io_proposal(c)
            if isinstance(q, parsing.IOProposal):
                proposals.append(Proposal(task_type, q.program, (q.input,)))
                owners.append(n)
    valid = [False] * len(completions)
    if not proposals:
        return valid

    async def check() -> list[Check]:
        return await judge.check(proposals)

    for n, c in zip(owners, call(check), strict=True):
        if c.judge_error:
            raise RuntimeError("the executor failed to validate held-out proposals (judge_error)")
        valid[n] = c.valid
    return valid


def evaluate(
    model: Any,
    tokenizer: Any,
    heldout: HeldoutSet,
    judge: TaskJudge,
    call: Caller,
    *,
    n_samples: int = 4,
    n_proposals: int = 32,
    n_inputs: int = 6,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 160,
) -> dict[str, float]:
    """Solver accuracy per type (`solve/<type>`) and valid-proposal rate (`propose/<type>`).

    Every verdict comes from `judge` (the executor), driven from this synchronous code by
    `call` (`asyncio.run`-like: it takes a coroutine function and returns its result).
    """
    import torch

    torch.manual_seed(seed)
    metrics: dict[str, float] = {}
    for task_type in prompts.TASK_TYPES:
        tasks: Sequence[Triplet | InductionTask] = getattr(heldout, task_type)
        texts = [
            induction_solver_prompt(t)
            if isinstance(t, InductionTask)
            else io_solver_prompt(task_type, t)
            for t in tasks
            for _ in range(n_samples)
        ]
        answers = _sample(
            model, tokenizer, texts, max_new_tokens=max_new_tokens, temperature=temperature
        )
        verdicts = _check_solutions(task_type, tasks, answers, judge, call)
        metrics[f"solve/{task_type}"] = sum(verdicts) / len(verdicts)
    rng = random.Random(seed)
    refs = list(heldout.references)
    for task_type in prompts.TASK_TYPES:
        if task_type == "induction":
            programs = [t.source for t in heldout.induction]
            chosen = [programs[n % len(programs)] for n in range(n_proposals)]
            texts = [prompts.r1_wrap(prompts.propose_induction_prompt(p, n_inputs)) for p in chosen]
        else:
            chosen = []
            texts = []
            for _ in range(n_proposals):
                shown = rng.sample(refs, heldout.n_references)
                texts.append(
                    prompts.r1_wrap(
                        prompts.propose_io_prompt(task_type, [snippet(r) for r in shown])
                    )
                )
                chosen.append("")
        completions = _sample(
            model, tokenizer, texts, max_new_tokens=max_new_tokens, temperature=temperature
        )
        valid = _check_proposals(task_type, completions, chosen, n_inputs, judge, call)
        metrics[f"propose/{task_type}"] = sum(valid) / len(valid)
    solve = [metrics[f"solve/{t}"] for t in prompts.TASK_TYPES]
    propose = [metrics[f"propose/{t}"] for t in prompts.TASK_TYPES]
    metrics["solve/mean"] = sum(solve) / len(solve)
    metrics["propose/mean"] = sum(propose) / len(propose)
    logger.info("held-out: %s", " ".join(f"{k}={v:.3f}" for k, v in sorted(metrics.items())))
    return metrics


def probe_for(
    model_name: str, judge: TaskJudge, call: Caller, *, seed: int = 0, n_samples: int = 4
) -> Callable[[Any, Any], dict[str, float]] | None:
    """`measure(model, tokenizer)` on the held-out set of a built-in toy warm start (what
    `azr run` prints before and after self-play); None for any other model."""
    from azr_trainer.models import TOY_WARMSTART, TOY_WARMSTART_TINY
    from azr_trainer.toy.oracle import JudgeOracle
    from azr_trainer.toy.warmstart import WarmstartConfig

    if model_name not in (TOY_WARMSTART, TOY_WARMSTART_TINY):
        return None
    corpus = (
        WarmstartConfig.tiny() if model_name == TOY_WARMSTART_TINY else WarmstartConfig()
    ).corpus
    heldout = make_heldout(
        JudgeOracle(judge, call),
        n_inputs=corpus.n_inputs,
        max_steps=corpus.max_steps,
        world=corpus.world,
    )

    def measure(model: Any, tokenizer: Any) -> dict[str, float]:
        import torch

        with torch.random.fork_rng():  # training draws the same numbers with or without it
            return evaluate(
                model, tokenizer, heldout, judge, call,
                n_samples=n_samples, n_inputs=corpus.n_inputs, seed=seed,
            )  # fmt: skip

    return measure
