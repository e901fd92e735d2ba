"""Sampling k distinct tasks of one pool, fast with millions of tasks.

Each task of a (run, type) pool has a dense sequence number `seq`. Uniform sampling draws random,
distinct `seq` values in the pool's [min, max] range and looks them up through the
(run, type, seq) index: a handful of index probes, never a sort of the pool by random(). Gaps
(evicted or deleted tasks, a step filter, the exclude list) only make some draws miss; the misses are
redrawn, and a pool too sparse for that is read whole instead, so the result is always a uniform
sample without replacement of the matching tasks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from azr_proto.buffer import SampleRequest, SampleStrategy, Task, TaskSource
from azr_proto.tasks import TaskType
from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from azr_buffer.tables import PoolRow, TaskRow

__all__ = ["draw_distinct", "sample_tasks"]

SMALL_POOL = 2048  # at most this many matching tasks: read their ids and sample in Python
MIN_DENSITY = 0.02  # below this hit rate, redrawing costs more than reading the ids
ROUNDS = 6
MAX_DRAWS = 4096


def draw_distinct(rng: random.Random, lo: int, hi: int, n: int, seen: set[int]) -> list[int]:
    """Up to n distinct integers of [lo, hi] not in `seen`, in random order; adds them to `seen`."""
    free = hi - lo + 1 - len(seen)
    n = min(n, max(free, 0))
    out: list[int] = []
    if n > free // 2:  # dense request: enumerate instead of rejection
        rest = [v for v in range(lo, hi + 1) if v not in seen]
        out = rng.sample(rest, n)
    else:
        while len(out) < n:
            v = rng.randint(lo, hi)
            if v not in seen:
                seen.add(v)
                out.append(v)
        return out
    seen.update(out)
    return out


def sample_tasks(
    *, session: Session, run_id: int, req: SampleRequest, rng: random.Random
) -> list[Task]:
    """The sampled tasks, in sampling order."""
    type_ = str(req.type)
    exclude = set(req.exclude)
    if req.strategy is SampleStrategy.UNIFORM:
        rows = _sample(session, run_id, type_, req.k, exclude, None, rng)
    elif req.strategy is SampleStrategy.RECENT:
        assert req.step is not None  # SampleRequest checks it
        steps = (max(req.step - req.window + 1, 0), req.step)
        rows = _sample(session, run_id, type_, req.k, exclude, steps, rng)
    else:
        assert req.step is not None
        rows = _sample(session, run_id, type_, req.k, exclude, (req.step, req.step), rng)
        if len(rows) < req.k:
            taken = exclude | {r.id for r in rows}
            rows += _sample(session, run_id, type_, req.k - len(rows), taken, None, rng)
    return [_to_task(r) for r in rows]


_TASK_COLUMNS = (
    TaskRow.id,
    TaskRow.seq,
    TaskRow.type,
    TaskRow.program,
    TaskRow.inputs,
    TaskRow.outputs,
    TaskRow.message,
    TaskRow.step,
    TaskRow.source,
    TaskRow.meta,
    TaskRow.content_hash,
    TaskRow.n_attempts,
    TaskRow.n_solved,
    TaskRow.created_at,
)


def _to_task(r: Row[Any]) -> Task:
    created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
    return Task(
        id=r.id,
        type=TaskType(r.type),
        program=r.program,
        inputs=r.inputs,
        outputs=r.outputs,
        message=r.message,
        step=r.step,
        source=TaskSource(r.source),
        metadata=r.meta,
        content_hash=r.content_hash,
        n_attempts=r.n_attempts,
        n_solved=r.n_solved,
        solve_rate=r.n_solved / r.n_attempts if r.n_attempts else None,
        created_at=created,
    )


def _fetch(session: Session, ids: Sequence[int]) -> list[Row[Any]]:
    if not ids:
        return []
    rows = {r.id: r for r in session.execute(select(*_TASK_COLUMNS).where(TaskRow.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def _sample(
    session: Session,
    run_id: int,
    type_: str,
    k: int,
    exclude: set[int],
    steps: tuple[int, int] | None,
    rng: random.Random,
) -> list[Row[Any]]:
    where: list[ColumnElement[bool]] = [TaskRow.run_id == run_id, TaskRow.type == type_]
    in_pool = (TaskRow.run_id == run_id, TaskRow.type == type_)
    # One round trip for the pool size and its seq range. min() and max() are separate
    # subqueries: SQLite answers a lone min()/max() from the index, but scans for both at once.
    lo_q = select(func.min(TaskRow.seq)).where(*in_pool).scalar_subquery()
    hi_q = select(func.max(TaskRow.seq)).where(*in_pool).scalar_subquery()
    if steps is not None:
        where += [TaskRow.step >= steps[0], TaskRow.step <= steps[1]]
        n_q = select(func.count()).select_from(TaskRow).where(*where).scalar_subquery()
        n, lo, hi = session.execute(select(n_q, lo_q, hi_q)).one()
    else:
        n_q = (
            select(PoolRow.n_tasks)
            .where(PoolRow.run_id == run_id, PoolRow.type == type_)
            .scalar_subquery()
        )
        n, lo, hi = session.execute(select(n_q, lo_q, hi_q)).one()
    if not n or lo is None:
        return []
    if n > SMALL_POOL and n / (hi - lo + 1) >= MIN_DENSITY:
        chosen = _draw_by_seq(session, where, k, exclude, lo, hi, n / (hi - lo + 1), rng)
        if chosen is not None:
            return chosen
    ids = [i for i in session.scalars(select(TaskRow.id).where(*where)) if i not in exclude]
    return _fetch(session, rng.sample(ids, min(k, len(ids))))


def _draw_by_seq(
    session: Session,
    where: Sequence[ColumnElement[bool]],
    k: int,
    exclude: set[int],
    lo: int,
    hi: int,
    density: float,
    rng: random.Random,
) -> list[Row[Any]] | None:
    """Rejection sampling over seq; None when too many draws missed (the caller reads all ids)."""
    chosen: list[Row[Any]] = []
    taken: set[int] = set()
    seen: set[int] = set()
    for _ in range(ROUNDS):
        need = k - len(chosen)
        draws = min(MAX_DRAWS, math.ceil((1.25 * need + 2) / density))
        seqs = draw_distinct(rng, lo, hi, draws, seen)
        if not seqs:
            break
        found: dict[int, list[Row[Any]]] = {}
        for row in session.execute(select(*_TASK_COLUMNS).where(*where, TaskRow.seq.in_(seqs))):
            found.setdefault(row.seq, []).append(row)
        for seq in seqs:  # the draw order is the random order
            for row in found.get(seq, ()):
                if row.id not in exclude and row.id not in taken:
                    taken.add(row.id)
                    chosen.append(row)
        if len(chosen) >= k:
            return chosen[:k]
    return None
