"""Seeding the task buffer before the first step: from seed files, then from the model.

    sizes = seed_buffer(selfplay, target=256, batch=64, max_rounds=50, files=["seeds.jsonl"])

A fresh buffer (some type empty; a resumed run keeps its buffer) first takes the seed files,
every line checked by the executor (the outputs stored are the executor's, not the file's), then
the zero triplet for each type still empty. Then, while a type holds fewer than `target` tasks,
each round asks the model for `batch` proposals per type per rank, validates them and inserts
the new ones: as in the reference (azr-reference.md 2.2) there are no learnability rollouts, and
deduction and abduction share one seed set (a valid io triplet seeds both buffers). Rounds stop
after `max_rounds` even if short: a random model rarely proposes a valid task, and the zero
triplet alone is a usable buffer. Rank 0 deduplicates and inserts; the others wait.

Seed files are JSON Lines, one task a line, in this project's form or the reference's released
one (`data/*_seed_io.jsonl`, `data/*_code_f_seed_io.jsonl`):

    {"program": "def f(a):\\n    return a", "input": "1", "output": "1"}          # io
    {"program": ..., "inputs": [...], "outputs": [...], "message": "..."}         # induction
    {"snippet": ..., "input": ..., "output": ..., "imports": ["import re"], ...}   # reference io
    {"snippet": ..., "inputs": [...], "outputs": [...], "message": ..., "imports": [...]}
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from azr_trainer.selfplay import SelfPlay
from azr_trainer.tasks import TASK_TYPES, Proposal, Task, zero_tasks

__all__ = ["IO_SEED_TYPES", "read_seed_file", "seed_buffer"]

logger = logging.getLogger(__name__)

IO_SEED_TYPES = ("deduction", "abduction")  # one seed set for both (the reference's)
Key = tuple[str, str, tuple[str, ...]]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _line_proposal(doc: Any) -> Proposal:
    if not isinstance(doc, dict):
        raise ValueError("a line must hold a JSON object")
    program = _text(doc.get("program", doc.get("snippet")), '"program" (or "snippet")')
    imports = doc.get("imports") or []
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ValueError('"imports" must be a list of strings')
    missing = [line for line in imports if line not in program]
    if missing:  # the reference stores imports apart and prepends them when it runs a program
        program = "\n".join(missing) + "\n" + program
    if "inputs" in doc:
        inputs = doc["inputs"]
        if not isinstance(inputs, list) or len(inputs) < 2:
            raise ValueError('"inputs" must be a list of at least 2 inputs')
        message = _text(doc.get("message"), '"message"')
        ins = tuple(_text(i, "every input") for i in inputs)
        return Proposal("induction", program, ins, message)
    return Proposal("deduction", program, (_text(doc.get("input"), '"input"'),))


def read_seed_file(path: str | Path) -> list[tuple[Proposal, tuple[str, ...]]]:
    """The seeds of one file, as (proposal, the file's outputs); io seeds are `deduction`."""
    seeds = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            proposal = _line_proposal(doc)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{path}:{number}: {exc}") from None
        outputs = doc.get("outputs", [doc.get("output")])
        seeds.append((proposal, tuple(str(o) for o in outputs if o is not None)))
    return seeds


def _task(proposal: Proposal, outputs: tuple[str, ...]) -> Task:
    return Task(
        proposal.task_type,
        proposal.program,
        proposal.inputs,
        outputs,
        message=proposal.message,
        step=0,
    )


def _key(task: Task) -> Key:
    return (task.task_type, task.program, task.inputs)


def _expand(task: Task) -> list[Task]:
    if task.task_type in IO_SEED_TYPES:  # the shared io seed set
        return [replace(task, task_type=t) for t in IO_SEED_TYPES]
    return [task]


def _import_files(sp: SelfPlay, files: Sequence[str | Path], target: int) -> list[Task]:
    seeds = [seed for path in files for seed in read_seed_file(path)]
    if not seeds:
        return []
    checks = sp.run(sp.judge.check, [p for p, _ in seeds])
    tasks: list[Task] = []
    rejected: Counter[str] = Counter()
    differ = 0
    for (proposal, outputs), check in zip(seeds, checks, strict=True):
        if not check.valid:
            rejected[check.reason or "invalid"] += 1
            continue
        differ += bool(outputs) and outputs != check.outputs
        tasks += _expand(_task(proposal, check.outputs))
    logger.info(
        "seed files: %d of %d seeds valid (%d with outputs other than the file's)%s",
        len(seeds) - sum(rejected.values()),
        len(seeds),
        differ,
        f"; rejected: {dict(rejected.most_common(5))}" if rejected else "",
    )
    return tasks


def _zero(sp: SelfPlay, sizes: dict[str, int]) -> list[Task]:
    zero = [Proposal(*z) for z in zero_tasks() if sizes.get(z[0], 0) == 0]
    checks = sp.run(sp.judge.check, zero) if zero else []
    tasks = []
    for proposal, check in zip(zero, checks, strict=True):
        if not check.valid:
            raise RuntimeError(f"the executor rejected the zero triplet: {check.reason}")
        tasks.append(_task(proposal, check.outputs))
    return tasks


def _insert_new(
    sp: SelfPlay, tasks: Sequence[Task], sizes: dict[str, int], seen: set[Key], target: int
) -> None:
    """Insert the tasks not seen yet, up to `target` per type (rank 0)."""
    fresh: list[Task] = []
    added: Counter[str] = Counter()
    for task in tasks:
        if _key(task) not in seen and sizes.get(task.task_type, 0) + added[task.task_type] < target:
            seen.add(_key(task))
            fresh.append(task)
            added[task.task_type] += 1
    if fresh:
        sp.run(sp.store.insert, fresh)


def seed_buffer(
    sp: SelfPlay,
    target: int,
    *,
    batch: int,
    max_rounds: int,
    files: Sequence[str | Path] = (),
) -> dict[str, int]:
    """Grow the buffer until every type holds `target` tasks (see the module docstring);
    returns the buffer sizes. A collective: every rank calls it."""
    ranks, leader = sp.ranks, sp.ranks.rank == 0
    seen: set[Key] = set()
    sizes = sp.run(sp.store.sizes) if leader else {}
    if ranks.broadcast(any(sizes.get(t, 0) == 0 for t in TASK_TYPES)):
        if leader:
            _insert_new(sp, _import_files(sp, files, target), sizes, seen, target)
            sizes = sp.run(sp.store.sizes)
            _insert_new(sp, _zero(sp, sizes), sizes, seen, max(1, target))
        ranks.barrier()
    for rnd in range(max_rounds):
        sizes = sp.run(sp.store.sizes) if leader else {}
        if not ranks.broadcast(any(sizes.get(t, 0) < target for t in TASK_TYPES)):
            break
        for task_type in TASK_TYPES:
            _, valid = sp.propose(task_type, batch, step=0, score=False)
            everyone = [t for part in ranks.gather(valid) for task in part for t in _expand(task)]
            if leader:
                _insert_new(sp, everyone, sp.run(sp.store.sizes), seen, target)
            ranks.barrier()
        if leader:
            logger.info("seeding round %d: sizes %s", rnd + 1, sp.run(sp.store.sizes))
    sizes = sp.run(sp.store.sizes)
    if any(sizes.get(t, 0) < target for t in TASK_TYPES):
        logger.warning("seeding stopped short of %d tasks per type: %s", target, sizes)
    return sizes
